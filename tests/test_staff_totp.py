"""TOTP second factor: RFC 6238 codes, the encrypted secret, enrolment, the login step,
replay protection and lockout."""

from __future__ import annotations

import base64

import pytest
from staffkit import PASSWORD, add_staff, csrf, login, staff_app, staff_client

from smartsupport.staff import totp
from smartsupport.staff.cookies import CSRF_COOKIE
from smartsupport.staff.store import StaffStore

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [
        (59, "287082"),
        (1111111109, "081804"),
        (1111111111, "050471"),
        (1234567890, "005924"),
        (2000000000, "279037"),
        (20000000000, "353130"),
    ],
)
def test_codes_match_the_rfc_6238_test_vectors(unix_time, code):
    # RFC 6238 appendix B (SHA-1), last six of the eight digits.
    assert totp.code_at(RFC_SECRET, unix_time // 30) == code


def test_a_code_is_accepted_one_step_either_side_and_never_twice():
    now = 1_700_000_000.0
    step = int(now // 30)
    for offset in (-1, 0, 1):
        assert (
            totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step + offset), now, 0)
            == step + offset
        )
    for offset in (-2, 2):
        assert (
            totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step + offset), now, 0) is None
        )
    current = totp.code_at(RFC_SECRET, step)
    assert totp.matching_step(RFC_SECRET, current, now, last_step=step) is None
    assert totp.matching_step(RFC_SECRET, "12345", now, 0) is None
    assert totp.matching_step(RFC_SECRET, "abcdef", now, 0) is None


