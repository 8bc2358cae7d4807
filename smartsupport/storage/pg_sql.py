"""The PostgreSQL side of the shared-SQL helper (``?`` placeholders, JSON codecs, asyncpg
errors translated into smartsupport errors) and the migration runner."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from smartsupport.errors import (
    BackendError,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    SmartsupportError,
)
from smartsupport.storage.base import SqlExecutor
from smartsupport.storage.migrator import Migration

# pg_advisory_lock(class, object): our class, and a hash of the schema being migrated, so
# two schemas in one database migrate independently.
MIGRATION_LOCK = 0x5350_5254

# Quoted literals, quoted identifiers, comments, dollar-quoted bodies, or a lone "?".
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|(\$[A-Za-z_]*\$).*?\1|\?""",
    re.DOTALL,
)


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """Rewrite ``?`` placeholders to ``$1..$n``, leaving ``?`` inside literals, quoted
    identifiers, comments and dollar-quoted strings alone."""
    counter = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    return _TOKENS.sub(replace, sql)


async def init_connection(conn: asyncpg.Connection) -> None:
    """Pool ``init``: JSON columns travel as Python objects, like on SQLite."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            encoder=functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":")),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def keep_session(conn: asyncpg.Connection) -> None:
    """Pool ``reset``: nothing. asyncpg's default sends ``RESET ALL; UNLISTEN *; ...`` every
    time a connection goes back to the pool, a second round trip for each call. Our
    connections keep no session state to undo: no LISTEN, SET or cursors outside
    transactions, and the migration lock is released before the connection is. asyncpg
    still rolls back a transaction left open, without a round trip when there is none."""


# Errors that mean "the server cannot be reached or the connection died", not "bad query".
UNREACHABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    # A restart or failover: "terminating connection due to administrator command" (57P01),
    # a crash shutdown, and writes reaching a server that is now a read-only standby.
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ReadOnlySQLTransactionError,
)


def translate(exc: BaseException, *, conflict: str = "", missing: str = "") -> SmartsupportError:
    """The smartsupport error for an asyncpg (or socket) error; raise it ``from exc``."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Conflict(conflict or f"Already exists ({exc.detail or exc}).")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return NotFound(missing or f"Refers to a row that does not exist ({exc.detail or exc}).")
    if isinstance(exc, UNREACHABLE):
        return BackendUnavailable(f"PostgreSQL is unreachable: {exc!r}")
    if isinstance(exc, UNSTORABLE):
        # A bad value, not an outage: the edge refuses these first (limits.py); this keeps
        # one that slips past from being reported as 503 "a backend is unavailable".
        return InvalidInput("a value cannot be stored: out of range or an invalid character")
    return BackendError(f"PostgreSQL error: {exc}")


# Class 22 errors from the server (NUL in text, numeric out of range, invalid JSON such as
# Infinity) and asyncpg's own refusal to encode an argument (an int above 2^31 for INTEGER).
UNSTORABLE = (asyncpg.DataError, asyncpg.exceptions._base.DataError)


DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, *UNREACHABLE)


def _rowcount(status: str) -> int:
    # asyncpg returns the command tag, e.g. "UPDATE 3" or "INSERT 0 1".
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgExecutor(SqlExecutor):
    """The helper's statements on one connection (a pooled one, or a transaction's)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            return _rowcount(await self._conn.execute(numbered(sql), *args))
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            # asyncpg runs executemany atomically.
            await self._conn.executemany(numbered(sql), list(rows))
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        try:
            return [dict(r) for r in await self._conn.fetch(numbered(sql), *args)]
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        try:
            row = await self._conn.fetchrow(numbered(sql), *args)
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return dict(row) if row is not None else None


@asynccontextmanager
async def pool_transaction(pool: asyncpg.Pool) -> AsyncIterator[SqlExecutor]:
    try:
        conn = await pool.acquire()
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc
    try:
        transaction = conn.transaction()
        try:
            await transaction.start()
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        try:
            yield PgExecutor(conn)
        except BaseException:
            # A failed rollback means a dead connection (the pool discards it); the
            # caller's error is the one worth seeing.
            with contextlib.suppress(*DRIVER_ERRORS):
                await transaction.rollback()
            raise
        else:
            try:
                await transaction.commit()
            except DRIVER_ERRORS as exc:
                raise translate(exc) from exc
    finally:
        await pool.release(conn)


async def pg_migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[int]:
    """Apply the missing ``migrations`` in order, each in its own transaction. A session
    advisory lock makes a second process starting at the same time wait, then find
    nothing left to do."""
    applied_now = []
    lock = "(?, hashtext(coalesce(current_schema(), '')))"
    await conn.execute(numbered(f"SELECT pg_advisory_lock{lock}"), MIGRATION_LOCK)
    try:
        applied = await applied_versions(conn)
        for migration in migrations:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied_now.append(migration.version)
    finally:
        with contextlib.suppress(*DRIVER_ERRORS):
            await conn.execute(numbered(f"SELECT pg_advisory_unlock{lock}"), MIGRATION_LOCK)
    return applied_now


async def applied_versions(conn: asyncpg.Connection) -> set[int]:
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return set()
    return {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
