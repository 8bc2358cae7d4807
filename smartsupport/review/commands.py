"""``smartsupport review ...``: the review queue, retraining and bootstrapping from a shell.

smartsupport review queue [--workspace demo] [--days 30] [--json]
    The misunderstood messages in clusters, largest first (ids to decide about).
smartsupport review decide MESSAGE_ID ... --action assign|new_intent|needs_article|dismiss
                           [--intent NAME] [--workspace demo]
smartsupport review retrain [--workspace demo] [--shadow] [--json]
    Train from the decisions, score against the live model, deploy unless worse (exit 1
    when the model was not deployed). Running servers load a deployed model at their next
    start; the inbox's Retrain button deploys in that server at once.
smartsupport review import FILE [--workspace demo]
    A Zendesk ticket export (JSON) or a CSV of conversations -> suggested intents and FAQ.
smartsupport review suggestions [--workspace demo] [--json]
smartsupport review accept SUGGESTION_ID [--name NAME] [--answer TEXT] [--workspace demo]
smartsupport review reject SUGGESTION_ID [--workspace demo]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from smartsupport.errors import InvalidInput
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.nlu.engine import NluEngine
from smartsupport.review.bootstrap import accept, import_history, reject, suggestions
from smartsupport.review.decisions import decide, review_queue
from smartsupport.review.live import MODELS_CHANNEL
from smartsupport.review.retrain import restore_deployed, retrain
from smartsupport.review.store import ACTIONS
from smartsupport.services import open_services
from smartsupport.settings import load_settings

WORKSPACE = {"default": "demo", "help": "workspace id (demo)"}


def register(subparsers: Any) -> None:
    review = subparsers.add_parser("review", help="review queue, retraining, bootstrapping")
    sub = review.add_subparsers(dest="review_command", metavar="REVIEW_COMMAND", required=True)

    queue = sub.add_parser("queue", help="misunderstood messages, clustered")
    queue.add_argument("--workspace", **WORKSPACE)  # type: ignore[arg-type]
    queue.add_argument("--days", type=int, default=30, help="look back this many days (30)")
    queue.add_argument("--json", action="store_true", help="print one JSON object")
    queue.set_defaults(func=lambda a: _run(_queue, a))

    decide = sub.add_parser("decide", help="assign messages to an intent, or mark them")
    decide.add_argument("message_ids", nargs="+", metavar="MESSAGE_ID")
    decide.add_argument("--action", required=True, choices=ACTIONS)
    decide.add_argument("--intent", default=None, help="the intent (assign) or the new name")
    decide.add_argument("--workspace", **WORKSPACE)  # type: ignore[arg-type]
    decide.set_defaults(func=lambda a: _run(_decide, a))

    retrain = sub.add_parser("retrain", help="train from the decisions; deploy unless worse")
    retrain.add_argument("--workspace", **WORKSPACE)  # type: ignore[arg-type]
    retrain.add_argument("--shadow", action="store_true", help="run in shadow, not deploy")
    retrain.add_argument("--json", action="store_true", help="print one JSON object")
    retrain.set_defaults(func=lambda a: _run(_retrain, a))

    imported = sub.add_parser("import", help="suggest intents and FAQ entries from history")
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--workspace", **WORKSPACE)  # type: ignore[arg-type]
    imported.set_defaults(func=lambda a: _run(_import, a))

    listed = sub.add_parser("suggestions", help="open suggestions from imports")
    listed.add_argument("--workspace", **WORKSPACE)  # type: ignore[arg-type]
    listed.add_argument("--json", action="store_true", help="print one JSON object")
    listed.set_defaults(func=lambda a: _run(_suggestions, a))

    accept = sub.add_parser("accept", help="accept a suggestion")
    accept.add_argument("suggestion_id", metavar="SUGGESTION_ID")
    accept.add_argument("--name", default=None, help="another intent name or FAQ question")
    accept.add_argument("--answer", default=None, help="another FAQ answer")
    accept.add_argument("--workspace", **WORKSPACE)  # type: ignore[arg-type]
    accept.set_defaults(func=lambda a: _run(_accept, a))

    reject = sub.add_parser("reject", help="reject a suggestion")
    reject.add_argument("suggestion_id", metavar="SUGGESTION_ID")
    reject.add_argument("--workspace", **WORKSPACE)  # type: ignore[arg-type]
    reject.set_defaults(func=lambda a: _run(_reject, a))


Command = Callable[[Any, argparse.Namespace], Awaitable[int]]


def _run(command: Command, args: argparse.Namespace) -> int:
    return asyncio.run(_with_services(command, args))


async def _with_services(command: Command, args: argparse.Namespace) -> int:
    async with _services() as services:
        services.workspace(args.workspace)  # an unknown workspace fails here, by name
        return await command(services, args)


@asynccontextmanager
async def _services() -> AsyncIterator[Any]:

    services = await open_services(load_settings())
    try:
        yield services
    finally:
        await services.close()


async def _queue(services: Any, args: argparse.Namespace) -> int:

    clusters = await review_queue(
        services.store,
        services.workspace(args.workspace),
        days=args.days,
        low_confidence=services.settings.review_low_confidence,
    )
    if args.json:
        print(json.dumps({"clusters": [c.as_json() for c in clusters]}))
        return 0
    if not clusters:
        print(f"nothing to review in the last {args.days} days")
    for c in clusters:
        reasons = ", ".join(f"{k} {n}" for k, n in c.reasons.items())
        print(f"[{c.size}] {c.title}  ({reasons}; model guess: {c.suggested_intent or '-'})")
        for item in c.items[:5]:
            print(f"    {item.message_id}  {item.text[:90]}")
    return 0


async def _decide(services: Any, args: argparse.Namespace) -> int:
    n = await decide(
        services.store, services.workspace(args.workspace), args.message_ids, args.action,
        intent=args.intent,
    )  # fmt: skip
    print(f"{n} message(s) decided: {args.action} {args.intent or ''}".rstrip())
    return 0


async def _retrain(services: Any, args: argparse.Namespace) -> int:

    settings = services.settings
    models_dir = settings.models_dir or settings.data_dir / "models"
    workspace = services.workspace(args.workspace)
    engine = NluEngine(settings.data_dir, None, models_dir=models_dir)
    await engine.prepare(workspace, progress=sys.stderr.isatty())
    await restore_deployed(services.store, engine, workspace)  # the live model to beat
    record = await retrain(services.store, workspace, engine, models_dir, shadow=args.shadow)
    # Servers sharing the backplane put a deployed model in place now (review/live.py).
    await services.backplane.publish(
        MODELS_CHANNEL, {"workspace": workspace.id, "model": record.id, "status": record.status}
    )
    if args.json:
        print(json.dumps(record.as_json()))
    else:
        print(f"{record.status}: {record.reason}")
    return 0 if record.status in ("deployed", "shadow") else 1


async def _import(services: Any, args: argparse.Namespace) -> int:

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{args.file}: cannot read file: {exc.strerror or exc}") from exc
    report = await import_history(
        services.store, services.workspace(args.workspace), args.file.name, data
    )
    print(
        f"{report['questions']} questions ({report['answered']} answered) in {report['clusters']}"
        f" clusters: {report['intent_suggestions']} suggested intents, "
        f"{report['faq_suggestions']} suggested FAQ entries (smartsupport review suggestions)"
    )
    return 0


async def _suggestions(services: Any, args: argparse.Namespace) -> int:

    rows = await suggestions(services.store, args.workspace)
    if args.json:
        print(json.dumps({"suggestions": rows}, default=str))
        return 0
    for row in rows:
        print(f"{row['id']}  {row['kind']:<6} [{row['size']}] {row['name']}")
        if row["answer"]:
            print(f"    answer: {row['answer'][:100]}")
    return 0


async def _accept(services: Any, args: argparse.Namespace) -> int:
    written = await accept(
        services.store, services.workspace(args.workspace), args.suggestion_id,
        KnowledgeBase(services.store), name=args.name, answer=args.answer,
    )  # fmt: skip
    print(json.dumps(written))
    return 0


async def _reject(services: Any, args: argparse.Namespace) -> int:

    await reject(services.store, args.workspace, args.suggestion_id)
    print(f"rejected {args.suggestion_id}")
    return 0
