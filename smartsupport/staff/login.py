"""The login decision: rate limits, lockout, password, then the TOTP step when enrolled.

Every refusal a stranger could see reads the same (``LOGIN_FAILED``) and costs the same
time, whether the email is unknown, the password wrong, the account disabled or locked:
nothing tells an attacker which emails have accounts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from smartsupport.errors import RateLimited, Unauthorized
from smartsupport.services import Services
from smartsupport.staff import passwords, tokens, totp
from smartsupport.staff.config import StaffConfig
from smartsupport.staff.models import StaffRecord
from smartsupport.staff.store import StaffStore

LOGIN_FAILED = (
    "Sign-in failed: the email or password is not right. After several failed attempts "
    "sign-in is paused for a while."
)
CODE_FAILED = "That code is not valid. Enter the current 6-digit code from your authenticator app."


@dataclass(frozen=True, slots=True)
class PasswordOutcome:
    """Either the user (no second factor) or a token for the TOTP step."""

    user: StaffRecord | None = None
    mfa_token: str | None = None


class LoginFlow:
    def __init__(self, services: Services, config: StaffConfig) -> None:
        self.services = services
        self.store = StaffStore(services.store)
        self.config = config

    async def _limit(self, account: str, client_ip: str, step: str = "password") -> None:
        """Per address and per account (hashed: the key must not store the email). The
        code step counts apart, so one login with TOTP costs one attempt of each."""
        window = self.config.attempt_window_seconds
        account = hashlib.sha256(account.encode()).hexdigest()[:32]
        for key, limit in (
            (f"staff:login:ip:{client_ip}", self.config.attempts_per_ip),
            (f"staff:login:{step}:{account}", self.config.attempts_per_account),
        ):
            wait = await self.services.backplane.hit(key, limit, window)
            if wait:
                raise RateLimited(
                    f"Too many sign-in attempts. Try again in {max(1, round(wait))} seconds.",
                    retry_after=wait,
                )

    def _locked(self, record: StaffRecord) -> bool:
        until = record.locked_until
        return until is not None and self.config.now() < until  # type: ignore[operator]

    async def _fail(self, record: StaffRecord) -> None:
        now = self.config.now()
        await self.store.record_failure(
            record.id,
            now,
            self.config.max_failures,
            now + timedelta(seconds=self.config.lockout_seconds),
        )

    async def password_step(self, email: str, password: str, client_ip: str) -> PasswordOutcome:
        email = email.strip().lower()
        await self._limit(email, client_ip)
        record = await self.store.get_user_by_email(email) if email else None
        usable = record is not None and not record.disabled and not self._locked(record)
        matches, new_hash = await passwords.verify_password(
            record.password_hash if usable and record else None, password
        )
        if record is None or not usable:
            raise Unauthorized(LOGIN_FAILED, code="login_failed")
        if not matches:
            await self._fail(record)
            raise Unauthorized(LOGIN_FAILED, code="login_failed")
        if new_hash:
            await self.store.record_success(record.id, new_hash)
        if record.totp_enabled:
            # The password is right but the failure counter stays until the code is right too.
            token = tokens.issue_jwt(
                self.services.secret_key,
                "mfa",
                record.id,
                self.config.timestamp(),
                self.config.mfa_ttl_seconds,
            )
            return PasswordOutcome(mfa_token=token)
        await self.store.record_success(record.id)
        return PasswordOutcome(user=record)

    async def totp_step(self, mfa_token: str, code: str, client_ip: str) -> StaffRecord:
        try:
            claims = tokens.read_jwt(
                self.services.secret_key, mfa_token, "mfa", self.config.timestamp()
            )
        except Unauthorized:
            raise Unauthorized(
                "The sign-in step expired. Enter your email and password again.",
                code="mfa_expired",
            ) from None
        record = await self.store.get_user(str(claims["sub"]))
        if record is None:
            raise Unauthorized(LOGIN_FAILED, code="login_failed")
        await self._limit(record.id, client_ip, "code")
        if record.disabled or self._locked(record) or not record.totp_enabled:
            raise Unauthorized(LOGIN_FAILED, code="login_failed")
        if not await self.check_code(record, code):
            await self._fail(record)
            raise Unauthorized(CODE_FAILED, code="totp_invalid")
        await self.store.record_success(record.id)
        return record

    async def check_code(self, record: StaffRecord, code: str) -> bool:
        """True for a valid code of a step not used before (the step is spent)."""
        secret = (
            totp.decrypt_secret(self.services.secret_key, record.totp_secret)
            if record.totp_secret
            else None
        )
        if secret is None:
            return False
        step = totp.matching_step(secret, code, self.config.timestamp(), record.totp_last_step)
        return step is not None and await self.store.spend_totp_step(record.id, step)
