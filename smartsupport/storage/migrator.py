"""Schema migrations shipped as numbered SQL files, one directory per dialect.

``migrations/<dialect>/NNNN_name.sql`` files are applied in version order, each in its own
transaction together with its row in ``schema_migrations``. The runner knows nothing about
any particular file: a feature adds its tables by shipping the next number for both
dialects. The backends do the applying (each has its own locking); this module only finds
and validates the files.

Both dialects ship the same versions (tests/test_storage.py checks). There is no 0004: the
number was skipped during 0.1 development and no file with it was ever committed. Databases
record the versions they applied, not a count, so a gap is harmless; numbers are never
reused, so the gap stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from smartsupport.errors import ConfigurationError

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def discover(dialect: str) -> list[Migration]:
    """Every migration shipped for ``dialect``, sorted by version."""
    folder = resources.files("smartsupport.storage").joinpath("migrations", dialect)
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILENAME.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            # Two engineers picking the same number must fail loudly, not apply one at random.
            raise ConfigurationError(
                f"Two {dialect} migrations share version {version:04d}: "
                f"{found[version].name} and {match.group(2)}. Renumber one of them."
            )
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def latest_version(dialect: str) -> int:
    """The highest migration version this release ships for ``dialect``."""
    return max((m.version for m in discover(dialect)), default=0)


def newer_than_code(dialect: str, schema_version: int) -> str | None:
    """Why a database at ``schema_version`` is ahead of this release, or None when it is not.

    Old code against a newer schema is normal during a rolling upgrade (migrations are
    additive first, destructive later: docs/deployment.md), but never a state to restore
    into or to stay in."""
    latest = latest_version(dialect)
    if schema_version <= latest:
        return None
    return (
        f"the database schema is version {schema_version:04d}, newer than this release of "
        f"smartsupport knows (up to {latest:04d}); run the release that migrated it, or newer"
    )


def split_sqlite_script(sql: str) -> list[str]:
    """Split a script into statements so they can run inside one explicit transaction
    (``sqlite3.executescript`` would commit first). Uses SQLite's own notion of a
    complete statement, so semicolons inside literals and trigger bodies are safe."""
    import sqlite3

    statements: list[str] = []
    buffer = ""
    for piece in sql.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if _has_code(statement):
                statements.append(statement)
            buffer = ""
    if _has_code(buffer.rstrip(";")):
        raise ConfigurationError(f"Incomplete SQL statement at the end of a migration: {buffer!r}")
    return statements


def _has_code(statement: str) -> bool:
    """True unless the text is only whitespace, semicolons and ``--`` comments."""
    for line in statement.splitlines():
        code = line.split("--", 1)[0].strip().strip(";").strip()
        if code:
            return True
    return False
