"""The ``smartsupport`` command. It parses options, builds Settings and calls library code.

smartsupport [serve] [--host H] [--port P]   run the server (the default command)
smartsupport check                           validate settings, reach every backend
smartsupport migrate                         apply pending schema migrations
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from smartsupport import __version__
from smartsupport.errors import SmartsupportError
from smartsupport.settings import Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv) or ["serve"])
    if args.config:
        os.environ["SMARTSUPPORT_CONFIG_FILE"] = args.config
    try:
        return int(args.func(args) or 0)
    except SmartsupportError as exc:
        print(f"smartsupport: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartsupport", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"smartsupport {__version__}")
    parser.add_argument("--config", help="a TOML settings file (SMARTSUPPORT_CONFIG_FILE)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server (default)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate settings and connect to every backend")
    check.set_defaults(func=cmd_check)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(func=cmd_migrate)

    for register in _feature_commands():
        register(sub)
    return parser


def _feature_commands() -> list:
    # Feature packages register their own sub-commands (nlu, kb, ...).
    from smartsupport.dialogue import commands as dialogue_commands
    from smartsupport.evaluation import commands as eval_commands
    from smartsupport.knowledge import commands as kb_commands
    from smartsupport.nlu import commands as nlu_commands
    from smartsupport.staff import commands as staff_commands

    registrations: list = [
        kb_commands.register,
        staff_commands.register,
        dialogue_commands.register,
        nlu_commands.register,
        eval_commands.register,
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
    import uvicorn

    from smartsupport.app import create_app

    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    if not 0 < args.port < 65536:
        raise SmartsupportError(f"--port {args.port} is not a TCP port (1-65535)")
    print(
        f"smartsupport {__version__} on http://{args.host}:{args.port}  "
        f"(database {redact_url(settings.database_url)}, "
        f"backplane {redact_url(settings.redis_url) if settings.uses_redis else 'in-process'})",
        flush=True,
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        access_log=False,
        ws_max_size=64 * 1024,
        timeout_graceful_shutdown=5,
    )
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
    return asyncio.run(_migrate(settings))


async def _migrate(settings: Settings) -> int:
    from smartsupport.storage import open_store

    store = open_store(settings.database_url)
    await store.connect()
    try:
        applied = await store.migrate()
        version = await store.schema_version()
    finally:
        await store.close()
    print(f"applied {applied or 'nothing'}; schema version {version}")
    return 0
