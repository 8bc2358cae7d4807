"""API keys on the staff and admin routes (smartsupport/staff/keyauth.py): role scopes,
never above the creator's current role, read scopes for reads only, revoked and expired
keys refused, a rate limit per key shared through Redis, no CSRF token for key calls while
cookie calls still need one, and actions by a key audited as the key. SQLite and
PostgreSQL with Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from staffkit import add_staff, csrf, login, staff_app, staff_client

from smartsupport.staff import keyauth
from smartsupport.staff.keyauth import scope_role


@pytest.fixture(autouse=True)
def long_rate_window(monkeypatch):
    """Rate-limit windows are fixed and aligned (one minute); an hour keeps a window edge
    from falling inside a test and resetting a key's count halfway."""
    monkeypatch.setattr(keyauth, "WINDOW_SECONDS", 3600)


@pytest.fixture(params=["embedded", "postgres+redis"])
def backend(request) -> dict:
    if request.param == "embedded":
        return {}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
    }


@pytest.fixture
def admin(tmp_path, backend):
    app, clock = staff_app(tmp_path, demo=False, **backend)
    app.state.test_clock = clock
    with staff_client(app) as client:
        add_staff(client, "root@example.com", "admin", ["demo"])
        assert login(client, "root@example.com").status_code == 200
        yield client


def create_key(client, *scopes: str, **body) -> dict:
    response = client.post(
        "/api/v1/admin/staff/api-keys",
        json={"workspace": "demo", "scopes": list(scopes), **body},
        headers=csrf(client),
    )
    assert response.status_code == 201, response.text
    return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def without_cookies(client, method: str, url: str, key: str, **kwargs):
    saved = dict(client.cookies)
    client.cookies.clear()
    try:
        return client.request(method, url, headers=bearer(key), **kwargs)
    finally:
        for name, value in saved.items():
            client.cookies.set(name, value)


def test_scopes_map_to_roles_and_read_scopes_allow_reads_only():
    assert scope_role(["inbox:read"], "GET") == "agent"
    assert scope_role(["inbox:read"], "POST") is None
    assert scope_role(["inbox:write", "admin:read"], "GET") == "admin"
    assert scope_role(["inbox:write", "admin:read"], "POST") == "agent"
    assert scope_role(["conversations:read"], "GET") is None  # not a role scope


def test_role_scopes_open_the_matching_staff_and_admin_routes_without_csrf(admin):
    agent_key = create_key(admin, "inbox:read")["key"]
    assert without_cookies(admin, "GET", "/api/v1/inbox/queue", agent_key).status_code == 200
    assert without_cookies(admin, "GET", "/api/v1/inbox/canned", agent_key).status_code == 200
    refused = without_cookies(
        admin, "POST", "/api/v1/inbox/canned", agent_key,
        json={"shortcut": "hi", "title": "Hi", "body": "Hello!"},
    )  # fmt: skip
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "scope_required"
    assert without_cookies(admin, "GET", "/api/v1/admin/staff", agent_key).status_code == 403

    team_key = create_key(admin, "team:write")["key"]
    created = without_cookies(
        admin, "POST", "/api/v1/inbox/canned", team_key,
        json={"shortcut": "hi", "title": "Hi", "body": "Hello!"},
    )  # fmt: skip
    assert created.status_code == 201, created.text  # no X-CSRF-Token: no cookie either

    admin_key = create_key(admin, "admin:read")["key"]
    listed = without_cookies(admin, "GET", "/api/v1/admin/staff", admin_key)
    assert listed.status_code == 200 and listed.json()["staff"][0]["email"] == "root@example.com"
    audit = without_cookies(admin, "GET", "/api/v1/admin/workspaces/demo/audit", admin_key)
    assert audit.status_code == 200
    # A key of one workspace sees no other.
    other = without_cookies(admin, "GET", "/api/v1/admin/workspaces/north/audit", admin_key)
    assert other.status_code == 403


def test_cookie_calls_still_need_the_csrf_token(admin):
    body = {"shortcut": "bye", "title": "Bye", "body": "Goodbye!"}
    assert admin.post("/api/v1/inbox/canned", json=body).status_code == 403
    key = create_key(admin, "team:write")["key"]
    # A key sent alongside the session cookie: the cookie is there, so the token is needed.
    mixed = admin.post("/api/v1/inbox/canned", json=body, headers=bearer(key))
    assert mixed.status_code == 403 and mixed.json()["error"]["code"] == "csrf_failed"
    assert admin.post("/api/v1/inbox/canned", json=body, headers=csrf(admin)).status_code == 201


def test_a_key_never_exceeds_its_creators_current_role(admin):
    other_admin = add_staff(admin, "second@example.com", "admin", ["demo"])
    # The second admin makes a key with every admin scope...
    admin.cookies.clear()
    assert login(admin, "second@example.com").status_code == 200
    key = create_key(admin, "admin:write")["key"]
    assert without_cookies(admin, "GET", "/api/v1/admin/staff", key).status_code == 200
    # ...then is demoted to agent by the first admin: the key is an agent's key at once.
    admin.cookies.clear()
    assert login(admin, "root@example.com").status_code == 200
    demoted = admin.post(
        f"/api/v1/admin/staff/{other_admin}/role", json={"role": "agent"}, headers=csrf(admin)
    )
    assert demoted.status_code == 200 and demoted.json()["role"] == "agent"
    capped = without_cookies(admin, "GET", "/api/v1/admin/staff", key)
    assert capped.status_code == 403 and capped.json()["error"]["code"] == "role_required"
    assert without_cookies(admin, "GET", "/api/v1/inbox/queue", key).status_code == 200
    # Disabling the creator refuses the key altogether.
    admin.post(f"/api/v1/admin/staff/{other_admin}/disable", headers=csrf(admin))
    gone = without_cookies(admin, "GET", "/api/v1/inbox/queue", key)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "api_key_owner_disabled"


