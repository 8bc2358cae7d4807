"""Staff sessions: start one at login, check it on every request, rotate its refresh token,
end it at logout, after inactivity or at its absolute expiry.

The JWT alone is never trusted: every request also reads the session row and the user, so
logout, a disabled account or a role change takes effect at once, not when a token expires.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from smartsupport.errors import Unauthorized
from smartsupport.ids import new_id
from smartsupport.services import Services
from smartsupport.staff import tokens
from smartsupport.staff.config import StaffConfig
from smartsupport.staff.models import StaffRecord, StaffUser
from smartsupport.staff.store import StaffStore

log = logging.getLogger("smartsupport.staff")


@dataclass(frozen=True, slots=True)
class IssuedSession:
    user: StaffUser
    session_id: str
    access_token: str
    refresh_token: str


class StaffSessions:
    def __init__(self, services: Services, config: StaffConfig) -> None:
        self.store = StaffStore(services.store)
        self.secret = services.secret_key
        self.config = config

    def _access(self, user_id: str, session_id: str) -> str:
        return tokens.issue_jwt(
            self.secret,
            "access",
            user_id,
            self.config.timestamp(),
            self.config.access_ttl_seconds,
            sid=session_id,
        )

    async def start(
        self,
        record: StaffRecord,
        client_ip: str | None,
        user_agent: str | None,
        *,
        method: str = "password",
        mfa: bool = False,
    ) -> IssuedSession:
        """``mfa``: the second factor was satisfied during this sign-in (a TOTP code, or the
        provider's amr/acr claim for ``method`` 'sso')."""
        now = self.config.now()
        # The session id is inside the refresh token, so it is made here, before the row.
        session_id = new_id()
        refresh = tokens.new_refresh_token(session_id)
        await self.store.create_session(
            record.id,
            session_id=session_id,
            now=now,
            expires_at=now + timedelta(seconds=self.config.session_ttl_seconds),
            refresh_hash=tokens.sha256(refresh),
            client_ip=client_ip,
            user_agent=user_agent,
            method=method,
            mfa_at=now if mfa else None,
        )
        return IssuedSession(
            record.public(session_id, mfa), session_id, self._access(record.id, session_id), refresh
        )

    async def _live_session(
        self, session_id: str, user_id: str | None, *, activity: bool = True
    ) -> tuple[StaffRecord, bool]:
        """The user of a session that is neither revoked, expired nor idle; ``activity``
        resets the inactivity timer."""
        now = self.config.now()
        session = await self.store.get_session(session_id)
        if session is None or (user_id is not None and session["staff_id"] != user_id):
            raise Unauthorized("not logged in", code="not_authenticated")
        if session["revoked_at"] is not None:
            raise Unauthorized("the session has ended; log in again", code="session_ended")
        if now >= session["expires_at"]:
            await self.store.revoke_session(session_id, now, "expired")
            raise Unauthorized("the session has ended; log in again", code="session_ended")
        idle = (now - session["last_seen_at"]).total_seconds()
        if idle >= self.config.idle_timeout_seconds:
            await self.store.revoke_session(session_id, now, "idle")
            raise Unauthorized(
                "the session ended after inactivity; log in again", code="session_idle"
            )
        record = await self.store.get_user(session["staff_id"])
        if record is None or record.disabled:
            await self.store.revoke_session(session_id, now, "disabled")
            raise Unauthorized("the session has ended; log in again", code="session_ended")
        if activity and idle >= self.config.touch_every_seconds:
            await self.store.touch_session(session_id, now)
        return record, session["mfa_at"] is not None

    async def authenticate(self, access_token: str | None) -> StaffUser:
        """The user of a valid access token of a live session; Unauthorized otherwise.
        Counts as activity for the inactivity timeout."""
        claims = tokens.read_jwt(self.secret, access_token, "access", self.config.timestamp())
        session_id = str(claims.get("sid", ""))
        record, mfa = await self._live_session(session_id, str(claims["sub"]))
        return record.public(session_id, mfa)

    async def refresh(self, refresh_token: str | None) -> IssuedSession:
        """A new access token and a new refresh token; the presented one is spent.

        Presenting a spent refresh token revokes the session: either it was stolen, or the
        legitimate client already rotated it. Refreshing is not activity (a page left open
        refreshes by itself), so the inactivity timeout still applies."""
        session_id = tokens.refresh_session_id(refresh_token)
        if session_id is None or refresh_token is None:
            raise Unauthorized("not logged in", code="not_authenticated")
        # A spent token presented after the session ended is still answered with 401 here.
        record, mfa = await self._live_session(session_id, None, activity=False)
        new_refresh = tokens.new_refresh_token(session_id)
        outcome = await self.store.rotate_refresh(
            session_id,
            tokens.sha256(refresh_token),
            tokens.sha256(new_refresh),
            self.config.now(),
        )
        if outcome == "reused":
            log.warning("refresh token reused for session %s: session revoked", session_id)
            raise Unauthorized(
                "this refresh token was already used; the session was ended for safety",
                code="refresh_reused",
            )
        if outcome != "ok":
            raise Unauthorized("not logged in", code="not_authenticated")
        return IssuedSession(
            record.public(session_id, mfa),
            session_id,
            self._access(record.id, session_id),
            new_refresh,
        )

    async def end(self, session_id: str, why: str = "logout") -> None:
        await self.store.revoke_session(session_id, self.config.now(), why)