def flip(stored: str, index: int) -> str:
    """``stored`` with one bit of its sealed bytes changed (the prefix kept)."""
    prefix, _, body = stored.partition(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[index] ^= 1
    return f"{prefix}.{base64.urlsafe_b64encode(raw).decode()}"


def test_the_stored_secret_is_sealed_with_aes_gcm_and_authenticated():
    secret = totp.new_secret()
    stored = totp.encrypt_secret(b"server-secret", secret)
    assert stored.startswith("v2.") and secret not in stored
    raw = base64.urlsafe_b64decode(stored[3:])
    assert len(raw) == 12 + len(secret) + 16  # 96-bit nonce, ciphertext, 128-bit tag
    assert totp.decrypt_secret(b"server-secret", stored) == secret
    assert totp.decrypt_secret(b"another-secret", stored) is None
    for index in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        assert totp.decrypt_secret(b"server-secret", flip(stored, index)) is None
    # The version prefix is authenticated too: the same bytes cannot pass for a 0.1 value.
    assert totp.decrypt_secret(b"server-secret", "v1." + stored[3:]) is None
    assert totp.decrypt_secret(b"server-secret", stored[:20]) is None  # cut short
    assert totp.decrypt_secret(b"server-secret", "v2.not base64!") is None
    assert totp.decrypt_secret(b"server-secret", secret) is None  # never stored in clear
    assert totp.encrypt_secret(b"server-secret", secret) != stored  # fresh nonce each time


# Sealed by smartsupport 0.1 (HMAC-SHA256 counter mode, encrypt-then-MAC) with the server
# secret b"0.1-server-secret": what deployed databases hold for staff enrolled before 0.2.
LEGACY_SECRET = "JBSWY3DPEHPK3PXP"
LEGACY_STORED = (
    "v1.BtZ7ycFepaE4Dw9Xw_biMIMqmpq1muf6AGF-umWu22A4qV63aY2tPPxdUGunkox_8JLkP_ESw8bLAkyMimSoXQ=="
)


def test_secrets_sealed_by_0_1_still_open_and_tampering_is_still_refused():
    assert totp.decrypt_secret(b"0.1-server-secret", LEGACY_STORED) == LEGACY_SECRET
    assert totp.decrypt_secret(b"another-secret", LEGACY_STORED) is None
    assert totp.decrypt_secret(b"0.1-server-secret", flip(LEGACY_STORED, 20)) is None
    assert totp.decrypt_secret(b"0.1-server-secret", LEGACY_STORED[:40]) is None


def test_an_account_enrolled_under_0_1_still_logs_in_with_its_code(tmp_path):
    app, clock = staff_app(tmp_path, secret_key="0.1-server-secret")
    with staff_client(app) as client:
        user_id = add_staff(client, "agent@example.com", "agent")
        store = StaffStore(client.app.state.services.store)
        client.portal.call(store.set_totp, user_id, LEGACY_STORED, True)
        first = login(client, "agent@example.com")
        assert first.json()["mfa_required"] is True
        code = totp.code_at(LEGACY_SECRET, int(clock.now // 30))
        done = client.post(
            "/inbox/login",
            json={"mfa_token": first.json()["mfa_token"], "code": code},
            headers=csrf(client),
        )
        assert done.status_code == 200 and client.get("/api/v1/auth/me").status_code == 200


@pytest.fixture
def env(tmp_path):
    app, clock = staff_app(tmp_path)
    with staff_client(app) as client:
        add_staff(client, "agent@example.com", "agent")
        yield client, clock


def enrol(client, clock) -> str:
    assert login(client, "agent@example.com").status_code == 200
    wrong = client.post(
        "/api/v1/auth/totp/enrol", json={"password": "not the password"}, headers=csrf(client)
    )
    assert wrong.status_code == 401
    started = client.post(
        "/api/v1/auth/totp/enrol", json={"password": PASSWORD}, headers=csrf(client)
    )
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/smartsupport%3Aagent")
    bad = client.post("/api/v1/auth/totp/confirm", json={"code": "000000"}, headers=csrf(client))
    assert bad.status_code == 422
    code = totp.code_at(secret, int(clock.now // 30))
    confirmed = client.post("/api/v1/auth/totp/confirm", json={"code": code}, headers=csrf(client))
    assert confirmed.status_code == 200 and confirmed.json() == {"totp_enabled": True}
    assert client.get("/api/v1/auth/me").json()["totp_enabled"] is True
    client.post("/inbox/logout", headers=csrf(client))
    return secret


def test_enrolment_needs_the_password_and_a_valid_code_and_the_secret_is_stored_encrypted(env):
    client, clock = env
    secret = enrol(client, clock)

    async def stored():
        return await client.app.state.services.store.fetchrow(
            "SELECT totp_secret FROM staff_users WHERE email = ?", "agent@example.com"
        )

    row = client.portal.call(stored)
    assert row["totp_secret"].startswith("v2.") and secret not in row["totp_secret"]
    clock.advance(30)
    token = login(client, "agent@example.com").json()["mfa_token"]
    code = totp.code_at(secret, int(clock.now // 30))
    assert (
        client.post(
            "/inbox/login", json={"mfa_token": token, "code": code}, headers=csrf(client)
        ).status_code
        == 200
    )
    again = client.post(
        "/api/v1/auth/totp/enrol", json={"password": PASSWORD}, headers=csrf(client)
    )
    assert again.status_code == 409


def test_login_asks_for_the_code_and_a_code_works_only_once(env):
    client, clock = env
    secret = enrol(client, clock)
    clock.advance(30)
    first = login(client, "agent@example.com")
    assert first.status_code == 200 and first.json()["mfa_required"] is True
    assert client.get("/api/v1/auth/me").status_code == 401  # the password alone is not enough
    mfa_token = first.json()["mfa_token"]
    code = totp.code_at(secret, int(clock.now // 30))
    wrong = client.post(
        "/inbox/login", json={"mfa_token": mfa_token, "code": "123456"}, headers=csrf(client)
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "totp_invalid"
    done = client.post(
        "/inbox/login", json={"mfa_token": mfa_token, "code": code}, headers=csrf(client)
    )
    assert done.status_code == 200 and client.get("/api/v1/auth/me").status_code == 200
    client.post("/inbox/logout", headers=csrf(client))
    # The same code again (someone looking over the shoulder): refused.
    replay_token = login(client, "agent@example.com").json()["mfa_token"]
    replay = client.post(
        "/inbox/login", json={"mfa_token": replay_token, "code": code}, headers=csrf(client)
    )
    assert replay.status_code == 401
    clock.advance(30)
    fresh = totp.code_at(secret, int(clock.now // 30))
    ok = client.post(
        "/inbox/login", json={"mfa_token": replay_token, "code": fresh}, headers=csrf(client)
    )
    assert ok.status_code == 200


def test_the_login_page_shows_the_code_step_and_an_expired_step_starts_over(env):
    client, clock = env
    secret = enrol(client, clock)
    clock.advance(60)
    client.get("/inbox/login")
    token = client.cookies[CSRF_COOKIE]
    page = client.post(
        "/inbox/login",
        data={"email": "agent@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert page.status_code == 200 and 'name="code"' in page.text
    assert 'name="password"' not in page.text
    mfa_token = page.text.split('name="mfa_token" value="')[1].split('"')[0]
    clock.advance(5 * 60 + 1)
    code = totp.code_at(secret, int(clock.now // 30))
    late = client.post(
        "/inbox/login", data={"mfa_token": mfa_token, "code": code, "csrf_token": token}
    )
    assert late.status_code == 401 and "Enter your email and password again" in late.text
    assert 'name="password"' in late.text


def test_wrong_codes_count_towards_the_lockout(env):
    client, clock = env
    secret = enrol(client, clock)
    clock.advance(30)
    for _ in range(5):
        token = login(client, "agent@example.com").json()["mfa_token"]
        client.post(
            "/inbox/login", json={"mfa_token": token, "code": "000000"}, headers=csrf(client)
        )
    slowed = login(client, "agent@example.com")  # this address now waits (issue 14)
    assert slowed.status_code == 429 and slowed.json()["error"]["code"] == "rate_limited"
    clock.advance(31)
    token = login(client, "agent@example.com").json()["mfa_token"]
    code = totp.code_at(secret, int(clock.now // 30))
    assert (
        client.post(
            "/inbox/login", json={"mfa_token": token, "code": code}, headers=csrf(client)
        ).status_code
        == 200
    )
