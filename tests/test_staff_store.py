"""The staff tables through StaffStore, on SQLite and PostgreSQL: accounts, lockout
counters, TOTP replay protection and refresh-token rotation under concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from smartsupport.errors import Conflict
from smartsupport.staff.store import StaffStore
from smartsupport.storage import open_store

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request) -> str:
    # A sync fixture: pytest-asyncio cannot resolve an async fixture from an async one.
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
async def store(url):
    backend = open_store(url)
    await backend.connect()
    try:
        assert 3 in await backend.migrate()
        yield StaffStore(backend)
    finally:
        await backend.close()


async def add(store: StaffStore, email: str, workspaces: list[str], role="agent"):
    return await store.create_user(
        email=email,
        name=email.split("@")[0],
        role=role,
        workspaces=workspaces,
        password_hash="h",
        now=NOW,
    )


async def test_accounts_are_unique_by_case_insensitive_email_and_listed_per_workspace(store):
    ann = await add(store, "Ann@Example.com", ["demo", "other"])
    assert ann.email == "ann@example.com" and ann.workspaces == ["demo", "other"]
    assert (await store.get_user_by_email(" ANN@example.com")).id == ann.id
    with pytest.raises(Conflict):
        await add(store, "ann@EXAMPLE.com", ["demo"])
    await add(store, "bob@example.com", ["other"])
    await add(store, "cy@example.com", ["third"], role="admin")
    assert [u.email for u in await store.list_users(["demo"])] == ["ann@example.com"]
    assert [u.email for u in await store.list_users(["other"])] == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert await store.list_users([]) == []
    assert len(await store.list_users()) == 3


async def test_failures_lock_at_the_limit_and_a_success_clears_them(store):
    user = await add(store, "ann@example.com", ["demo"])
    until = NOW + timedelta(minutes=15)
    assert [await store.record_failure(user.id, NOW, 3, until) for _ in range(3)] == [
        False,
        False,
        True,
    ]
    locked = await store.get_user(user.id)
    assert locked.locked_until == until and locked.failed_logins == 0
    await store.record_failure(user.id, NOW, 3, until)
    await store.record_success(user.id, "new-hash")
    cleared = await store.get_user(user.id)
    assert cleared.failed_logins == 0 and cleared.locked_until is None
    assert cleared.password_hash == "new-hash"


async def test_a_totp_step_is_spent_once_even_by_concurrent_logins(store):
    user = await add(store, "ann@example.com", ["demo"])
    results = await asyncio.gather(*(store.spend_totp_step(user.id, 1000) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert not await store.spend_totp_step(user.id, 999)  # an older step: too late
    assert await store.spend_totp_step(user.id, 1001)


async def test_refresh_tokens_rotate_once_and_reuse_revokes_the_session(store):
    user = await add(store, "ann@example.com", ["demo"])
    await store.create_session(
        user.id,
        session_id="s1",
        now=NOW,
        expires_at=NOW + timedelta(hours=12),
        refresh_hash="r0",
        client_ip="127.0.0.1",
        user_agent="test",
    )
    assert await store.rotate_refresh("s1", "r0", "r1", NOW) == "ok"
    assert await store.rotate_refresh("s2", "r1", "r2", NOW) == "unknown"  # another session
    assert await store.rotate_refresh("s1", "nope", "r2", NOW) == "unknown"
    assert (await store.get_session("s1"))["revoked_at"] is None
    assert await store.rotate_refresh("s1", "r0", "r2", NOW) == "reused"
    assert (await store.get_session("s1"))["revoked_at"] == NOW


async def test_concurrent_refreshes_with_one_token_let_exactly_one_through(store):
    user = await add(store, "ann@example.com", ["demo"])
    await store.create_session(
        user.id,
        session_id="s1",
        now=NOW,
        expires_at=NOW + timedelta(hours=12),
        refresh_hash="r0",
        client_ip=None,
        user_agent=None,
    )
    outcomes = await asyncio.gather(
        *(store.rotate_refresh("s1", "r0", f"new{i}", NOW) for i in range(4))
    )
    assert sorted(outcomes) == ["ok", "reused", "reused", "reused"]


async def test_api_keys_are_listed_per_workspace_and_revoked(store):
    key = await store.create_api_key(
        prefix="abcdef123456",
        key_hash="x" * 64,
        name="crm",
        workspace_id="demo",
        scopes=["conversations:read"],
        created_by=None,
        now=NOW,
    )
    assert key["scopes"] == ["conversations:read"] and key["revoked_at"] is None
    await store.create_api_key(
        prefix="bbbbbb123456",
        key_hash="y" * 64,
        name="other",
        workspace_id="other",
        scopes=["tickets:write"],
        created_by=None,
        now=NOW,
    )
    assert [k["name"] for k in await store.list_api_keys(["demo"])] == ["crm"]
    with pytest.raises(Conflict):
        await store.create_api_key(
            prefix="abcdef123456",
            key_hash="z" * 64,
            name="dup",
            workspace_id="demo",
            scopes=["a:read"],
            created_by=None,
            now=NOW,
        )
    await store.revoke_api_key(key["id"], NOW)
    assert (await store.get_api_key_by_prefix("abcdef123456"))["revoked_at"] == NOW
