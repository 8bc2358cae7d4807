"""Signed customer identity: genuine fresh tokens verify; forged, altered, expired, future
and replayed ones do not (replay checked on the in-process and the Redis backplane)."""

from __future__ import annotations

import pytest

from smartsupport.errors import ConfigurationError, Unauthorized
from smartsupport.identity import (
    conversation_identity,
    sign,
    verify,
    verify_once,
    workspace_secret,
)
from smartsupport.storage import open_store
from smartsupport.workspaces import WorkspaceConfig

SECRET = "northwind-identity-secret-0123456789"
NOW = 1_800_000_000


def test_a_fresh_token_gives_back_the_user_id():
    token = sign(SECRET, "cust-maria", timestamp=NOW)
    assert verify(SECRET, token, now=NOW + 10) == "cust-maria"
    assert "cust-maria" not in token.split(".")[-1]


def test_unusual_user_ids_round_trip():
    for user_id in ("ünïcödé@example.com", "a.b.c", "x" * 200):
        assert verify(SECRET, sign(SECRET, user_id, timestamp=NOW), now=NOW) == user_id


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: sign("another-secret-0123456789", "cust-maria", timestamp=NOW), "signature"),
        (
            lambda: sign(SECRET, "cust-maria", timestamp=NOW).replace(
                sign(SECRET, "cust-maria", timestamp=NOW).split(".")[2],
                sign(SECRET, "cust-li", timestamp=NOW).split(".")[2],
            ),
            "signature",
        ),
        (lambda: sign(SECRET, "cust-maria", timestamp=NOW - 301), "expired"),
        (lambda: sign(SECRET, "cust-maria", timestamp=NOW + 3600), "future"),
        (lambda: "v1.garbage", "malformed"),
        (lambda: "v2." + sign(SECRET, "cust-maria", timestamp=NOW)[3:], "malformed"),
        (lambda: "", "malformed"),
    ],
)
def test_bad_tokens_are_refused(make, reason):
    with pytest.raises(Unauthorized, match=reason):
        verify(SECRET, make(), now=NOW)


def test_a_retimed_token_fails_its_signature():
    token = sign(SECRET, "cust-maria", timestamp=NOW - 1000)
    parts = token.split(".")
    parts[1] = str(NOW)
    with pytest.raises(Unauthorized, match="signature"):
        verify(SECRET, ".".join(parts), now=NOW)


def test_short_secrets_are_a_configuration_error():
    with pytest.raises(ConfigurationError):
        sign("short", "u")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request):
    return request.getfixturevalue(f"{request.param}_url")


async def test_a_token_works_once(store_url):
    store = open_store(store_url)
    await store.connect()
    await store.migrate()
    try:
        token = sign(SECRET, "cust-maria")
        assert (await verify_once(store, SECRET, token)).user_id == "cust-maria"
        with pytest.raises(Unauthorized, match="already used"):
            await verify_once(store, SECRET, token)
        other = sign(SECRET, "cust-maria", timestamp=None)
        if other != token:  # a new signature (a second later) is a new token
            assert (await verify_once(store, SECRET, other)).user_id == "cust-maria"
    finally:
        await store.close()


def test_the_workspace_names_its_secret_variable(monkeypatch):
    workspace = WorkspaceConfig(id="w", name="W", identity_secret_env="W_IDENTITY_SECRET")
    monkeypatch.setenv("W_IDENTITY_SECRET", SECRET)
    assert workspace_secret(workspace) == SECRET.encode()
    monkeypatch.delenv("W_IDENTITY_SECRET")
    with pytest.raises(ConfigurationError, match="W_IDENTITY_SECRET"):
        workspace_secret(workspace)
    assert workspace_secret(WorkspaceConfig(id="v", name="V")) is None


def test_conversation_identity_shape():
    identity = conversation_identity("cust-maria", "vip")
    assert identity["user_id"] == "cust-maria" and identity["segment"] == "vip"
