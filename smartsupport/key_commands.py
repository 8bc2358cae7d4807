"""``smartsupport keys ...``: the keyring of field encryption (docs/security.md).

    smartsupport keys create [--print]        a new keyring: in the key file, or printed
    smartsupport keys rotate [--print]        a new primary key; old keys stay to decrypt
    smartsupport keys reencrypt [--batch N]   everything under the primary key, attachments'
                                              files too; resumable (run it again: sealed
                                              rows and files are skipped)
    smartsupport keys status                  key ids, and how many values each one sealed
    smartsupport keys rotate-index [--print]  a next index key beside the current one
    smartsupport keys reindex [--batch N]     every keyed hash under the next index key,
                                              attachments' file names too; resumable; at
                                              the end the next key replaces the old one
                                              (dropped from the keyring)

Thin wrappers over keyring.py, encryption.py, storage/reencrypt.py and reindex.py.
``--print`` is for keys kept in SMARTSUPPORT_ENCRYPTION_KEYS (or a secret manager): the
command prints the new keyring and changes nothing; put it where the servers read it and
restart them. ``reindex`` with such keys prints the finished keyring at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import cast

from smartsupport import audit
from smartsupport.attachments.sealed import SealedStore
from smartsupport.encryption import key_source
from smartsupport.errors import ConfigurationError
from smartsupport.keyring import RELOAD_SECONDS, FileKeySource, KeySource, key_check, new_keyset
from smartsupport.reindex import Progress as IndexProgress
from smartsupport.reindex import forget, next_key_check, reindex
from smartsupport.reindex import progress as index_progress
from smartsupport.services import Services, open_services
from smartsupport.settings import Settings, load_settings
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.reencrypt import (
    BATCH,
    Progress,
    census,
    files_census,
    reencrypt,
    reencrypt_files,
)


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
    index = actions.add_parser("rotate-index", help="add a next index key (then: reindex)")
    index.add_argument("--print", action="store_true", help="print the new keyring only")
    index.set_defaults(func=_rotate_index)
    again = actions.add_parser("reindex", help="every keyed hash under the next index key")
    again.add_argument("--batch", type=int, default=BATCH, help="rows per transaction")
    again.set_defaults(func=lambda args: asyncio.run(_reindex(args)))


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
                f"last {':'.join(map(str, progress.last))}",
                file=sys.stderr,
            )

        done = await reencrypt(db, batch=args.batch, report=report)
        done.append(await reencrypt_files(db, _files(services), batch=args.batch, report=report))
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
            index = keyring.index_keys()
            if len(index) == 1:
                print(f"index key\t{key_check(index[0])}")
            else:
                print(
                    f"index key\t{key_check(index[1])}, changing to {key_check(index[0])} "
                    "(run `smartsupport keys reindex`)"
                )
                for step in await index_progress(db, key_check(index[0])):
                    state = "finished" if step.finished else "under way"
                    print(
                        f"reindex {step.table}\t{state}: {step.visited} rows, "
                        f"{step.changed} re-hashed"
                    )
        files = services.attachments
        sealed = [await files_census(db, files)] if isinstance(files, SealedStore) else []
        for progress in [*await census(db), *sealed]:
            counts = ", ".join(f"{k}: {n}" for k, n in sorted(progress.keys.items()))
            print(f"{progress.table}\t{counts or 'empty'}")
    finally:
        await services.close()
    return 0


def _files(services: Services) -> SealedStore:
    """The attachment store, which is sealed whenever there is a keyring (services.py)."""
    files = services.attachments
    if not isinstance(files, SealedStore):
        raise ConfigurationError(
            "Encryption is off (SMARTSUPPORT_ENCRYPTION=off): attachments are not sealed. "
            "Configure a keyring first (docs/security.md)."
        )
    return files


def _rotate_index(args: argparse.Namespace) -> int:
    source = _source(load_settings())
    keyset = source.load().with_next_index_key()
    if args.print:
        print(keyset.to_json(indent=None))
        return 0
    source.save(keyset)
    print(
        f"{source.description} now holds a next index key ({key_check(keyset.index_keys[0])}). "
        f"Servers reading it take it up within {RELOAD_SECONDS:g} seconds (new hashes are made "
        "with it; look-ups try both keys); then run `smartsupport keys reindex`.",
        file=sys.stderr,
    )
    return 0


async def _reindex(args: argparse.Namespace) -> int:
    source = _source(load_settings())
    if isinstance(source, FileKeySource):
        # servers re-read a changed key file at most every RELOAD_SECONDS: a re-index that
        # started before they hold the next key could pass rows they then hash with the old
        wait = 2 * RELOAD_SECONDS - (time.time() - source.path.stat().st_mtime)
        if wait > 0:
            print(
                f"waiting {wait:.0f} s for servers to take up the next index key", file=sys.stderr
            )
            await asyncio.sleep(wait)
    services = await open_services(load_settings())
    db = cast(SqlDatabase, services.store)
    try:
        check = next_key_check(db)

        def report(step: IndexProgress) -> None:
            print(
                f"{step.table}: {step.visited} rows read, {step.changed} re-hashed, "
                f"last {':'.join(map(str, step.last))}",
                file=sys.stderr,
            )

        files = services.attachments  # sealed whenever there is a keyring (services.py)
        sealed = files if isinstance(files, SealedStore) else None
        done = await reindex(db, batch=args.batch, report=report, files=sealed)
        finished = source.load().finish_index_change()
        if isinstance(source, FileKeySource):
            source.save(finished)
        await forget(db)
        await audit.record(
            db,
            "keys.reindexed",
            actor="cli",
            target=f"index:{check}",
            details={step.table: step.changed for step in done},
        )
        for step in done:
            print(f"{step.table}\t{step.visited} rows\t{step.changed} re-hashed")
    finally:
        await services.close()
    if isinstance(source, FileKeySource):
        print(
            f"The index key of {source.description} is now {check}; the old one is dropped.",
            file=sys.stderr,
        )
    else:
        print(finished.to_json(indent=None))
        print(
            f"Every keyed hash is under {check}. Put the keyring printed above (the next index "
            f"key is its index key, the old one is gone) where the servers read "
            f"{source.description}, and restart them.",
            file=sys.stderr,
        )
    return 0
