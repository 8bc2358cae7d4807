"""API keys: shown once, stored hashed, scoped to one workspace and to named scopes,
revocable; and the admin endpoints that manage keys and staff, per workspace."""

from __future__ import annotations

import pytest
from staffkit import PASSWORD, add_probe_routes, add_staff, csrf, login, staff_app, staff_client


@pytest.fixture(params=["embedded", "postgres+redis"])
def admin(request, tmp_path):
    options = {}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    app, _ = staff_app(tmp_path, **options)
    add_probe_routes(app)
    with staff_client(app) as client:
        add_staff(client, "admin@example.com", "admin", ["demo"])
        assert login(client, "admin@example.com").status_code == 200
        yield client


def create_key(client, **body) -> dict:
    response = client.post(
        "/api/v1/admin/staff/api-keys", json={"workspace": "demo", **body}, headers=csrf(client)
    )
    assert response.status_code == 201, response.text
    return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_key_is_shown_once_stored_hashed_and_works_only_for_its_scopes(admin):
    created = create_key(admin, name="crm", scopes=["conversations:read"])
    key = created["key"]
    assert key.startswith("sk_") and created["prefix"] == key[: len(created["prefix"])]
    listed = admin.get("/api/v1/admin/staff/api-keys").json()["api_keys"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert key not in admin.get("/api/v1/admin/staff/api-keys").text

    async def stored():
        return await admin.app.state.services.store.fetch("SELECT * FROM staff_api_keys")

    [row] = admin.portal.call(stored)
    assert key not in str(row) and len(row["key_hash"]) == 64

    admin.cookies.clear()  # server-to-server: no cookies at all
    assert admin.get("/probe/demo/conversations", headers=bearer(key)).status_code == 200
    wrong_scope = admin.post("/probe/demo/tickets", headers=bearer(key))
    assert wrong_scope.status_code == 403
    assert wrong_scope.json()["error"]["code"] == "scope_required"
    other_workspace = admin.get("/probe/other/conversations", headers=bearer(key))
    assert other_workspace.status_code == 403


def test_missing_malformed_forged_and_revoked_keys_are_refused(admin):
    created = create_key(admin, scopes=["conversations:read", "tickets:write"])
    key = created["key"]
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    for headers in ({}, bearer("sk_nope"), bearer(forged), {"Authorization": key}):
        assert admin.get("/probe/demo/conversations", headers=headers).status_code == 401
    # API-key calls are not CSRF-checked (no ambient credential), session calls are.
    assert admin.post("/probe/demo/tickets", headers=bearer(key)).status_code == 200
    revoked = admin.delete(f"/api/v1/admin/staff/api-keys/{created['id']}", headers=csrf(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    response = admin.get("/probe/demo/conversations", headers=bearer(key))
    assert response.status_code == 401 and response.json()["error"]["code"] == "api_key_revoked"


def test_key_scopes_and_workspace_are_validated(admin):
    bad_scope = admin.post(
        "/api/v1/admin/staff/api-keys",
        json={"workspace": "demo", "scopes": ["everything"]},
        headers=csrf(admin),
    )
    assert bad_scope.status_code == 422 and "everything" in bad_scope.text
    foreign = admin.post(
        "/api/v1/admin/staff/api-keys",
        json={"workspace": "other", "scopes": ["conversations:read"]},
        headers=csrf(admin),
    )
    assert foreign.status_code == 403


def test_an_admin_creates_lists_and_disables_staff_of_their_workspaces_only(admin):
    made = admin.post(
        "/api/v1/admin/staff",
        headers=csrf(admin),
        json={
            "email": "New.Agent@example.com",
            "role": "agent",
            "workspaces": ["demo"],
            "password": PASSWORD,
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "new.agent@example.com" and "password" not in made.text
    weak = admin.post(
        "/api/v1/admin/staff",
        headers=csrf(admin),
        json={
            "email": "weak@example.com",
            "role": "agent",
            "workspaces": ["demo"],
            "password": "short",
        },
    )
    assert weak.status_code == 422 and "at least 12 characters" in weak.text
    duplicate = admin.post(
        "/api/v1/admin/staff",
        headers=csrf(admin),
        json={
            "email": "new.agent@example.com",
            "role": "agent",
            "workspaces": ["demo"],
            "password": PASSWORD,
        },
    )
    assert duplicate.status_code == 409
    foreign = admin.post(
        "/api/v1/admin/staff",
        headers=csrf(admin),
        json={
            "email": "x@example.com",
            "role": "admin",
            "workspaces": ["other"],
            "password": PASSWORD,
        },
    )
    assert foreign.status_code == 403
    outsider = add_staff(admin, "outsider@example.com", "agent", ["other"])
    shared = add_staff(admin, "shared@example.com", "agent", ["demo", "other"])
    listed = admin.get("/api/v1/admin/staff").json()["staff"]
    assert {s["email"] for s in listed} == {
        "admin@example.com",
        "new.agent@example.com",
        "shared@example.com",
    }
    assert next(s for s in listed if s["email"] == "shared@example.com")["workspaces"] == ["demo"]
    url = "/api/v1/admin/staff/{}/disable"
    assert admin.post(url.format(outsider), headers=csrf(admin)).status_code == 404
    assert admin.post(url.format(shared), headers=csrf(admin)).status_code == 403
    assert admin.post(url.format("nope"), headers=csrf(admin)).status_code == 404

    agent = made.json()["id"]
    assert admin.post(url.format(agent), headers=csrf(admin)).json()["disabled"] is True
    admin_cookies = dict(admin.cookies)
    admin.cookies.clear()
    assert login(admin, "new.agent@example.com").status_code == 401
    admin.cookies.clear()
    for name, value in admin_cookies.items():
        admin.cookies.set(
            name,
            value,
            domain="testserver.local",
            path="/api/v1/auth" if "refresh" in name else "/",
        )
    enabled = admin.post(f"/api/v1/admin/staff/{agent}/enable", headers=csrf(admin))
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    admin.cookies.clear()
    assert login(admin, "new.agent@example.com").status_code == 200
