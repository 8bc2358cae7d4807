"""Which keyring a deployment encrypts with, decided once from Settings (docs/security.md).

Where the keys come from::

    SMARTSUPPORT_ENCRYPTION=off            no keyring: values are stored in clear (logged)
    SMARTSUPPORT_ENCRYPTION_KEYS=JSON      the keyring in the environment
    SMARTSUPPORT_ENCRYPTION_KEY_FILE=PATH  the keyring in a 0600 file
    neither, on SQLite                     ``<database file>.keys``, created 0600 on first
                                           start (a loud warning says to back it up)
    neither, on an in-memory SQLite        a key for this process only (the data dies with it)
    neither, on PostgreSQL                 an error naming the three choices: a database
                                           server shared by several servers must be given
                                           the same keys, and there is no silent fallback
"""

from __future__ import annotations

import logging
from pathlib import Path

from smartsupport.errors import ConfigurationError
from smartsupport.keyring import (
    EnvKeySource,
    FileKeySource,
    Keyring,
    KeySet,
    KeySource,
    new_keyset,
)
from smartsupport.settings import Settings
from smartsupport.storage.sqlite_sql import parse_url

log = logging.getLogger("smartsupport.encryption")


class _ProcessKeySource(KeySource):
    """A keyring that lives as long as this process: for an in-memory database only."""

    description = "this process's key (in-memory database)"

    def __init__(self, keyset: KeySet) -> None:
        self._keyset = keyset

    def load(self) -> KeySet:
        return self._keyset


def key_source(settings: Settings, *, create: bool = False) -> KeySource | None:
    """Where this deployment's keys come from (None: encryption is off). ``create``: make
    the default SQLite key file when it does not exist yet (the server does; commands that
    only read keys do not)."""
    if settings.encryption == "off":
        return None
    if settings.encryption_keys is not None and settings.encryption_key_file is not None:
        raise ConfigurationError(
            "Both SMARTSUPPORT_ENCRYPTION_KEYS and SMARTSUPPORT_ENCRYPTION_KEY_FILE are set; "
            "keep one."
        )
    if settings.encryption_keys is not None:
        return EnvKeySource(settings.encryption_keys.get_secret_value())
    if settings.encryption_key_file is not None:
        return FileKeySource(settings.encryption_key_file)
    database = sqlite_path(settings.database_url)
    if database is None:
        raise ConfigurationError(
            "PostgreSQL holds customers' data, and no encryption keys are configured. Create "
            "a keyring with `smartsupport keys create --print` and set "
            "SMARTSUPPORT_ENCRYPTION_KEYS (or SMARTSUPPORT_ENCRYPTION_KEY_FILE) to it on every "
            "server, or set SMARTSUPPORT_ENCRYPTION=off to store the data in clear."
        )
    if database == ":memory:":
        return _ProcessKeySource(new_keyset())
    source = FileKeySource(Path(f"{database}.keys"))
    if create and not source.path.exists():
        source.create()
        log.warning(
            "ENCRYPTION KEY CREATED: %s holds the keys that encrypt customers' data in %s. "
            "Back it up with the database (without it the data cannot be read) and never "
            "share it; see docs/security.md.",
            source.path,
            database,
        )
    return source


def open_keyring(settings: Settings) -> Keyring | None:
    """The deployment's keyring (None when encryption is off)."""
    source = key_source(settings, create=True)
    if source is None:
        log.warning(
            "Field encryption is off (SMARTSUPPORT_ENCRYPTION=off): message text and customer "
            "data are stored in clear."
        )
        return None
    return Keyring(source)


def sqlite_path(url: str) -> str | None:
    """The SQLite database file of ``url`` (':memory:' for an in-memory one), or None."""
    return parse_url(url) if url.startswith("sqlite:") else None
