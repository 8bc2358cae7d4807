"""TOTP enrolment's two steps, shared by the JSON API (routes.py) and the enrolment page
(mfa_page.py): start (a new secret, sealed at rest) and confirm (a current code turns it
on and satisfies the session's second factor).

Starting needs the password again, so a borrowed session cannot bind its owner's account to
someone else's authenticator. An account made by single sign-on has no password; its
session proves the same thing only while it is fresh (``mfa_ttl_seconds`` after the
provider's sign-in), after which its owner signs in again.
"""

from __future__ import annotations

from datetime import timedelta

from smartsupport.errors import Conflict, InvalidInput, Unauthorized
from smartsupport.services import Services
from smartsupport.staff import audited, passwords, totp
from smartsupport.staff.config import StaffConfig
from smartsupport.staff.login import LoginFlow
from smartsupport.staff.models import StaffRecord, StaffUser
from smartsupport.staff.store import StaffStore

# The password hash of an account that only signs in by SSO: no argon2 hash, so no password
# ever matches it (passwords.verify_password treats it as invalid).
SSO_ONLY = "!sso-only"


async def _record(services: Services, user: StaffUser) -> StaffRecord:
    record = await StaffStore(services.store).get_user(user.id)
    if record is None or user.api_key_id is not None:
        raise Unauthorized("sign in as the person enrolling", code="not_authenticated")
    return record


async def _reauthenticated(
    services: Services, config: StaffConfig, record: StaffRecord, user: StaffUser, password: str
) -> bool:
    if record.password_hash != SSO_ONLY:
        ok, _ = await passwords.verify_password(record.password_hash, password)
        return ok
    session = await StaffStore(services.store).get_session(user.session_id or "")
    if session is None or session["method"] != "sso":
        return False
    age = config.now() - session["created_at"]
    return age <= timedelta(seconds=config.mfa_ttl_seconds)


async def start(
    services: Services, config: StaffConfig, user: StaffUser, password: str
) -> tuple[str, str]:
    """(the secret, its otpauth:// URI), shown once; the secret is stored sealed."""
    record = await _record(services, user)
    if record.totp_enabled:
        raise Conflict("TOTP is already enabled for this account")
    if not await _reauthenticated(services, config, record, user, password):
        if record.password_hash == SSO_ONLY:
            raise Unauthorized(
                "the sign-in is too old to enrol: sign in again, then enrol at once",
                code="reauthentication_required",
            )
        raise Unauthorized("the password is not right", code="password_wrong")
    secret = totp.new_secret()
    await StaffStore(services.store).set_totp(
        user.id, totp.encrypt_secret(services.secret_key, secret), enabled=False
    )
    return secret, totp.provisioning_uri(secret, user.email)


async def confirm(
    services: Services, config: StaffConfig, user: StaffUser, code: str, ip: str | None
) -> None:
    """Turn TOTP on with a current code; this session's second factor is then satisfied."""
    store = StaffStore(services.store)
    record = await _record(services, user)
    if record.totp_enabled:
        raise Conflict("TOTP is already enabled for this account")
    if not record.totp_secret:
        raise Conflict("start with POST /api/v1/auth/totp/enrol")
    if not await LoginFlow(services, config).check_code(record, code):
        raise InvalidInput("that code is not valid; enter the current code", code="totp_invalid")
    await store.set_totp(user.id, record.totp_secret, enabled=True)
    if user.session_id:
        await store.satisfy_mfa(user.session_id, config.now())
    await audited.action(
        services.store, "staff.totp_enabled", by=user, target=f"staff:{user.id}", ip=ip
    )
