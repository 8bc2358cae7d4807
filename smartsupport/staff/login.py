"""The login decision: rate limits, backoff, password, then the TOTP step when enrolled.

Every refusal a stranger could see reads the same (``LOGIN_FAILED``) and costs the same
time, whether the email is unknown, the password wrong, the account disabled or locked:
nothing tells an attacker which emails have accounts.

Failures slow the attacker without locking staff out. 0.1 locked an account for 15 minutes
after five wrong passwords from anywhere, which let anyone lock out a whole team by trying
their emails. Now:

* per account **and** address, from ``max_failures`` consecutive failures on, each costs an
  exponentially growing wait (30 s, 60 s, ... up to ``lockout_seconds``), which a success
  resets: a guesser at one address is slowed, the agent at another is not;
* per address, ``attempts_per_ip`` attempts per window, whatever the accounts;
* per account, ``attempts_per_account`` attempts per window from addresses that never
  signed in to it (a guesser spread over many addresses); an address where the account
  signed in during the last ``KNOWN_ADDRESS_DAYS`` is exempt, so its owner still gets in.

When a backoff starts, the audit log gets ``staff.login_throttled`` (the account and the
address); that and the per-account limit tripping also log a warning naming the account id
(never the email) and a hash of the address (docs/security.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from smartsupport import audit
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
BACKOFF_FIRST_SECONDS = 30
KNOWN_ADDRESS_DAYS = 30
log = logging.getLogger("smartsupport.staff")


def _hashed(value: str) -> str:
    """Keys and log lines name accounts and addresses by hash, never by email or address."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


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
        """The three limits of the module docstring, cheapest first. The code step counts
        apart from the password step, so one login with TOTP costs one attempt of each."""
        backplane, config = self.services.backplane, self.config
        account, address = _hashed(account), _hashed(client_ip)
        wait = await self._backoff_wait(account, address)
        if not wait:
            wait = await backplane.hit(
                f"staff:login:ip:{address}", config.attempts_per_ip, config.attempt_window_seconds
            )
        if not wait and await backplane.get(f"staff:login:known:{account}:{address}") is None:
            wait = await backplane.hit(
                f"staff:login:{step}:{account}",
                config.attempts_per_account,
                config.attempt_window_seconds,
            )
            if wait:
                log.warning(
                    "staff sign-in: too many attempts for account %s from new addresses "
                    "(latest %s); they are slowed, known addresses are not",
                    account[:12],
                    address[:12],
                )
        if wait:
            raise RateLimited(
                f"Too many sign-in attempts. Try again in {max(1, round(wait))} seconds.",
                retry_after=wait,
            )

    def _backoff_key(self, account: str, address: str) -> str:
        return f"staff:login:backoff:{account}:{address}"

    async def _backoff_wait(self, account: str, address: str) -> float:
        raw = await self.services.backplane.get(self._backoff_key(account, address))
        if raw is None:
            return 0.0
        state = json.loads(raw)
        beyond = state["failures"] - self.config.max_failures
        if beyond < 0:
            return 0.0
        delay = min(BACKOFF_FIRST_SECONDS * 2**beyond, self.config.lockout_seconds)
        return max(0.0, state["last"] + delay - self.config.timestamp())

    def _locked(self, record: StaffRecord) -> bool:
        """A lock left by 0.1's lockout; nothing sets new ones."""
        until = record.locked_until
        return until is not None and self.config.now() < until  # type: ignore[operator]

    async def _fail(self, account: str, client_ip: str, record: StaffRecord | None) -> None:
        account, address = _hashed(account), _hashed(client_ip)
        key = self._backoff_key(account, address)
        raw = await self.services.backplane.get(key)
        failures = (json.loads(raw)["failures"] if raw else 0) + 1
        state = {"failures": failures, "last": self.config.timestamp()}
        # Kept until the longest wait is over, then forgotten.
        ttl = self.config.lockout_seconds + self.config.attempt_window_seconds
        await self.services.backplane.set(key, json.dumps(state).encode(), ttl)
        if failures == self.config.max_failures:
            log.warning(
                "staff sign-in: %d failures in a row for account %s from address %s; "
                "that address now waits before each attempt",
                failures,
                record.id if record else account[:12],
                address[:12],
            )
            if record is not None:  # the admins' notice (an unknown email names no one)
                await audit.record(
                    self.services.store,
                    "staff.login_throttled",
                    actor="system",
                    target=f"staff:{record.id}",
                    ip=client_ip,
                    details={"failures": failures},
                )

    async def _succeed(self, account: str, client_ip: str) -> None:
        account, address = _hashed(account), _hashed(client_ip)
        await self.services.backplane.delete(self._backoff_key(account, address))
        await self.services.backplane.set(
            f"staff:login:known:{account}:{address}", b"1", KNOWN_ADDRESS_DAYS * 86400
        )

    async def password_step(self, email: str, password: str, client_ip: str) -> PasswordOutcome:
        email = email.strip().lower()
        await self._limit(email, client_ip)
        record = await self.store.get_user_by_email(email) if email else None
        usable = record is not None and not record.disabled and not self._locked(record)
        matches, new_hash = await passwords.verify_password(
            record.password_hash if usable and record else None, password
        )
        if record is None or not usable or not matches:
            await self._fail(email, client_ip, record)
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
        await self._succeed(email, client_ip)
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
        # Keyed by the email like the password step, so wrong codes and wrong passwords
        # from one address add up to one backoff.
        await self._limit(record.email, client_ip, "code")
        if record.disabled or self._locked(record) or not record.totp_enabled:
            raise Unauthorized(LOGIN_FAILED, code="login_failed")
        if not await self.check_code(record, code):
            await self._fail(record.email, client_ip, record)
            raise Unauthorized(CODE_FAILED, code="totp_invalid")
        await self.store.record_success(record.id)
        await self._succeed(record.email, client_ip)
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
