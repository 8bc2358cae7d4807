"""Online backup and restore of the embedded SQLite database.

    backup(database_url, path)    copy the live database to ``path`` with SQLite's backup
                                  API while servers keep running; the file is created 0600
                                  and never overwrites an existing one
    restore(database_url, path)   check the backup (a SQLite database, intact, a schema this
                                  release knows), then copy it over the database, refusing
                                  while any process has the database open

PostgreSQL is backed up with its own tools (``pg_dump -Fc`` / ``pg_restore``), documented and
tested in docs/deployment.md and tests/test_backup.py; these functions say so when handed a
PostgreSQL URL.

The copies run on SQLite's own backup API, never a file copy: a plain copy of a database in
WAL mode can miss the commits still in the ``-wal`` file, or mix two states of it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from smartsupport.errors import BackendError, ConfigurationError
from smartsupport.storage.migrator import discover, newer_than_code
from smartsupport.storage.sqlite_sql import BUSY_TIMEOUT_MS, MEMORY, parse_url

PRIVATE = 0o600  # a backup holds every conversation: readable by its owner only


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    schema_version: int
    size_bytes: int
    pending: tuple[int, ...] = ()  # after a restore: the migrations this release would add


def backup(database_url: str, path: str | os.PathLike[str]) -> BackupInfo:
    """Copy the live database to a new file at ``path`` (a consistent snapshot, taken while
    servers keep writing)."""
    source_path = _database_path(database_url, "backup")
    target = Path(path)
    if target.exists():
        raise ConfigurationError(f"{target} already exists; name a new backup file.")
    if not target.parent.is_dir():
        raise ConfigurationError(f"The directory {target.parent} does not exist.")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _create_private(partial)
    try:
        with _connect(_uri(source_path), uri=True) as source:
            with _connect(str(partial)) as copy:
                # pages=-1 copies everything inside one read transaction: one snapshot.
                source.backup(copy)
                # A self-contained file: no -wal beside it to forget when it is moved.
                copy.execute("PRAGMA journal_mode = DELETE")
                _check_intact(copy, str(target))
                version = max(_applied_versions(copy), default=0)
        try:
            os.link(partial, target)  # unlike a rename, never replaces a file made meanwhile
        except FileExistsError:
            raise ConfigurationError(f"{target} already exists; name a new backup file.") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(target, version, target.stat().st_size)


def restore(database_url: str, path: str | os.PathLike[str]) -> BackupInfo:
    """Replace the database with the backup at ``path``. Refuses a backup of a schema newer
    than this release, and refuses while a server (any process) has the database open."""
    target_path = _database_path(database_url, "restore")
    source = Path(path)
    if not source.is_file():
        raise ConfigurationError(f"No backup file at {source}.")
    with _connect(_uri(str(source), mode="ro"), uri=True) as backup_db:
        _check_intact(backup_db, str(source))
        applied = _applied_versions(backup_db)
        version = max(applied, default=0)
        newer = newer_than_code("sqlite", version)
        if newer is not None:
            raise BackendError(f"Refusing to restore {source}: in the backup {newer}.")
        if not Path(target_path).exists():
            Path(target_path).parent.mkdir(parents=True, exist_ok=True)
            _create_private(Path(target_path))
        with _connect(target_path) as live, _exclusive(live, target_path):
            backup_db.backup(live)
    pending = tuple(m.version for m in discover("sqlite") if m.version not in applied)
    return BackupInfo(source, version, source.stat().st_size, pending)


def _uri(path: str, mode: str = "rw") -> str:
    """A ``file:`` URI (any character in the path escaped); ``rw`` never creates a file."""
    return f"{Path(path).resolve().as_uri()}?mode={mode}"


def _database_path(database_url: str, action: str) -> str:
    if not database_url.startswith("sqlite:"):
        raise ConfigurationError(
            f"smartsupport {action} works on the embedded SQLite database; the configured "
            "database is PostgreSQL: use pg_dump -Fc / pg_restore (docs/deployment.md)."
        )
    path = parse_url(database_url)
    if path == MEMORY:
        raise ConfigurationError(f"An in-memory database has nothing to {action}.")
    if action == "backup" and not Path(path).is_file():
        raise ConfigurationError(
            f"No database at {path}; check SMARTSUPPORT_DATABASE_URL / SMARTSUPPORT_DATA_DIR."
        )
    return path


@contextlib.contextmanager
def _connect(database: str, *, uri: bool = False) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(
            database, uri=uri, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as exc:
        raise BackendError(f"Cannot open {database}: {exc}") from exc
    try:
        yield conn
    except sqlite3.Error as exc:
        raise BackendError(f"SQLite failed on {database}: {exc}") from exc
    finally:
        conn.close()


@contextlib.contextmanager
def _exclusive(conn: sqlite3.Connection, path: str) -> Iterator[None]:
    """Hold the database alone for the restore. A server's connection (WAL mode) keeps a
    shared lock on the file while it is open, so this fails at once while one runs."""
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    try:
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")  # the lock stays: exclusive locking mode keeps it until close
    except sqlite3.OperationalError as exc:
        raise BackendError(
            f"Refusing to restore: {path} is in use by another process ({exc}). Stop every "
            "smartsupport server and worker using it, then run the restore again."
        ) from exc
    yield


def _check_intact(conn: sqlite3.Connection, name: str) -> None:
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackendError(f"{name} is not a SQLite database: {exc}") from exc
    if verdict != "ok":
        raise BackendError(f"{name} is damaged (SQLite quick_check: {verdict}).")


def _applied_versions(conn: sqlite3.Connection) -> set[int]:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if has_table is None:
        raise BackendError("This is not a smartsupport database (no schema_migrations table).")
    return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}


def _create_private(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)  # whatever the umask
    finally:
        os.close(fd)
