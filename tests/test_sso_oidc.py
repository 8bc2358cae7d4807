"""Staff single sign-on against a real OpenID Connect provider (oidc-provider-mock on a
loopback port, tests/ssokit.py): the authorization code flow with state, nonce and PKCE,
the ID token's signature checked against the provider's JWKS, and the rules that decide
which account a sign-in reaches. On SQLite and on PostgreSQL with Redis."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from ssokit import (
    CLIENT_ID,
    CLIENT_SECRET,
    PROVIDER_WARNINGS,
    RecordingTransport,
    authorize,
    callback,
    provider,
    set_user,
    sign_in,
    sso_settings,
    start,
)
from staffkit import PASSWORD, add_staff, login, staff_app, staff_client

from smartsupport.staff.oidc import OidcClient, SsoFailed
from smartsupport.staff.sso import STATE_COOKIE

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


def sso_client(tmp_path, issuer, backend, **overrides):
    app, clock = staff_app(tmp_path, demo=False, **backend, **sso_settings(issuer, **overrides))
    return staff_client(app)


def audit_actions(client) -> list[dict]:
    async def rows():
        return await client.app.state.services.store.fetch(
            "SELECT action, actor, target, details FROM audit_log ORDER BY seq"
        )

    found = client.portal.call(rows)
    for row in found:
        if isinstance(row["details"], str):
            row["details"] = json.loads(row["details"])
    return found


def test_first_sign_in_links_the_admin_made_account_and_later_ones_follow_the_subject(
    tmp_path, issuer, backend
):
    with sso_client(tmp_path, issuer, backend) as client:
        staff_id = add_staff(client, "lena@example.com", "supervisor", ["north"])
        set_user(issuer, "sub-lena", email="Lena@Example.com", name="Lena")
        done = sign_in(client, "sub-lena")
        assert done.status_code == 200, done.text
        # The session cookies are set on a page that moves on by itself (module docstring of
        # smartsupport/staff/sso.py: a redirect would not carry the Strict cookies).
        assert 'http-equiv="refresh"' in done.text and "/api/v1/auth/me" in done.text
        me = client.get("/api/v1/auth/me").json()
        assert (me["id"], me["role"], me["workspaces"]) == (staff_id, "supervisor", ["north"])

        # The provider now sends another email for the same subject: same account.
        set_user(issuer, "sub-lena", email="lena.new@example.com")
        client.post("/inbox/logout", headers={"X-CSRF-Token": client.cookies.get("__Host-ss_csrf")})
        client.cookies.clear()
        assert sign_in(client, "sub-lena").status_code == 200
        assert client.get("/api/v1/auth/me").json()["id"] == staff_id

        actions = [(a["action"], a["actor"]) for a in audit_actions(client)]
        assert ("staff.sso_linked", f"staff:{staff_id}") in actions
        logins = [a for a in audit_actions(client) if a["action"] == "staff.login"]
        assert len(logins) == 2 and all(a["details"]["method"] == "sso" for a in logins)


def test_unknown_emails_are_refused_unless_the_deployment_creates_agents(tmp_path, issuer, backend):
    set_user(issuer, "sub-new", email="newcomer@example.com", name="New Comer")
    with sso_client(tmp_path / "a", issuer, backend) as client:
        refused = sign_in(client, "sub-new")
        assert refused.status_code == 401
        assert "no staff account for this email" in refused.text
        assert client.get("/api/v1/auth/me").status_code == 401
    with sso_client(
        tmp_path / "b",
        issuer,
        backend,
        sso_new_staff_role="agent",
        sso_new_staff_workspaces=["south"],
    ) as client:
        assert sign_in(client, "sub-new").status_code == 200
        me = client.get("/api/v1/auth/me").json()
        assert (me["email"], me["name"], me["role"]) == (
            "newcomer@example.com",
            "New Comer",
            "agent",
        )
        assert me["workspaces"] == ["south"]
        created = [a for a in audit_actions(client) if a["action"] == "staff.created"]
        assert created[0]["actor"] == "sso" and created[0]["details"]["role"] == "agent"
        # An account made by SSO has no password to sign in with.
        assert login(client, "newcomer@example.com", "").status_code in (401, 422)


def test_wrong_domain_and_unverified_email_are_refused(tmp_path, issuer, backend):
    with sso_client(tmp_path, issuer, backend) as client:
        add_staff(client, "eve@evil.example", "admin")
        add_staff(client, "unverified@example.com", "agent")
        set_user(issuer, "sub-eve", email="eve@evil.example")
        wrong_domain = sign_in(client, "sub-eve")
        assert wrong_domain.status_code == 401 and "email domain" in wrong_domain.text
        set_user(issuer, "sub-unv", email="unverified@example.com", email_verified=False)
        unverified = sign_in(client, "sub-unv")
        assert unverified.status_code == 401 and "not confirmed" in unverified.text
        assert client.get("/api/v1/auth/me").status_code == 401


def test_a_callback_needs_this_browsers_state_and_works_once(tmp_path, issuer, backend):
    with sso_client(tmp_path, issuer, backend) as client:
        add_staff(client, "sam@example.com", "agent")
        set_user(issuer, "sub-sam", email="sam@example.com")
        # Login CSRF: an attacker's callback URL opened in the victim's browser.
        back = authorize(start(client), "sub-sam")
        client.cookies.delete(STATE_COOKIE)
        forged = callback(client, back)
        assert forged.status_code == 401 and "not started here" in forged.text
        # The state of a flow, once used, is gone (a replayed callback is refused).
        back = authorize(start(client), "sub-sam")
        assert callback(client, back).status_code == 200
        client.cookies.set(STATE_COOKIE, parse_qs(urlsplit(back).query)["state"][0])
        assert callback(client, back).status_code == 401
        # A provider's refusal (the user pressed Deny) comes back as error=access_denied.
        url = start(client)
        denied = httpx.post(url, data={"action": "deny"})
        assert "error=access_denied" in denied.headers["location"]
        assert callback(client, denied.headers["location"]).status_code == 401


def test_the_flow_sends_pkce_s256_and_the_verifier_matches(tmp_path, issuer, backend):
    with sso_client(tmp_path, issuer, backend) as client:
        add_staff(client, "pia@example.com", "agent")
        set_user(issuer, "sub-pia", email="pia@example.com")
        recorder = RecordingTransport()
        client.app.state.oidc_client = OidcClient(issuer, CLIENT_ID, CLIENT_SECRET, recorder)
        url = start(client)
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
        assert set(query["scope"][0].split()) >= {"openid", "email"}
        assert query["nonce"][0] and query["state"][0] != query["nonce"][0]
        assert callback(client, authorize(url, "sub-pia")).status_code == 200
        [token_call] = [body for u, body in recorder.requests if u.endswith("/oauth2/token")]
        form = parse_qs(token_call.decode())
        verifier = form["code_verifier"][0]
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        assert digest.rstrip(b"=").decode() == query["code_challenge"][0]
        assert 43 <= len(verifier) <= 128 and "client_secret" not in form  # sent as Basic auth


async def real_id_token(issuer: str, sub: str, nonce: str) -> str:
    """An ID token the provider issued for ``sub`` (the code flow, without the app)."""
    async with httpx.AsyncClient() as http:
        redirect = "https://testserver/inbox/login/sso/callback"
        auth_url = f"{issuer}/oauth2/authorize"
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect,
            "scope": "openid email",
            "state": "s",
            "nonce": nonce,
        }
        answer = await http.post(auth_url, params=params, data={"sub": sub})
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        token = await http.post(
            f"{issuer}/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        return str(token.json()["id_token"])


async def test_id_tokens_are_checked_for_signature_audience_issuer_and_nonce(issuer):
    set_user(issuer, "sub-tok", email="tok@example.com")
    token = await real_id_token(issuer, "sub-tok", "nonce-1")
    client = OidcClient(issuer, CLIENT_ID, CLIENT_SECRET)
    claims = await client.validate(token, "nonce-1")
    assert claims["sub"] == "sub-tok" and claims["email"] == "tok@example.com"

    with pytest.raises(SsoFailed, match="nonce"):
        await client.validate(token, "another-nonce")
    with pytest.raises(SsoFailed, match="audience"):
        await OidcClient(issuer, "another-client", CLIENT_SECRET).validate(token, "nonce-1")

    # The payload changed (another email), the provider's signature kept: refused.
    head, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["email"] = "admin@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with pytest.raises(SsoFailed, match="signature"):
        await client.validate(f"{head}.{forged}.{signature}", "nonce-1")
    # "alg": "none" and a token signed with the client secret (HS256) are never accepted.
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    with pytest.raises(SsoFailed, match="algorithm"):
        await client.validate(f"{none_head}.{payload}.", "nonce-1")
    hs = jwt.encode(body, CLIENT_SECRET * 2, algorithm="HS256")
    with pytest.raises(SsoFailed, match="algorithm"):
        await client.validate(hs, "nonce-1")


async def test_a_discovery_document_for_another_issuer_is_refused(issuer):
    # The real provider's document, as a man in the middle (or a misconfigured proxy) would
    # serve it for another issuer: Discovery 1.0 §4.3 says refuse it.
    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{issuer}/.well-known/openid-configuration")).json()
    assert document["issuer"] == issuer

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**document, "issuer": "https://evil.example"})

    client = OidcClient(issuer, CLIENT_ID, CLIENT_SECRET, httpx.MockTransport(answer))
    with pytest.raises(SsoFailed, match="another issuer"):
        await client.begin("https://testserver/cb")


def test_sso_is_off_and_not_offered_without_an_issuer(tmp_path):
    app, _ = staff_app(tmp_path, demo=False)
    with staff_client(app) as client:
        assert client.get("/inbox/login/sso").status_code == 404
        assert "single sign-on" not in client.get("/inbox/login").text


def test_the_login_page_offers_sso_when_configured(tmp_path, issuer):
    with sso_client(tmp_path, issuer, {}) as client:
        page = client.get("/inbox/login?next=/inbox/audit").text
        assert "Sign in with single sign-on" in page and "next=%2Finbox%2Faudit" in page
        assert login(client, "nobody@example.com", PASSWORD).status_code == 401
