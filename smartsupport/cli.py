"""The ``smartsupport`` command. It parses options, builds Settings and calls library code.

smartsupport [serve] [--host H] [--port P]   run the server (the default command);
                                             --no-jobs leaves background jobs to workers
smartsupport worker                          run the background jobs without the web server
smartsupport check                           validate settings, reach every backend
smartsupport migrate [--check]               apply (or only list) pending schema migrations
smartsupport backup PATH / restore PATH      online backup / restore of the SQLite database
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from smartsupport import __version__, log_format
from smartsupport.errors import SmartsupportError
from smartsupport.settings import Settings, load_settings

if TYPE_CHECKING:
    from smartsupport.storage import Store


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv) or ["serve"]
    parser = build_parser(features=not _serves(arguments))
    args = parser.parse_args(arguments)
    if args.config:
        os.environ["SMARTSUPPORT_CONFIG_FILE"] = args.config
    try:
        return int(args.func(args) or 0)
    except SmartsupportError as exc:
        print(f"smartsupport: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _serves(arguments: list[str]) -> bool:
    """Whether the command is ``serve``. Its parser leaves out the feature commands: their
    modules are a second of imports that would come before ``serve`` starts the encoder's
    process, which loads its model while the server imports the rest (``prestart``)."""
    rest = arguments
    if rest[:1] == ["--config"]:
        rest = rest[2:]
    elif rest[:1] and rest[0].startswith("--config="):
        rest = rest[1:]
    return rest[:1] == ["serve"]


def build_parser(*, features: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartsupport", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"smartsupport {__version__}")
    parser.add_argument("--config", help="a TOML settings file (SMARTSUPPORT_CONFIG_FILE)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server (default)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    serve.add_argument(
        "--no-jobs",
        action="store_true",
        help="leave the background jobs to 'smartsupport worker' (SMARTSUPPORT_JOBS=off)",
    )
    serve.set_defaults(func=cmd_serve)

    # -- worker: the background jobs without the web server (deploy/: compose, Helm) --
    worker = sub.add_parser("worker", help="run the background jobs (outbox, timers, mailboxes)")
    worker.set_defaults(func=cmd_worker)
    # -- end worker --

    check = sub.add_parser("check", help="validate settings and connect to every backend")
    check.set_defaults(func=cmd_check)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument(
        "--check",
        action="store_true",
        help="apply nothing; exit 1 when migrations are pending, 3 when the database is newer",
    )
    migrate.set_defaults(func=cmd_migrate)

    # -- backup and restore (docs/deployment.md) --
    backup = sub.add_parser("backup", help="online backup of the SQLite database to PATH")
    backup.add_argument("path", metavar="PATH", help="the new backup file (created 0600)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="replace the SQLite database with a backup")
    restore.add_argument("path", metavar="PATH", help="a file made by 'smartsupport backup'")
    restore.set_defaults(func=cmd_restore)
    # -- end backup and restore --

    for register in _feature_commands() if features else []:
        register(sub)
    return parser


def _feature_commands() -> list:
    # Feature packages register their own sub-commands (nlu, kb, ...).
    from smartsupport import key_commands, privacy_commands
    from smartsupport.dialogue import commands as dialogue_commands
    from smartsupport.evaluation import commands as eval_commands
    from smartsupport.knowledge import commands as kb_commands
    from smartsupport.nlu import commands as nlu_commands
    from smartsupport.review import commands as review_commands
    from smartsupport.staff import commands as staff_commands

    registrations: list = [
        kb_commands.register,
        staff_commands.register,
        dialogue_commands.register,
        nlu_commands.register,
        eval_commands.register,
        privacy_commands.register,  # customer export/erase, purge, audit
        review_commands.register,  # review queue, retraining, bootstrap (review/)
        key_commands.register,  # field encryption keys: create, rotate, reencrypt
    ]
    return registrations


def redact_url(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def cmd_serve(args: argparse.Namespace) -> int:
    from smartsupport.encoder_process import prestart

    settings = load_settings()
    prestart(settings.encoder)  # the model loads in its process while the rest imports

    import uvicorn

    from smartsupport.app import create_app
    from smartsupport.serve_process import serve
    from smartsupport.socket_server import LeanWebSockets

    if args.no_jobs:
        settings = settings.model_copy(update={"jobs": False})
    log_format.configure(settings.log_level, settings.log_format)
    if not 0 < args.port < 65536:
        raise SmartsupportError(f"--port {args.port} is not a TCP port (1-65535)")
    print(
        f"smartsupport {__version__} on http://{args.host}:{args.port}  "
        f"(database {redact_url(settings.database_url)}, "
        f"backplane {redact_url(settings.redis_url) if settings.uses_redis else 'in-process'})",
        flush=True,
    )
    serve(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        # JSON logs: uvicorn's loggers go through ours instead of its own text handlers.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        access_log=False,
        # Client addresses come from X-Forwarded-For only through SMARTSUPPORT_TRUSTED_PROXIES
        # (smartsupport/proxies.py); uvicorn's default trusts any header sent via 127.0.0.1.
        proxy_headers=False,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=settings.ws_compression,
        ws=LeanWebSockets,  # uvicorn's own, keeping less per idle socket (socket_server.py)
        # SIGTERM: uvicorn stops listening and closes every WebSocket with 1012 (the widget
        # and inbox reconnect, elsewhere); running turns and requests get this long.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    log_format.configure(settings.log_level, settings.log_format)
    return asyncio.run(_work(settings))


async def _work(settings: Settings) -> int:
    """The jobs of ``worker.Worker`` until SIGTERM or SIGINT. Jobs are leased, so any number
    of workers (and servers, which run them too) share them; a job cut off by the stop is
    retried once its lease expires."""
    import signal

    from smartsupport.wiring import assemble
    from smartsupport.worker import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    services = await assemble(settings)
    worker = Worker(services).start()
    print(f"smartsupport {__version__} worker {worker.name} running", flush=True)
    try:
        await stop.wait()
    finally:
        await worker.stop()
        await services.close()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    settings = load_settings()
    return asyncio.run(_check(settings))


async def _check(settings: Settings) -> int:
    from smartsupport.backplane import open_backplane
    from smartsupport.storage import open_store
    from smartsupport.workspaces import discover_workspaces

    print(f"data directory: {settings.data_dir}")
    print(f"database URL:   {redact_url(settings.database_url)}")
    print(
        f"backplane URL:  {redact_url(settings.redis_url) if settings.uses_redis else 'in-process'}"
    )
    workspaces = discover_workspaces(settings.workspaces_dir, demo=settings.demo)
    print(f"workspaces:     {', '.join(w.id for w in workspaces) or 'none'}")
    store = open_store(settings.database_url)
    backplane = open_backplane(settings.redis_url)
    ok = True
    try:
        await store.connect()
        await store.ping()
        print("database:       ok")
        await backplane.connect()
        await backplane.ping()
        print("backplane:      ok")
        version = await store.schema_version()
        pending = await store.pending_migrations()
        note = f" (pending {pending}: run 'smartsupport migrate')" if pending else ""
        print(f"schema version: {version}{note}")
        ok = not pending
    finally:
        await backplane.close()
        await store.close()
    print("ok" if ok else "problems found", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    return asyncio.run(_migrate(settings, check=args.check))


async def _migrate(settings: Settings, check: bool = False) -> int:
    from smartsupport.storage import open_store

    store = open_store(settings.database_url)
    await store.connect()
    try:
        if check:
            return await _migrate_check(store)
        applied = await store.migrate()
        version = await store.schema_version()
    finally:
        await store.close()
    print(f"applied {applied or 'nothing'}; schema version {version}")
    return 0


async def _migrate_check(store: Store) -> int:
    """0: the schema is current; 1: migrations are pending (listed); 3: the database is
    newer than this release (expected only while old replicas drain in a rolling upgrade)."""
    from smartsupport.storage import SqlDatabase
    from smartsupport.storage.migrator import discover, newer_than_code

    assert isinstance(store, SqlDatabase)  # both backends are; the migrations are per dialect
    dialect = store.dialect
    version = await store.schema_version()
    newer = newer_than_code(dialect, version)
    if newer is not None:
        print(f"smartsupport: {newer}", file=sys.stderr)
        return 3
    pending = set(await store.pending_migrations())
    if pending:
        names = [f"{m.version:04d}_{m.name}" for m in discover(dialect) if m.version in pending]
        print(f"schema version {version}; pending migrations: {', '.join(names)}")
        print("run 'smartsupport migrate'")
        return 1
    print(f"schema version {version}; up to date")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from smartsupport.backup import backup

    info = backup(load_settings().database_url, args.path)
    print(
        f"backed up schema version {info.schema_version} to {info.path} ({info.size_bytes} bytes)"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from smartsupport.backup import restore

    info = restore(load_settings().database_url, args.path)
    print(f"restored {info.path} (schema version {info.schema_version})")
    if info.pending:
        print(f"pending migrations {list(info.pending)}: run 'smartsupport migrate' (or serve)")
    return 0
