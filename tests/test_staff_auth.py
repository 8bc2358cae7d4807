"""Staff login, sessions, refresh rotation, timeouts, CSRF and lockout, through the real
routes, on the embedded defaults and on PostgreSQL + Redis."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from staffkit import PASSWORD, add_staff, csrf, login, staff_app, staff_client

from smartsupport.staff import tokens
from smartsupport.staff.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from smartsupport.staff.login import LOGIN_FAILED


@pytest.fixture(params=["embedded", "postgres+redis"])
def env(request, tmp_path):
    options = {}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    app, clock = staff_app(tmp_path, **options)
    with staff_client(app) as client:
        add_staff(client, "agent@example.com", "agent")
        yield client, clock


def test_login_sets_secure_httponly_samesite_strict_cookies_and_me_returns_the_user(env):
    client, _ = env
    response = login(client, "Agent@Example.com ")
    assert response.status_code == 200, response.text
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE):
        assert "secure" in cookies[name] and "samesite=strict" in cookies[name]
    assert "httponly" in cookies[ACCESS_COOKIE] and "httponly" in cookies[REFRESH_COOKIE]
    assert "httponly" not in cookies[CSRF_COOKIE]  # the inbox script must read it
    assert "path=/api/v1/auth" in cookies[REFRESH_COOKIE]
    assert response.json()["csrf_token"] == client.cookies[CSRF_COOKIE]
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json() == {
        "id": me.json()["id"],
        "email": "agent@example.com",
        "name": "agent",
        "role": "agent",
        "workspaces": ["demo"],
        "totp_enabled": False,
    }
    assert "password" not in me.text and "totp_secret" not in me.text


def test_the_login_form_redirects_to_next_but_never_off_site(env):
    client, _ = env
    page = client.get("/inbox/login?next=/inbox/queue")
    assert page.status_code == 200 and 'value="/inbox/queue"' in page.text
    assert page.headers["x-frame-options"] == "DENY" and "no-store" in page.headers["cache-control"]
    form = {
        "email": "agent@example.com",
        "password": PASSWORD,
        "csrf_token": client.cookies[CSRF_COOKIE],
    }
    done = client.post(
        "/inbox/login", data={**form, "next": "/inbox/queue"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/inbox/queue"
    client.cookies.clear()
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client.get("/inbox/login")
        form["csrf_token"] = client.cookies[CSRF_COOKIE]
        done = client.post("/inbox/login", data={**form, "next": evil}, follow_redirects=False)
        assert done.headers["location"] == "/inbox", evil


def test_the_login_page_escapes_what_it_echoes(env):
    client, _ = env
    page = client.get('/inbox/login?next=/"><script>alert(1)</script>')
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    response = client.post(
        "/inbox/login",
        data={
            "email": '"><img src=x onerror=alert(1)>',
            "password": "x",
            "csrf_token": client.cookies[CSRF_COOKIE],
        },
    )
    assert response.status_code == 401
    assert "<img" not in response.text and "&lt;img src=x" in response.text
    assert "Sign-in failed" in response.text


def test_unknown_email_wrong_password_and_disabled_account_get_the_same_answer(env):
    client, _ = env
    add_staff(client, "gone@example.com", "agent")
    client.portal.call(_disable, client, "gone@example.com")
    answers = [
        login(client, "nobody@example.com"),
        login(client, "agent@example.com", "wrong password here"),
        login(client, "gone@example.com"),
    ]
    assert {a.status_code for a in answers} == {401}
    assert {json.dumps(a.json(), sort_keys=True) for a in answers} == {
        json.dumps({"error": {"code": "login_failed", "message": LOGIN_FAILED}}, sort_keys=True)
    }


async def _disable(client, email: str) -> None:
    from datetime import UTC, datetime

    from smartsupport.staff.store import StaffStore

    store = StaffStore(client.app.state.services.store)
    record = await store.get_user_by_email(email)
    await store.set_disabled(record.id, True, datetime.now(UTC))


def test_logout_ends_the_session_even_for_a_copied_access_token(env):
    client, _ = env
    login(client, "agent@example.com")
    stolen = client.cookies[ACCESS_COOKIE]
    out = client.post("/inbox/logout", headers=csrf(client), follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/inbox/login"
    assert ACCESS_COOKIE not in client.cookies
    assert client.get("/api/v1/auth/me").status_code == 401
    client.cookies.set(ACCESS_COOKIE, stolen, domain="testserver.local")
    again = client.get("/api/v1/auth/me")
    assert again.status_code == 401 and again.json()["error"]["code"] == "session_ended"


def test_disabling_an_account_ends_its_sessions_at_once(env):
    client, _ = env
    login(client, "agent@example.com")
    assert client.get("/api/v1/auth/me").status_code == 200
    client.portal.call(_disable, client, "agent@example.com")
    assert client.get("/api/v1/auth/me").status_code == 401


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(env):
    client, _ = env
    login(client, "agent@example.com")
    first = client.cookies[REFRESH_COOKIE]
    renewed = client.post("/api/v1/auth/refresh", headers=csrf(client))
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["expires_in"] == 900
    second = client.cookies[REFRESH_COOKIE]
    assert second != first and client.get("/api/v1/auth/me").status_code == 200
    # An attacker replays the first (spent) refresh token: the whole session ends.
    client.cookies.set(REFRESH_COOKIE, first, domain="testserver.local", path="/api/v1/auth")
    replay = client.post("/api/v1/auth/refresh", headers=csrf(client))
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "refresh_reused"
    client.cookies.set(REFRESH_COOKIE, second, domain="testserver.local", path="/api/v1/auth")
    assert client.post("/api/v1/auth/refresh", headers=csrf(client)).status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401


def test_an_expired_access_token_is_refused_and_refresh_renews_it(env):
    client, clock = env
    login(client, "agent@example.com")
    clock.advance(15 * 60 + 1)
    expired = client.get("/api/v1/auth/me")
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"
    assert client.post("/api/v1/auth/refresh", headers=csrf(client)).status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 200


def test_a_tampered_or_foreign_jwt_is_refused(env):
    client, clock = env
    login(client, "agent@example.com")
    token = client.cookies[ACCESS_COOKIE]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 3600
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    alg_none = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    other_key = jwt.encode(claims, "another-secret-" * 4, algorithm="HS256")
    # Genuinely signed by the server, but for the TOTP step, not a session.
    mfa_typed = tokens.issue_jwt(
        b"test-secret", "mfa", claims["sub"], clock.now, 300, sid=claims["sid"]
    )
    for bad in (
        f"{header}.{forged_payload}.{signature}",
        alg_none,
        other_key,
        mfa_typed,
        token[:-3] + "abc",
        "garbage",
    ):
        client.cookies.set(ACCESS_COOKIE, bad, domain="testserver.local")
        response = client.get("/api/v1/auth/me")
        assert response.status_code == 401, bad
        assert response.json()["error"]["code"] == "invalid_token"


def test_inactivity_ends_the_session_and_refreshing_is_not_activity(env):
    client, clock = env
    login(client, "agent@example.com")
    for _ in range(3):  # active for 75 minutes: the session lives on (refreshing as needed)
        clock.advance(25 * 60)
        assert client.post("/api/v1/auth/refresh", headers=csrf(client)).status_code == 200
        assert client.get("/api/v1/auth/me").status_code == 200
    clock.advance(20 * 60)
    assert client.post("/api/v1/auth/refresh", headers=csrf(client)).status_code == 200
    clock.advance(11 * 60)  # 31 minutes without a real request
    idle = client.get("/api/v1/auth/me")
    assert idle.status_code == 401 and idle.json()["error"]["code"] == "session_idle"
    assert client.post("/api/v1/auth/refresh", headers=csrf(client)).status_code == 401


def test_the_session_ends_after_its_absolute_lifetime_whatever_the_activity(env):
    client, clock = env
    login(client, "agent@example.com")
    for _ in range(12 * 4 - 1):
        clock.advance(15 * 60)
        assert client.post("/api/v1/auth/refresh", headers=csrf(client)).status_code == 200
        assert client.get("/api/v1/auth/me").status_code == 200
    clock.advance(15 * 60)  # twelve hours
    assert client.post("/api/v1/auth/refresh", headers=csrf(client)).status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401


def test_unsafe_requests_without_the_right_csrf_token_are_refused(env):
    client, _ = env
    # Login itself needs the token (login CSRF).
    client.get("/inbox/login")
    no_token = client.post(
        "/inbox/login", json={"email": "agent@example.com", "password": PASSWORD}
    )
    assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
    anonymous_token = client.cookies[CSRF_COOKIE]
    assert login(client, "agent@example.com").status_code == 200
    body = {"password": PASSWORD}
    url = "/api/v1/auth/totp/enrol"
    assert client.post(url, json=body).status_code == 403
    assert client.post(url, json=body, headers={"X-CSRF-Token": "x.y"}).status_code == 403
    # Header and cookie agree but the token was made for another session (or none):
    # a planted cookie is useless.
    client.cookies.set(CSRF_COOKIE, anonymous_token, domain="testserver.local")
    planted = client.post(url, json=body, headers={"X-CSRF-Token": anonymous_token})
    assert planted.status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 200  # safe methods need none
    renewed = client.post("/api/v1/auth/refresh", headers={"X-CSRF-Token": anonymous_token})
    assert renewed.status_code == 403
    # The form field works as well as the header.
    client.get("/inbox/login")  # re-issues a csrf cookie bound to this session
    form = client.post(
        "/inbox/logout", data={"csrf_token": client.cookies[CSRF_COOKIE]}, follow_redirects=False
    )
    assert form.status_code == 303


def test_repeated_failures_slow_that_address_until_its_backoff_expires(env):
    """Issue 14: the 0.1 lockout of the account became a per account-and-address backoff
    (tests/test_security_identity.py shows another address is not slowed)."""
    client, clock = env
    for _ in range(5):
        assert login(client, "agent@example.com", "wrong password!!").status_code == 401
    slowed = login(client, "agent@example.com")  # the right password, but too soon
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) > 0
    clock.advance(31)
    assert login(client, "agent@example.com").status_code == 200


def test_a_success_resets_the_failure_count(env):
    client, _ = env
    for _ in range(4):
        login(client, "agent@example.com", "wrong password!!")
    assert login(client, "agent@example.com").status_code == 200
    for _ in range(4):
        login(client, "agent@example.com", "wrong password!!")
    assert login(client, "agent@example.com").status_code == 200


def test_login_attempts_are_rate_limited_per_account_even_for_unknown_emails(env):
    client, _ = env
    answers = [login(client, "nobody@example.com", "x").status_code for _ in range(6)]
    assert answers[:5] == [401] * 5 and answers[5] == 429  # the backoff after 5 failures
    limited = login(client, "nobody@example.com", "x")
    assert int(limited.headers["retry-after"]) > 0
    assert login(client, "agent@example.com").status_code == 200  # another account is free


def test_login_attempts_are_rate_limited_per_address(tmp_path):
    app, _ = staff_app(tmp_path)
    with staff_client(app) as client:
        statuses = [login(client, f"user{i}@example.com", "x").status_code for i in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429
