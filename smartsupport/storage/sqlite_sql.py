"""The SQLite side of the shared-SQL helper: opening the connection, converting values both
ways, translating driver errors, and the small jobs ``SqlDatabase`` calls run on the thread.

Values: ``datetime`` parameters are stored as ISO-8601 UTC text with microseconds (it sorts
in time order), ``dict``/``list`` as JSON text. Reading back, columns declared ``JSON``,
``TIMESTAMPTZ`` or ``BOOLEAN`` are converted to Python, so callers see the same types as
on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from smartsupport.errors import (
    BackendError,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    NotFound,
    SmartsupportError,
)
from smartsupport.storage.records import as_utc

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 5000


def parse_url(url: str) -> str:
    """``sqlite:///relative.db`` -> ``relative.db``, ``sqlite:////abs.db`` -> ``/abs.db``,
    ``sqlite://:memory:`` (or ``sqlite:///:memory:``) -> ``:memory:``."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise ConfigurationError(f"Not a SQLite URL: {url!r}")
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"SQLite URLs take no query string: {url!r}. Use sqlite:///path/to/file.db."
        )
    rest = url[len("sqlite://") :]
    path = rest[1:] if rest.startswith("/") else rest
    if not path:
        raise ConfigurationError(
            f"The SQLite URL {url!r} names no file. Use sqlite:///relative/file.db or "
            "sqlite:////absolute/file.db."
        )
    return path


def _owner_only(path: str) -> None:
    """Create the database file readable by its owner only (0600), and tighten an older
    one: it holds customers' messages. SQLite gives its -wal and -shm files the database
    file's mode, so they follow."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def open_connection(path: str) -> sqlite3.Connection:
    """Open and configure the one connection (called on the SQLite thread)."""
    # Global, but only connections opened with detect_types use them, and only for columns
    # declared with these names.
    sqlite3.register_converter("JSON", json.loads)
    sqlite3.register_converter("TIMESTAMPTZ", _parse_timestamp)
    sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))
    if path != MEMORY:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _owner_only(path)
    conn = sqlite3.connect(
        path,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        detect_types=sqlite3.PARSE_DECLTYPES,
        check_same_thread=False,  # opened here, used here, closed here; the check is noise
        cached_statements=256,
    )
    try:
        conn.row_factory = _dict_row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL loses at most the last commits on power loss, never integrity.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def timestamp(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="microseconds")


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def adapt(args: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(_adapt_one(value) for value in args)


def _adapt_one(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, dict | list):
        return to_json(value)
    return value


def _parse_timestamp(raw: bytes) -> datetime:
    return as_utc(datetime.fromisoformat(raw.decode()))


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def translate(exc: sqlite3.Error, *, conflict: str = "", missing: str = "") -> SmartsupportError:
    """The smartsupport error for a sqlite3 error (the caller raises it ``from exc``)."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE" in text or "PRIMARY KEY" in text:
            return Conflict(conflict or f"Already exists ({text}).")
        if "FOREIGN KEY" in text:
            return NotFound(missing or f"Refers to a row that does not exist ({text}).")
    if isinstance(exc, sqlite3.OperationalError):
        if "unable to open" in text or "disk I/O" in text or "readonly" in text:
            return BackendUnavailable(f"SQLite database unusable: {text}")
        if "locked" in text or "busy" in text:
            return BackendError(f"SQLite database stayed locked for {BUSY_TIMEOUT_MS} ms: {text}")
    return BackendError(f"SQLite error: {text}")


class write:
    """``with write(conn):`` one IMMEDIATE transaction (takes the write lock up front, so
    two processes never deadlock upgrading a read to a write). Inside a transaction that
    is already open (a group commit or a helper transaction) it adds nothing: the caller
    there already made the job atomic with a savepoint."""

    __slots__ = ("conn", "own")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.own = False

    def __enter__(self) -> sqlite3.Connection:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.own = True
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self.own:
            return
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


# -- jobs for the SqlDatabase helper (run on the SQLite thread) ------------------------------
def job_begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def job_commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def job_rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def job_execute(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
    cursor = conn.execute(sql, adapt(args))
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def job_executemany(conn: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    params = [adapt(row) for row in rows]
    if conn.in_transaction:
        conn.executemany(sql, params)
    else:
        with write(conn):
            conn.executemany(sql, params)


def job_fetch(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = conn.execute(sql, adapt(args)).fetchall()
    return rows


def job_fetchrow(
    conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]
) -> dict[str, Any] | None:
    cursor = conn.execute(sql, adapt(args))
    try:
        row: dict[str, Any] | None = cursor.fetchone()
        return row
    finally:
        cursor.close()  # an unfinished SELECT would keep a read transaction open
