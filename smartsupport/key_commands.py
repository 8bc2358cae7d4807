"""``smartsupport keys ...``: the keyring of field encryption (docs/security.md).

    smartsupport keys create [--print]        a new keyring: in the key file, or printed
    smartsupport keys rotate [--print]        a new primary key; old keys stay to decrypt
    smartsupport keys reencrypt [--batch N]   everything under the primary key; resumable
                                              (run it again: sealed rows are skipped)
    smartsupport keys status                  key ids, and how many values each one sealed

Thin wrappers over keyring.py, encryption.py and storage/reencrypt.py. ``--print`` is for
keys kept in SMARTSUPPORT_ENCRYPTION_KEYS (or a secret manager): the command prints the new
keyring and changes nothing; put it where the servers read it and restart them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import cast

from smartsupport import audit
from smartsupport.encryption import key_source
from smartsupport.errors import ConfigurationError
from smartsupport.keyring import FileKeySource, KeySource, new_keyset
from smartsupport.services import open_services
from smartsupport.settings import Settings, load_settings
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.reencrypt import BATCH, Progress, census, reencrypt


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = subparsers.add_parser("keys", help="field encryption keys: create, rotate, reencrypt")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="a new keyring (key file, or --print)")
    create.add_argument("--print", action="store_true", help="print it instead of writing")
    create.set_defaults(func=_create)
    rotate = actions.add_parser("rotate", help="add a new primary key; old keys still decrypt")
    rotate.add_argument("--print", action="store_true", help="print the new keyring only")
    rotate.set_defaults(func=_rotate)
    again = actions.add_parser("reencrypt", help="seal every value with the primary key")
    again.add_argument("--batch", type=int, default=BATCH, help="rows per transaction")
    again.set_defaults(func=lambda args: asyncio.run(_reencrypt(args)))
    status = actions.add_parser("status", help="key ids and the values each one sealed")
    status.set_defaults(func=lambda args: asyncio.run(_status(args)))


def _source(settings: Settings) -> KeySource:
    source = key_source(settings)
    if source is None:
        raise ConfigurationError(
            "Encryption is off (SMARTSUPPORT_ENCRYPTION=off): there is no keyring. Set "
            "SMARTSUPPORT_ENCRYPTION=auto and give keys (docs/security.md)."
        )
    return source


def _create(args: argparse.Namespace) -> int:
    if args.print:
        print(new_keyset().to_json(indent=None))
        return 0
    source = _source(load_settings())
    if not isinstance(source, FileKeySource):
        raise ConfigurationError(
            f"The keys come from {source.description}, not a file: use `keys create --print`."
        )
    if source.path.exists():
        raise ConfigurationError(f"{source.path} exists; `keys rotate` adds a key to it.")
    keyset = source.create()
    print(f"created {source.path} (0600) with key {keyset.primary}; back it up", file=sys.stderr)
    return 0


def _rotate(args: argparse.Namespace) -> int:
    source = _source(load_settings())
    keyset = source.load().with_new_primary()
    if args.print:
        print(keyset.to_json(indent=None))
        return 0
    source.save(keyset)
    print(
        f"{keyset.primary} is now the primary key of {source.description} (the others still "
        "decrypt). Restart the servers so they seal with it, then run "
        "`smartsupport keys reencrypt`.",
        file=sys.stderr,
    )
    return 0


async def _reencrypt(args: argparse.Namespace) -> int:
    services = await open_services(load_settings())
    db = cast(SqlDatabase, services.store)
    try:

        def report(progress: Progress) -> None:
            print(
                f"{progress.table}: {progress.rows} rows read, {progress.changed} re-sealed, "
                f"last {':'.join(progress.last)}",
                file=sys.stderr,
            )

        done = await reencrypt(db, batch=args.batch, report=report)
        await audit.record(
            db,
            "keys.reencrypted",
            actor="cli",
            target=f"key:{db.fields.keyring.primary if db.fields.keyring else ''}",
            details={p.table: p.changed for p in done},
        )
        for progress in done:
            print(f"{progress.table}\t{progress.rows} rows\t{progress.changed} re-sealed")
    finally:
        await services.close()
    return 0


async def _status(args: argparse.Namespace) -> int:
    services = await open_services(load_settings())
    db = cast(SqlDatabase, services.store)
    try:
        keyring = db.fields.keyring
        if keyring is not None:
            print(f"source\t{keyring.source.description}\nprimary\t{keyring.primary}")
            print(f"keys\t{', '.join(sorted(keyring.keyset.keys))}")
        for progress in await census(db):
            counts = ", ".join(f"{k}: {n}" for k, n in sorted(progress.keys.items()))
            print(f"{progress.table}\t{counts or 'empty'}")
    finally:
        await services.close()
    return 0
