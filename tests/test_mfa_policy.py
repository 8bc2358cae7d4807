"""MFA required per role (smartsupport/staff/mfa.py) and role changes through the admin API:
a member of a role listed in SMARTSUPPORT_MFA_REQUIRED_ROLES who has not passed a second
factor is held at enrolment (403 on the API, a redirect on pages) until TOTP is set up, an
enrolled one signs in with the code as before, and a role change is audited and ends the
person's sessions. SQLite and PostgreSQL with Redis."""

from __future__ import annotations

import json

import pytest
from staffkit import PASSWORD, add_staff, csrf, login, staff_app, staff_client

from smartsupport.staff import totp
from smartsupport.staff.cookies import CSRF_COOKIE

HTML = {"Accept": "text/html"}


@pytest.fixture(params=["embedded", "postgres+redis"])
def backend(request) -> dict:
    if request.param == "embedded":
        return {}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
    }


@pytest.fixture
def team(tmp_path, backend):
    app, clock = staff_app(tmp_path, demo=False, mfa_required_roles=["admin"], **backend)
    app.state.test_clock = clock
    with staff_client(app) as client:
        yield client


def code(client, secret: str) -> str:
    return totp.code_at(secret, int(client.app.state.test_clock() // 30))


def enrol(client, password: str = PASSWORD) -> str:
    started = client.post(
        "/api/v1/auth/totp/enrol", json={"password": password}, headers=csrf(client)
    )
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = client.post(
        "/api/v1/auth/totp/confirm", json={"code": code(client, secret)}, headers=csrf(client)
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret


def test_a_role_that_requires_mfa_is_held_at_enrolment_until_totp_is_set_up(team):
    add_staff(team, "boss@example.com", "admin")
    assert login(team, "boss@example.com").status_code == 200
    held = team.get("/api/v1/admin/staff")
    assert held.status_code == 403 and held.json()["error"]["code"] == "mfa_enrolment_required"
    assert team.get("/api/v1/inbox/queue").status_code == 403
    page = team.get("/inbox", headers=HTML, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/inbox/mfa"
    assert team.get("/api/v1/auth/me").status_code == 200  # who am I: still answered
    enrol(team)
    # The same session has now passed its second factor.
    assert team.get("/api/v1/admin/staff").status_code == 200
    assert team.get("/inbox", headers=HTML, follow_redirects=False).status_code == 200


def test_roles_without_the_requirement_are_not_held(team):
    add_staff(team, "agent@example.com", "agent")
    assert login(team, "agent@example.com").status_code == 200
    assert team.get("/api/v1/inbox/queue").status_code == 200


def test_an_enrolled_member_passes_by_the_code_step_and_a_password_alone_is_not_enough(team):
    add_staff(team, "boss@example.com", "admin")
    login(team, "boss@example.com")
    secret = enrol(team)
    team.cookies.clear()
    step = login(team, "boss@example.com").json()
    assert step["mfa_required"] is True
    team.app.state.test_clock.advance(30)  # a fresh code (the enrolment spent the last)
    done = team.post(
        "/inbox/login",
        json={"mfa_token": step["mfa_token"], "code": code(team, secret)},
        headers=csrf(team),
    )
    assert done.status_code == 200, done.text
    assert team.get("/api/v1/admin/staff").status_code == 200


def test_the_enrolment_page_works_without_script(team):
    add_staff(team, "boss@example.com", "admin")
    login(team, "boss@example.com")
    page = team.get("/inbox/mfa")
    assert page.status_code == 200 and 'name="password"' in page.text
    token = team.cookies.get(CSRF_COOKIE)
    wrong = team.post("/inbox/mfa", data={"csrf_token": token, "password": "not it"})
    assert wrong.status_code == 400 and "password is not right" in wrong.text
    shown = team.post("/inbox/mfa", data={"csrf_token": token, "password": PASSWORD})
    secret = shown.text.split('id="totp-secret">')[1].split("<")[0]
    bad = team.post(
        "/inbox/mfa/confirm", data={"csrf_token": token, "code": "000000", "secret_shown": secret}
    )
    assert bad.status_code == 400 and secret in bad.text
    done = team.post(
        "/inbox/mfa/confirm",
        data={"csrf_token": token, "code": code(team, secret)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/inbox"
    assert team.get("/api/v1/admin/staff").status_code == 200
    # Posts without the csrf token are refused like every other form.
    assert team.post("/inbox/mfa", data={"password": PASSWORD}).status_code == 403


def audit_rows(client, action: str) -> list[dict]:
    async def rows():
        return await client.app.state.services.store.fetch(
            "SELECT actor, target, details FROM audit_log WHERE action = ? ORDER BY seq", action
        )

    found = client.portal.call(rows)
    for row in found:
        if isinstance(row["details"], str):
            row["details"] = json.loads(row["details"])
    return found


class Browsers:
    """Several people on one test client (one event loop, as the PostgreSQL pool needs):
    each keeps their own cookies."""

    def __init__(self, client) -> None:
        self.client, self.jars, self.current = client, {}, None

    def be(self, who: str):
        if self.current is not None:
            self.jars[self.current] = dict(self.client.cookies)
        self.client.cookies.clear()
        for name, value in self.jars.get(who, {}).items():
            self.client.cookies.set(name, value)
        self.current = who
        return self.client


def test_role_changes_go_through_the_admin_api_are_audited_and_end_sessions(team):
    people = Browsers(team)
    boss_id = add_staff(team, "boss@example.com", "admin")
    worker_id = add_staff(team, "worker@example.com", "agent")
    add_staff(team, "lead@example.com", "supervisor")
    boss = people.be("boss")
    login(boss, "boss@example.com")
    enrol(boss)
    worker = people.be("worker")
    assert login(worker, "worker@example.com").status_code == 200
    assert worker.get("/api/v1/inbox/queue").status_code == 200

    boss = people.be("boss")
    promoted = boss.post(
        f"/api/v1/admin/staff/{worker_id}/role", json={"role": "admin"}, headers=csrf(boss)
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    [entry] = audit_rows(boss, "staff.role_changed")
    assert entry["actor"] == f"staff:{boss_id}" and entry["target"] == f"staff:{worker_id}"
    assert entry["details"] == {"from": "agent", "to": "admin"}
    self_change = boss.post(
        f"/api/v1/admin/staff/{boss_id}/role", json={"role": "agent"}, headers=csrf(boss)
    )
    assert self_change.status_code == 409
    bad_role = boss.post(
        f"/api/v1/admin/staff/{worker_id}/role", json={"role": "owner"}, headers=csrf(boss)
    )
    assert bad_role.status_code == 422
    no_token = boss.post(f"/api/v1/admin/staff/{worker_id}/role", json={"role": "agent"})
    assert no_token.status_code == 403

    # The worker's session ended; signing in again as an admin means enrolling first.
    worker = people.be("worker")
    assert worker.get("/api/v1/inbox/queue").status_code == 401
    worker.cookies.clear()
    assert login(worker, "worker@example.com").status_code == 200
    held = worker.get("/api/v1/inbox/queue").json()
    assert held["error"]["code"] == "mfa_enrolment_required"

    lead = people.be("lead")  # not an admin: refused
    login(lead, "lead@example.com")
    refused = lead.post(
        f"/api/v1/admin/staff/{worker_id}/role", json={"role": "agent"}, headers=csrf(lead)
    )
    assert refused.status_code == 403


def test_mfa_settings_name_the_fix(tmp_path):
    from pydantic import ValidationError

    from smartsupport.settings import Settings

    with pytest.raises(ValidationError, match="unknown role 'root'"):
        Settings(data_dir=tmp_path, mfa_required_roles=["root"])
    with pytest.raises(ValidationError, match="admins are never created by SSO"):
        Settings(data_dir=tmp_path, sso_new_staff_role="admin")
    with pytest.raises(ValidationError, match="must use https"):
        Settings(data_dir=tmp_path, sso_issuer="http://idp.example.com")
    with pytest.raises(ValidationError, match="SMARTSUPPORT_SSO_CLIENT_ID"):
        Settings(data_dir=tmp_path, sso_issuer="https://idp.example.com")
