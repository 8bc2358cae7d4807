"""SSO sign-ins and the MFA policy: the provider's ``amr`` / ``acr`` satisfies a role's
second factor only when the deployment trusts that value; otherwise an enrolled account is
asked for its code and an unenrolled one is held at enrolment, which an SSO-only account
(no password) may do only while its sign-in is fresh. Against the real provider of
tests/ssokit.py, on SQLite and PostgreSQL with Redis."""

from __future__ import annotations

import pytest
from ssokit import PROVIDER_WARNINGS, provider, set_user, sign_in, sso_settings
from staffkit import add_staff, csrf, staff_app, staff_client

from smartsupport.staff import totp

pytestmark = PROVIDER_WARNINGS


@pytest.fixture(scope="module")
def issuer():
    with provider() as url:
        yield url


@pytest.fixture(params=["embedded", "postgres+redis"])
def backend(request) -> dict:
    if request.param == "embedded":
        return {}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
    }


def held(client) -> bool:
    answer = client.get("/api/v1/inbox/queue")
    if answer.status_code == 200:
        return False
    assert answer.json()["error"]["code"] == "mfa_enrolment_required", answer.text
    return True


def test_amr_counts_only_when_trusted(tmp_path, issuer, backend):
    app, _ = staff_app(
        tmp_path, demo=False, mfa_required_roles=["agent"], **backend, **sso_settings(issuer)
    )
    with staff_client(app) as client:
        add_staff(client, "mfa@example.com", "agent")
        add_staff(client, "pwd@example.com", "agent")
        set_user(issuer, "sub-mfa", email="mfa@example.com", amr=["pwd", "mfa"])
        set_user(issuer, "sub-pwd", email="pwd@example.com", amr=["pwd"])
        assert sign_in(client, "sub-mfa").status_code == 200
        assert not held(client)
        client.cookies.clear()
        assert sign_in(client, "sub-pwd").status_code == 200
        assert held(client)


def test_acr_can_be_the_trusted_claim_instead(tmp_path, issuer, backend):
    settings = sso_settings(issuer, sso_mfa_amr=[], sso_mfa_acr=["gold"])
    app, _ = staff_app(tmp_path, demo=False, mfa_required_roles=["agent"], **backend, **settings)
    with staff_client(app) as client:
        add_staff(client, "acr@example.com", "agent")
        set_user(issuer, "sub-acr", email="acr@example.com", amr=["mfa"], acr="gold")
        assert sign_in(client, "sub-acr").status_code == 200
        assert not held(client)
        client.cookies.clear()
        set_user(issuer, "sub-acr", email="acr@example.com", amr=["mfa"], acr="silver")
        assert sign_in(client, "sub-acr").status_code == 200
        assert held(client)  # amr "mfa" is not trusted here, acr "silver" is not either


def test_an_sso_only_account_enrols_without_a_password_while_its_sign_in_is_fresh(
    tmp_path, issuer, backend
):
    settings = sso_settings(issuer, sso_new_staff_role="agent", sso_new_staff_workspaces=["x"])
    app, clock = staff_app(
        tmp_path, demo=False, mfa_required_roles=["agent"], **backend, **settings
    )
    with staff_client(app) as client:
        set_user(issuer, "sub-fresh", email="fresh@example.com", amr=["pwd"])
        assert sign_in(client, "sub-fresh").status_code == 200
        assert held(client)
        page = client.get("/inbox/mfa").text
        assert 'name="password"' not in page  # nothing to type: the provider signed them in
        clock.advance(10 * 60)  # too late: the sign-in is no longer fresh
        stale = client.post("/api/v1/auth/totp/enrol", json={}, headers=csrf(client))
        assert stale.status_code == 401
        assert stale.json()["error"]["code"] in ("reauthentication_required", "token_expired")

        client.cookies.clear()
        assert sign_in(client, "sub-fresh").status_code == 200
        started = client.post("/api/v1/auth/totp/enrol", json={}, headers=csrf(client))
        assert started.status_code == 200, started.text
        secret = started.json()["secret"]
        now_code = totp.code_at(secret, int(clock() // 30))
        confirmed = client.post(
            "/api/v1/auth/totp/confirm", json={"code": now_code}, headers=csrf(client)
        )
        assert confirmed.status_code == 200 and not held(client)

        # From now on an SSO sign-in without a trusted amr asks for the code.
        client.cookies.clear()
        clock.advance(60)
        asked = sign_in(client, "sub-fresh")
        assert asked.status_code == 200 and 'name="mfa_token"' in asked.text
        assert client.get("/api/v1/auth/me").status_code == 401
        mfa_token = asked.text.split('name="mfa_token" value="')[1].split('"')[0]
        done = client.post(
            "/inbox/login",
            json={"mfa_token": mfa_token, "code": totp.code_at(secret, int(clock() // 30))},
            headers=csrf(client),
        )
        assert done.status_code == 200, done.text
        assert not held(client)
