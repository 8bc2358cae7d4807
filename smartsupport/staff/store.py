"""The staff tables (migration 0003) through the store's shared-SQL helper.

Plain queries, one method each; every policy decision (lockout length, timeouts) is made
by the caller and passed in, so this module holds no clock and no settings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from smartsupport.ids import new_id
from smartsupport.staff.models import Role, StaffRecord
from smartsupport.storage.base import SqlDatabase, SqlExecutor, Store

_USER_COLUMNS = (
    "id, email, name, role, password_hash, totp_secret, totp_enabled, totp_last_step, "
    "failed_logins, locked_until, disabled"
)


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


class StaffStore:
    def __init__(self, store: Store) -> None:
        self.db = cast(SqlDatabase, store)

    # -- users ---------------------------------------------------------------------------
    async def _with_workspaces(self, rows: list[dict[str, Any]]) -> list[StaffRecord]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        links = await self.db.fetch(
            f"SELECT staff_id, workspace_id FROM staff_workspaces WHERE staff_id IN ({_marks(ids)})"
            " ORDER BY workspace_id",
            *ids,
        )
        by_user: dict[str, list[str]] = {i: [] for i in ids}
        for link in links:
            by_user[link["staff_id"]].append(link["workspace_id"])
        return [StaffRecord(**row, workspaces=by_user[row["id"]]) for row in rows]

    async def get_user(self, user_id: str) -> StaffRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM staff_users WHERE id = ?", user_id
        )
        return (await self._with_workspaces([row]))[0] if row else None

    async def get_user_by_email(self, email: str) -> StaffRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM staff_users WHERE email = ?", email.strip().lower()
        )
        return (await self._with_workspaces([row]))[0] if row else None

    async def create_user(
        self,
        *,
        email: str,
        name: str,
        role: Role,
        workspaces: list[str],
        password_hash: str,
        now: datetime,
    ) -> StaffRecord:
        """Raises Conflict when the email is taken."""
        user_id = new_id()
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO staff_users (id, email, name, role, password_hash, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                user_id,
                email.strip().lower(),
                name,
                role,
                password_hash,
                now,
                now,
            )
            for workspace in sorted(set(workspaces)):
                await tx.execute(
                    "INSERT INTO staff_workspaces (staff_id, workspace_id) VALUES (?, ?)",
                    user_id,
                    workspace,
                )
        record = await self.get_user(user_id)
        assert record is not None
        return record

    async def list_users(self, workspaces: list[str] | None = None) -> list[StaffRecord]:
        """Every user, or those belonging to at least one of ``workspaces``."""
        if workspaces is None:
            rows = await self.db.fetch(f"SELECT {_USER_COLUMNS} FROM staff_users ORDER BY email")
        elif not workspaces:
            return []
        else:
            rows = await self.db.fetch(
                f"SELECT {_USER_COLUMNS} FROM staff_users WHERE id IN (SELECT staff_id FROM"
                f" staff_workspaces WHERE workspace_id IN ({_marks(workspaces)})) ORDER BY email",
                *workspaces,
            )
        return await self._with_workspaces(rows)

    async def set_disabled(self, user_id: str, disabled: bool, now: datetime) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE staff_users SET disabled = ?, failed_logins = 0, locked_until = NULL,"
                " updated_at = ? WHERE id = ?",
                disabled,
                now,
                user_id,
            )
            if disabled:
                await _revoke_user_sessions(tx, user_id, now, "disabled")

    async def set_role(self, user_id: str, role: Role, now: datetime) -> None:
        """Change the role and end the user's sessions, so the new role (and its MFA policy)
        applies from the next sign-in rather than to a session started under the old one."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE staff_users SET role = ?, updated_at = ? WHERE id = ?", role, now, user_id
            )
            await _revoke_user_sessions(tx, user_id, now, "role_changed")

    async def set_password(self, user_id: str, password_hash: str, now: datetime) -> None:
        """Replace the password, clear the lockout and end every session of the user."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE staff_users SET password_hash = ?, failed_logins = 0,"
                " locked_until = NULL, updated_at = ? WHERE id = ?",
                password_hash,
                now,
                user_id,
            )
            await _revoke_user_sessions(tx, user_id, now, "password_changed")

    async def record_failure(
        self, user_id: str, now: datetime, max_failures: int, locked_until: datetime
    ) -> bool:
        """Count a failed login; lock the account when it reaches ``max_failures``.
        Returns True when this failure locked it."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE staff_users SET failed_logins = failed_logins + 1 WHERE id = ?", user_id
            )
            locked = await tx.execute(
                "UPDATE staff_users SET locked_until = ?, failed_logins = 0"
                " WHERE id = ? AND failed_logins >= ?",
                locked_until,
                user_id,
                max_failures,
            )
        return locked > 0

    async def record_success(self, user_id: str, new_hash: str | None = None) -> None:
        await self.db.execute(
            "UPDATE staff_users SET failed_logins = 0, locked_until = NULL,"
            " password_hash = COALESCE(?, password_hash) WHERE id = ?",
            new_hash,
            user_id,
        )

    async def set_totp(self, user_id: str, encrypted: str | None, enabled: bool) -> None:
        await self.db.execute(
            "UPDATE staff_users SET totp_secret = ?, totp_enabled = ? WHERE id = ?",
            encrypted,
            enabled,
            user_id,
        )

    async def spend_totp_step(self, user_id: str, step: int) -> bool:
        """Mark ``step`` used. False when it (or a later one) was already used: a replay,
        possibly a concurrent one, which the conditional update catches atomically."""
        changed = await self.db.execute(
            "UPDATE staff_users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
            step,
            user_id,
            step,
        )
        return changed > 0

    # -- sessions ------------------------------------------------------------------------
    async def create_session(
        self,
        user_id: str,
        *,
        session_id: str,
        now: datetime,
        expires_at: datetime,
        refresh_hash: str,
        client_ip: str | None,
        user_agent: str | None,
        method: str = "password",
        mfa_at: datetime | None = None,
    ) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO staff_sessions (id, staff_id, created_at, last_seen_at, expires_at,"
                " client_ip, user_agent, method, mfa_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                session_id,
                user_id,
                now,
                now,
                expires_at,
                client_ip,
                (user_agent or "")[:300],
                method,
                mfa_at,
            )
            await tx.execute(
                "INSERT INTO staff_refresh_tokens (token_hash, session_id, created_at)"
                " VALUES (?, ?, ?)",
                refresh_hash,
                session_id,
                now,
            )

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        return await self.db.fetchrow(
            "SELECT id, staff_id, created_at, last_seen_at, expires_at, revoked_at, method,"
            " mfa_at FROM staff_sessions WHERE id = ?",
            session_id,
        )

    async def satisfy_mfa(self, session_id: str, now: datetime) -> None:
        """The session's second factor is done (a TOTP enrolment was just confirmed)."""
        await self.db.execute(
            "UPDATE staff_sessions SET mfa_at = ? WHERE id = ? AND mfa_at IS NULL",
            now,
            session_id,
        )

    async def touch_session(self, session_id: str, now: datetime) -> None:
        await self.db.execute(
            "UPDATE staff_sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?",
            now,
            session_id,
            now,
        )

    async def revoke_session(self, session_id: str, now: datetime, why: str) -> None:
        await self.db.execute(
            "UPDATE staff_sessions SET revoked_at = ?, revoked_why = ?"
            " WHERE id = ? AND revoked_at IS NULL",
            now,
            why,
            session_id,
        )

    async def rotate_refresh(
        self, session_id: str, old_hash: str, new_hash: str, now: datetime
    ) -> str:
        """Spend ``old_hash`` and store ``new_hash``. Returns 'ok', 'unknown' (never issued
        for this session) or 'reused' (already spent: the session is revoked)."""
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT session_id, used_at FROM staff_refresh_tokens WHERE token_hash = ?",
                old_hash,
            )
            if row is None or row["session_id"] != session_id:
                return "unknown"
            spent = await tx.execute(
                "UPDATE staff_refresh_tokens SET used_at = ?"
                " WHERE token_hash = ? AND used_at IS NULL",
                now,
                old_hash,
            )
            if not spent:
                await tx.execute(
                    "UPDATE staff_sessions SET revoked_at = ?, revoked_why = 'refresh_reuse'"
                    " WHERE id = ? AND revoked_at IS NULL",
                    now,
                    session_id,
                )
                return "reused"
            await tx.execute(
                "INSERT INTO staff_refresh_tokens (token_hash, session_id, created_at)"
                " VALUES (?, ?, ?)",
                new_hash,
                session_id,
                now,
            )
        return "ok"

    # -- API keys ------------------------------------------------------------------------
    async def create_api_key(
        self,
        *,
        prefix: str,
        key_hash: str,
        name: str,
        workspace_id: str,
        scopes: list[str],
        created_by: str | None,
        now: datetime,
        expires_at: datetime | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> dict[str, Any]:
        key_id = new_id()
        await self.db.execute(
            "INSERT INTO staff_api_keys (id, prefix, key_hash, name, workspace_id, scopes,"
            " created_by, created_at, expires_at, rate_limit_per_minute)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            key_id,
            prefix,
            key_hash,
            name,
            workspace_id,
            scopes,
            created_by,
            now,
            expires_at,
            rate_limit_per_minute,
        )
        row = await self.get_api_key(key_id)
        assert row is not None
        return row

    async def get_api_key(self, key_id: str) -> dict[str, Any] | None:
        return await self.db.fetchrow(
            "SELECT id, prefix, key_hash, name, workspace_id, scopes, created_by, created_at,"
            " last_used_at, revoked_at, expires_at, rate_limit_per_minute"
            " FROM staff_api_keys WHERE id = ?",
            key_id,
        )

    async def get_api_key_by_prefix(self, prefix: str) -> dict[str, Any] | None:
        return await self.db.fetchrow(
            "SELECT id, prefix, key_hash, name, workspace_id, scopes, created_by, last_used_at,"
            " revoked_at, expires_at, rate_limit_per_minute FROM staff_api_keys WHERE prefix = ?",
            prefix,
        )

    async def list_api_keys(self, workspaces: list[str] | None = None) -> list[dict[str, Any]]:
        columns = (
            "id, prefix, name, workspace_id, scopes, created_by, created_at, last_used_at,"
            " revoked_at, expires_at, rate_limit_per_minute"
        )
        if workspaces is None:
            return await self.db.fetch(f"SELECT {columns} FROM staff_api_keys ORDER BY created_at")
        if not workspaces:
            return []
        return await self.db.fetch(
            f"SELECT {columns} FROM staff_api_keys WHERE workspace_id IN ({_marks(workspaces)})"
            " ORDER BY created_at",
            *workspaces,
        )

    async def revoke_api_key(self, key_id: str, now: datetime) -> None:
        await self.db.execute(
            "UPDATE staff_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            now,
            key_id,
        )

    async def touch_api_key(self, key_id: str, now: datetime) -> None:
        await self.db.execute(
            "UPDATE staff_api_keys SET last_used_at = ? WHERE id = ?", now, key_id
        )


async def _revoke_user_sessions(tx: SqlExecutor, user_id: str, now: datetime, why: str) -> None:
    await tx.execute(
        "UPDATE staff_sessions SET revoked_at = ?, revoked_why = ?"
        " WHERE staff_id = ? AND revoked_at IS NULL",
        now,
        why,
        user_id,
    )