def test_a_key_cannot_make_keys_or_change_roles(admin):
    agent = add_staff(admin, "agent@example.com", "agent", ["demo"])
    key = create_key(admin, "admin:write")["key"]
    minted = without_cookies(
        admin, "POST", "/api/v1/admin/staff/api-keys", key,
        json={"workspace": "demo", "scopes": ["inbox:read"]},
    )  # fmt: skip
    assert minted.status_code == 403 and minted.json()["error"]["code"] == "session_required"
    promoted = without_cookies(
        admin, "POST", f"/api/v1/admin/staff/{agent}/role", key, json={"role": "admin"}
    )
    assert promoted.status_code == 403


def test_revoked_and_expired_keys_are_refused(admin):
    created = create_key(admin, "inbox:read", expires_in_days=1)
    assert created["expires_at"] is not None
    assert without_cookies(admin, "GET", "/api/v1/inbox/queue", created["key"]).status_code == 200
    admin.app.state.test_clock.advance(2 * 86400)
    expired = without_cookies(admin, "GET", "/api/v1/inbox/queue", created["key"])
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "api_key_expired"

    admin.cookies.clear()  # two days on, the admin's own session is over too
    assert login(admin, "root@example.com").status_code == 200
    kept = create_key(admin, "inbox:read")
    admin.delete(f"/api/v1/admin/staff/api-keys/{kept['id']}", headers=csrf(admin))
    revoked = without_cookies(admin, "GET", "/api/v1/inbox/queue", kept["key"])
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "api_key_revoked"


def test_each_key_has_its_own_rate_limit(admin):
    limited = create_key(admin, "inbox:read", rate_limit_per_minute=3)
    other = create_key(admin, "inbox:read")
    codes = [
        without_cookies(admin, "GET", "/api/v1/inbox/queue", limited["key"]).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    again = without_cookies(admin, "GET", "/api/v1/inbox/queue", limited["key"])
    assert int(again.headers["Retry-After"]) >= 1
    assert without_cookies(admin, "GET", "/api/v1/inbox/queue", other["key"]).status_code == 200


def test_the_rate_limit_is_shared_by_every_server_process(tmp_path, postgres_url, redis_url):
    """Two app instances on one database and one Redis: one count per key."""
    options = {"demo": False, "database_url": postgres_url, "redis_url": redis_url}
    first_app, _ = staff_app(tmp_path / "one", **options)
    second_app, _ = staff_app(tmp_path / "two", **options)
    with staff_client(first_app) as first, staff_client(second_app) as second:
        add_staff(first, "root@example.com", "admin", ["demo"])
        assert login(first, "root@example.com").status_code == 200
        key = create_key(first, "inbox:read", rate_limit_per_minute=2)["key"]
        first.cookies.clear()
        assert first.get("/api/v1/inbox/queue", headers=bearer(key)).status_code == 200
        assert second.get("/api/v1/inbox/queue", headers=bearer(key)).status_code == 200
        assert second.get("/api/v1/inbox/queue", headers=bearer(key)).status_code == 429
        assert first.get("/api/v1/inbox/queue", headers=bearer(key)).status_code == 429


def test_actions_by_a_key_are_audited_as_the_key(admin):
    agent = add_staff(admin, "temp@example.com", "agent", ["demo"])
    created = create_key(admin, "admin:write")
    disabled = without_cookies(
        admin, "POST", f"/api/v1/admin/staff/{agent}/disable", created["key"]
    )
    assert disabled.status_code == 200, disabled.text

    async def rows():
        return await admin.app.state.services.store.fetch(
            "SELECT actor, details FROM audit_log WHERE action = 'staff.disabled'"
        )

    [row] = admin.portal.call(rows)
    assert row["actor"] == f"api_key:{created['id']}"
    created_row = admin.portal.call(
        lambda: admin.app.state.services.store.fetch(
            "SELECT details FROM audit_log WHERE action = 'api_key.created'"
        )
    )
    details = created_row[-1]["details"]
    assert (json.loads(details) if isinstance(details, str) else details)["scopes"] == [
        "admin:write"
    ]


def test_a_command_line_key_carries_its_expiry_and_rate_limit(tmp_path):
    """``smartsupport api-keys create`` (a real process): a key with no creator is the
    operator's, capped by its scopes alone, with the expiry and limit it was given."""
    env = {**os.environ, "SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_SECRET_KEY": "k"}
    command = [sys.executable, "-m", "smartsupport", "api-keys", "create", "--workspace", "demo"]
    options = ["--scope", "admin:read", "--expires-in-days", "1", "--rate-limit-per-minute", "2"]
    created = subprocess.run(
        command + options, capture_output=True, text=True, env=env, timeout=120
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    app, clock = staff_app(tmp_path, secret_key="k")
    with staff_client(app) as client:
        codes = [client.get("/api/v1/admin/staff", headers=bearer(key)).status_code for _ in "abc"]
        assert codes == [200, 200, 429]
        clock.advance(2 * 86400)
        expired = client.get("/api/v1/admin/staff", headers=bearer(key))
        assert expired.json()["error"]["code"] == "api_key_expired"
