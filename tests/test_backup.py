"""Backups and upgrades: SQLite backup/restore, ``migrate --check``, and the documented
PostgreSQL procedure (pg_dump -Fc / pg_restore) run on throwaway databases."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from smartsupport.backup import backup, restore
from smartsupport.domain import Workspace, utcnow
from smartsupport.errors import BackendError, ConfigurationError
from smartsupport.storage import SqlDatabase, open_store
from smartsupport.storage.migrator import discover, latest_version, split_sqlite_script
from tests.conftest import POSTGRES_URL

LATEST = latest_version("sqlite")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartsupport", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


async def make_database(path: Path, *workspaces: str) -> None:
    store = open_store(sqlite_url(path))
    await store.connect()
    try:
        await store.migrate()
        for name in workspaces:
            await store.upsert_workspace(Workspace(id=name, name=name.title()))
    finally:
        await store.close()


async def workspace_ids(url: str) -> list[str]:
    store = open_store(url)
    await store.connect()
    try:
        return [w.id for w in await store.list_workspaces()]
    finally:
        await store.close()


def older_release_database(path: Path, keep: int) -> list[int]:
    """A database migrated by an older release: only the first ``keep`` migrations."""
    shipped = discover("sqlite")
    with sqlite3.connect(path, isolation_level=None) as conn:
        for migration in shipped[:keep]:
            for statement in split_sqlite_script(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, "2026-01-01T00:00:00+00:00"),
            )
    conn.close()
    return [m.version for m in shipped[keep:]]


async def test_backup_of_a_live_database_is_a_private_self_contained_snapshot(tmp_path):
    db = tmp_path / "live.db"
    await make_database(db, "acme")
    store = open_store(sqlite_url(db))  # a server keeps the database open and writing
    await store.connect()
    try:
        await store.upsert_workspace(Workspace(id="globex", name="Globex"))
        info = backup(sqlite_url(db), tmp_path / "snap.db")
        await store.upsert_workspace(Workspace(id="initech", name="Initech"))
    finally:
        await store.close()
    snap = tmp_path / "snap.db"
    assert info.schema_version == LATEST and info.size_bytes == snap.stat().st_size
    assert stat.S_IMODE(snap.stat().st_mode) == 0o600
    assert not (tmp_path / "snap.db-wal").exists()
    with sqlite3.connect(snap) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert await workspace_ids(sqlite_url(snap)) == ["acme", "globex"]
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


async def test_backup_never_overwrites_and_names_pg_dump_for_postgres(tmp_path):
    db = tmp_path / "live.db"
    await make_database(db)
    (tmp_path / "taken.db").write_text("keep me")
    with pytest.raises(ConfigurationError, match="already exists"):
        backup(sqlite_url(db), tmp_path / "taken.db")
    assert (tmp_path / "taken.db").read_text() == "keep me"
    with pytest.raises(ConfigurationError, match="pg_dump"):
        backup("postgresql://u@localhost/db", tmp_path / "x.db")
    with pytest.raises(ConfigurationError, match="No database"):
        backup(sqlite_url(tmp_path / "missing.db"), tmp_path / "x.db")


async def test_cli_backup_then_restore_brings_back_the_backed_up_state(tmp_path):
    env = {"SMARTSUPPORT_DATA_DIR": str(tmp_path / "data")}
    db = tmp_path / "data" / "smartsupport.db"
    db.parent.mkdir()
    await make_database(db, "acme")
    made = run("backup", str(tmp_path / "nightly.db"), env=env)
    assert made.returncode == 0, made.stderr
    assert f"schema version {LATEST}" in made.stdout
    await make_database(db, "added-after-the-backup")
    restored = run("restore", str(tmp_path / "nightly.db"), env=env)
    assert restored.returncode == 0, restored.stderr
    assert await workspace_ids(sqlite_url(db)) == ["acme"]
    assert run("migrate", "--check", env=env).returncode == 0


async def test_restore_is_refused_while_a_server_holds_the_database(tmp_path):
    env = {"SMARTSUPPORT_DATA_DIR": str(tmp_path)}
    db = tmp_path / "smartsupport.db"
    await make_database(db, "acme")
    backup(sqlite_url(db), tmp_path / "b.db")
    store = open_store(sqlite_url(db))
    await store.connect()
    try:
        await store.ping()
        refused = run("restore", str(tmp_path / "b.db"), env=env)
        assert refused.returncode == 2
        assert "in use by another process" in refused.stderr
        assert "Stop every smartsupport server" in refused.stderr
        await store.upsert_workspace(Workspace(id="still-writable", name="x"))
    finally:
        await store.close()
    assert await workspace_ids(sqlite_url(db)) == ["acme", "still-writable"]


async def test_restore_refuses_a_backup_of_a_newer_schema_and_changes_nothing(tmp_path):
    db = tmp_path / "live.db"
    await make_database(db, "acme")
    backup(sqlite_url(db), tmp_path / "future.db")
    with sqlite3.connect(tmp_path / "future.db") as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "VALUES (9001, 'from_the_future', '2030-01-01T00:00:00+00:00')"
        )
    conn.close()
    await make_database(db, "globex")
    with pytest.raises(BackendError) as refused:
        restore(sqlite_url(db), tmp_path / "future.db")
    assert "version 9001" in str(refused.value)
    assert f"up to {LATEST:04d}" in str(refused.value)
    assert await workspace_ids(sqlite_url(db)) == ["acme", "globex"]


async def test_restore_refuses_files_that_are_not_smartsupport_backups(tmp_path):
    db = tmp_path / "live.db"
    await make_database(db)
    (tmp_path / "notes.txt").write_text("not a database at all, " * 200)
    with pytest.raises(BackendError, match="not a SQLite database"):
        restore(sqlite_url(db), tmp_path / "notes.txt")
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(BackendError, match="not a smartsupport database"):
        restore(sqlite_url(db), tmp_path / "other.db")
    with pytest.raises(ConfigurationError, match="No backup file"):
        restore(sqlite_url(db), tmp_path / "missing.db")


async def test_restoring_an_older_release_backup_lists_the_migrations_to_run(tmp_path):
    env = {"SMARTSUPPORT_DATA_DIR": str(tmp_path / "data")}
    older = tmp_path / "release-0.1.db"
    missing = older_release_database(older, keep=2)
    restored = run("restore", str(older), env=env)  # into a new, not yet existing database
    assert restored.returncode == 0, restored.stderr
    assert f"pending migrations {missing}" in restored.stdout
    db = tmp_path / "data" / "smartsupport.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    behind = run("migrate", "--check", env=env)
    assert behind.returncode == 1
    names = [f"{m.version:04d}_{m.name}" for m in discover("sqlite")[2:]]
    assert f"pending migrations: {', '.join(names)}" in behind.stdout
    assert run("migrate", env=env).returncode == 0
    assert run("migrate", "--check", env=env).returncode == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "x.db")
    return str(request.getfixturevalue("postgres_url"))


async def test_migrate_check_reports_pending_current_and_newer_than_the_code(url, tmp_path):
    env = {"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_DATABASE_URL": url}
    fresh = run("migrate", "--check", env=env)
    assert fresh.returncode == 1, fresh.stderr
    assert "0001_initial" in fresh.stdout and "smartsupport migrate" in fresh.stdout
    assert run("migrate", env=env).returncode == 0
    current = run("migrate", "--check", env=env)
    assert (current.returncode, current.stdout.strip()) == (
        0,
        f"schema version {LATEST}; up to date",
    )
    store = open_store(url)
    assert isinstance(store, SqlDatabase)
    await store.connect()
    try:  # a newer release migrated this database (the old code is still rolling out)
        await store.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            9001,
            "future",
            utcnow(),
        )
    finally:
        await store.close()
    newer = run("migrate", "--check", env=env)
    assert newer.returncode == 3
    assert "version 9001, newer than this release" in newer.stderr
    assert f"up to {LATEST:04d}" in newer.stderr


# -- PostgreSQL: the documented pg_dump / pg_restore procedure (docs/deployment.md) ---------


def postgres_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is required (Debian: postgresql-client); scripts/test installs it")
    return found


def database_url(name: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
async def throwaway_databases():
    """Two new databases on the test server (never the shared ``test`` one), dropped after."""
    import asyncpg

    names = [f"ss_backup_{uuid.uuid4().hex[:10]}", f"ss_restore_{uuid.uuid4().hex[:10]}"]
    admin = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        yield [database_url(name) for name in names]
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_postgres_pg_dump_and_pg_restore_round_trip(tmp_path, throwaway_databases):
    source_url, target_url = throwaway_databases
    store = open_store(source_url)
    await store.connect()
    try:
        await store.migrate()
        await store.upsert_workspace(Workspace(id="acme", name="Acme", config={"k": [1, 2]}))
    finally:
        await store.close()
    dump = tmp_path / "smartsupport.dump"
    # The commands of docs/deployment.md, verbatim apart from the URLs.
    await asyncio.to_thread(
        subprocess.run,
        [postgres_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={dump}", source_url],
        check=True,
        timeout=120,
    )
    await asyncio.to_thread(
        subprocess.run,
        [
            postgres_tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={target_url}",
            str(dump),
        ],
        check=True,
        timeout=120,
    )
    store = open_store(target_url)
    await store.connect()
    try:
        restored = await store.get_workspace("acme")
        assert restored is not None and restored.config == {"k": [1, 2]}
    finally:
        await store.close()
    env = {"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_DATABASE_URL": target_url}
    checked = run("migrate", "--check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
