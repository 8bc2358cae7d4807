"""``smartsupport customer ...``, ``smartsupport purge`` and ``smartsupport audit ...``: thin
wrappers over customer_data.py, retention.py and audit.py (docs/security.md).

    smartsupport customer find --workspace W (--external-id X | --email E)
    smartsupport customer export CUSTOMER_ID [--out FILE]     JSON; FILE is created 0600
    smartsupport customer erase CUSTOMER_ID --yes             prints what was deleted
    smartsupport purge [--dry-run]                            one retention pass now
    smartsupport audit list [--workspace W] [--limit N]       newest first, JSON lines
    smartsupport audit verify [--anchor SEQ:HASH]             exit 1 when the chain is broken

Run on the server's own settings (database, Redis). With the embedded in-process backplane
a running server's cached dialogue contexts are out of reach of the command line; they
expire after ``SMARTSUPPORT_SESSION_TTL_SECONDS`` and nothing can look them up once the
conversation is gone. The admin API, served by that process, clears them at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from smartsupport import audit, customer_data, retention
from smartsupport.errors import InvalidInput
from smartsupport.services import Services, open_services
from smartsupport.settings import load_settings

CLI = "cli"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    customer = subparsers.add_parser("customer", help="export or erase a customer's data")
    actions = customer.add_subparsers(dest="customer_command", metavar="ACTION", required=True)
    find = actions.add_parser("find", help="customer ids by external id or email")
    find.add_argument("--workspace", required=True)
    find.add_argument("--external-id")
    find.add_argument("--email")
    find.set_defaults(func=_run(_find))
    export = actions.add_parser("export", help="everything about a customer, as JSON")
    export.add_argument("customer_id")
    export.add_argument("--out", help="write to this file (created 0600) instead of stdout")
    export.set_defaults(func=_run(_export))
    erase = actions.add_parser("erase", help="delete a customer and everything about them")
    erase.add_argument("customer_id")
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    erase.set_defaults(func=_run(_erase))

    purge = subparsers.add_parser("purge", help="delete data older than its retention now")
    purge.add_argument("--dry-run", action="store_true", help="only count what would go")
    purge.set_defaults(func=_run(_purge))

    log = subparsers.add_parser("audit", help="the audit log of staff and admin actions")
    log_actions = log.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    listing = log_actions.add_parser("list", help="newest entries first, one JSON per line")
    listing.add_argument("--workspace")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(func=_run(_list))
    verify = log_actions.add_parser("verify", help="recompute the hash chain")
    verify.add_argument("--anchor", help="SEQ:HASH printed by an earlier verify")
    verify.set_defaults(func=_run(_verify))


Command = Callable[[Services, argparse.Namespace], Awaitable[int]]


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_services(command, args))

    return run


async def _with_services(command: Command, args: argparse.Namespace) -> int:
    services = await open_services(load_settings())
    try:
        return await command(services, args)
    finally:
        await services.close()


def _print(doc: Any) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


async def _find(services: Services, args: argparse.Namespace) -> int:
    if args.external_id is None and args.email is None:
        raise InvalidInput("give --external-id or --email")
    found = await customer_data.find_customers(
        services, args.workspace, external_id=args.external_id, email=args.email
    )
    for customer in found:
        print(f"{customer.id}\t{customer.external_id or ''}\t{customer.created_at.isoformat()}")
    return 0 if found else 1


async def _export(services: Services, args: argparse.Namespace) -> int:
    doc = await customer_data.export_customer(services, args.customer_id, actor=CLI)
    text = json.dumps(doc, ensure_ascii=False, indent=2, default=str)
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"exported customer {args.customer_id} to {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


async def _erase(services: Services, args: argparse.Namespace) -> int:
    if not args.yes:
        raise InvalidInput("erasure cannot be undone: add --yes to confirm")
    done = await customer_data.erase_customer(services, args.customer_id, actor=CLI)
    _print({k: v for k, v in asdict(done).items() if k != "files"})
    return 0


async def _purge(services: Services, args: argparse.Namespace) -> int:
    report = await retention.purge(services, dry_run=args.dry_run, actor=CLI)
    _print(report.as_json())
    return 0


async def _list(services: Services, args: argparse.Namespace) -> int:
    found = await audit.entries(
        services.store,  # type: ignore[arg-type]
        workspaces=[args.workspace] if args.workspace else None,
        limit=args.limit,
        newest_first=True,
    )
    for entry in found:
        print(json.dumps(entry.as_json(), ensure_ascii=False))
    return 0


async def _verify(services: Services, args: argparse.Namespace) -> int:
    anchor = None
    if args.anchor:
        seq, _, digest = args.anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise InvalidInput("--anchor must be SEQ:HASH as printed by audit verify")
        anchor = (int(seq), digest)
    result = await audit.verify(services.store, anchor)  # type: ignore[arg-type]
    head = f"{result.head[0]}:{result.head[1]}" if result.head else "none"
    if result.ok:
        print(f"ok: {result.entries} entries; head {head}")
        return 0
    print(f"BROKEN at entry {result.broken_at}: {result.problem}", file=sys.stderr)
    return 1
