"""Pick the durable store from a database URL.

    sqlite:///relative/file.db, sqlite:////absolute/file.db, sqlite://:memory:
    postgresql://user:password@host:5432/db?search_path=schema   (needs smartsupport[postgres])

Backends are imported only when chosen, so a SQLite install never needs asyncpg. Nothing
connects here: call ``await store.connect()``.
"""

from __future__ import annotations

import importlib

from smartsupport.errors import ConfigurationError, missing_extra
from smartsupport.storage.base import SqlDatabase, SqlExecutor, Store

__all__ = ["BACKENDS", "SqlDatabase", "SqlExecutor", "Store", "open_store"]

# scheme -> (module, class, the driver it needs and the extra that installs it)
BACKENDS: dict[str, tuple[str, str, str | None, str | None]] = {
    "sqlite": ("smartsupport.storage.sqlite", "SqliteStore", None, None),
    "postgresql": ("smartsupport.storage.postgres", "PostgresStore", "asyncpg", "postgres"),
    "postgres": ("smartsupport.storage.postgres", "PostgresStore", "asyncpg", "postgres"),
}


def open_store(url: str) -> Store:
    """An unconnected store for ``url``; raises ConfigurationError for an unknown scheme or
    a missing driver."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in BACKENDS:
        known = ", ".join(f"{name}://" for name in BACKENDS)
        raise ConfigurationError(
            f"Unknown database URL scheme in {_redact(url)!r}; known schemes: {known}. "
            "Set SMARTSUPPORT_DATABASE_URL to e.g. sqlite:///smartsupport.db."
        )
    module_name, class_name, driver, extra = BACKENDS[scheme]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if driver is not None and extra is not None and exc.name == driver:
            raise missing_extra(driver, extra, "PostgreSQL storage") from exc
        raise
    store: Store = getattr(module, class_name)(url)
    return store


def _redact(url: str) -> str:
    """The URL without a password, for error messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"
