"""Run a suite through the real product: build it once with ``wiring.assemble``, then for
every conversation ``start_conversation`` (with the customer's locale, as the widget sends
it) and one ``handle_message`` per customer turn, and read back what was stored: the bot
messages with their meta (step, citations), the conversation's status after each turn and
its events. Nothing is mocked.

Deterministic: conversations run one after the other in suite order; the demo shop's data
is reloaded from its file before each conversation, so a cancelled order or a started
return never leaks into the next one; the NLU model is loaded from the models cache
(trained once per training-data hash, see ``evaluation_settings``).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartsupport.conversation import handle_message, start_conversation
from smartsupport.demo_shop import Shops, load_shop
from smartsupport.domain import Author, IncomingMessage, Message
from smartsupport.evaluation.scoring import BotReply, Exchange, Score, Transcript, score
from smartsupport.evaluation.suite import Case
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.services import Services
from smartsupport.settings import Settings, load_settings
from smartsupport.wiring import assemble


@dataclass(frozen=True, slots=True)
class Row:
    """One scored conversation."""

    case: Case
    score: Score
    transcript: Transcript
    seconds: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class Run:
    rows: list[Row]
    settings: dict[str, Any]  # what the figures depend on (answer chain, LLM, models)
    assemble_seconds: float
    run_seconds: float


def evaluation_settings(data_dir: Path, models_dir: Path | None = None) -> Settings:
    """The configured settings with fresh, private state: a new SQLite file and in-process
    backplane in ``data_dir``. The models cache is ``models_dir``, else the configured one
    (``SMARTSUPPORT_MODELS_DIR`` or ``<data dir>/models``), so a second run does not retrain."""
    configured = load_settings()
    cache = models_dir or configured.models_dir or configured.data_dir / "models"
    return load_settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'evaluation.db'}",
        redis_url="",
        secret_key="smartsupport-evaluation",
        models_dir=cache,
    )


async def run_suite(
    cases: list[Case],
    *,
    models_dir: Path | None = None,
    progress: Callable[[Row], None] | None = None,
) -> Run:
    """Every conversation of ``cases`` through the conversation path, scored."""
    with tempfile.TemporaryDirectory(prefix="smartsupport-eval-") as directory:
        settings = evaluation_settings(Path(directory), models_dir)
        return await run_with(settings, cases, progress=progress)


async def run_with(
    settings: Settings, cases: list[Case], *, progress: Callable[[Row], None] | None = None
) -> Run:
    started = time.perf_counter()
    shops = Shops()
    services = await assemble(settings, shops=shops)
    assembled = time.perf_counter() - started
    rows = []
    try:
        stems = await article_stems(services)
        for case in cases:
            _reload_shops(services, shops)
            row = await run_case(services, case, stems)
            rows.append(row)
            if progress is not None:
                progress(row)
    finally:
        await services.close()
    return Run(
        rows=rows,
        settings={
            "answer_chain": list(settings.answer_chain),
            "llm_providers": [p.name for p in settings.llm_providers],
            "models_dir": str(settings.models_dir),
        },
        assemble_seconds=assembled,
        run_seconds=time.perf_counter() - started - assembled,
    )


async def run_case(services: Services, case: Case, stems: dict[str, str]) -> Row:
    """One conversation: start it, send each customer turn, read back and score."""
    started = time.perf_counter()
    conversation, _ = await start_conversation(services, case.workspace, locale=case.language)
    error = ""
    try:
        for number, text in enumerate(case.turns, 1):
            incoming = IncomingMessage(conversation.id, text, client_id=f"{case.id}-{number}")
            await handle_message(services, incoming)
    except Exception:  # noqa: BLE001 - a crash is this conversation's outcome, not the run's
        error = traceback.format_exc(limit=8)
    transcript = await read_transcript(services, conversation.id, conversation.workspace_id, stems)
    scored = score(case, transcript)
    if error:
        last = error.strip().splitlines()[-1]
        scored = dataclasses.replace(scored, outcome="error", reason=f"crashed: {last}")
    return Row(case, scored, transcript, time.perf_counter() - started, error)


async def read_transcript(
    services: Services, conversation_id: str, workspace_id: str, stems: dict[str, str]
) -> Transcript:
    """What the store holds for the conversation, grouped by customer turn."""
    messages = await services.store.list_messages(conversation_id)
    events = await services.store.list_events(workspace_id, conversation_id=conversation_id)
    status, after_turn, turns = "bot", {}, {}
    for event in events:
        if event.type == "conversation.status":
            status = str(event.data.get("status", status))
        elif event.type == "turn":
            after_turn[event.data.get("message_id")] = status
            turns[event.data.get("message_id")] = event.data
    replies: dict[str, list[BotReply]] = {}
    for message in messages:
        if message.author is Author.BOT and message.reply_to:
            replies.setdefault(message.reply_to, []).append(_bot_reply(message, stems))
    exchanges = [
        Exchange(
            customer=m.text,
            replies=tuple(replies.get(m.id, [])),
            status=after_turn.get(m.id, status),
            intent=(turns.get(m.id) or {}).get("intent"),
            ms=(turns.get(m.id) or {}).get("ms"),
        )
        for m in messages
        if m.author is Author.CUSTOMER
    ]
    bot = [m for m in messages if m.author is Author.BOT]
    return Transcript(
        exchanges=tuple(exchanges),
        events=tuple((e.type, e.data) for e in events),
        last_reply=bot[-1].text if bot else "",
    )


def _bot_reply(message: Message, stems: dict[str, str]) -> BotReply:
    citations = message.meta.get("citations") or []
    cited = tuple(
        stems.get(str(c.get("article_id")), str(c.get("article_id")))
        for c in citations
        if isinstance(c, dict)
    )
    return BotReply(message.text, dict(message.meta), cited)


async def article_stems(services: Services) -> dict[str, str]:
    """Stored article id -> the file stem it was ingested from (what a suite names)."""
    knowledge = KnowledgeBase(services.store)  # type: ignore[arg-type]
    stems = {}
    for workspace_id in services.workspaces:
        for article in await knowledge.list_articles(workspace_id, limit=1000):
            stems[article.id] = Path(article.source).stem if article.source else article.id
    return stems


def _reload_shops(services: Services, shops: Shops) -> None:
    """Put every workspace's demo shop back to its file's data, in place: the flows and the
    keyword bot hold the same ``Shop`` objects."""
    for workspace in services.workspaces.values():
        shop_file = (workspace.model_extra or {}).get("shop_file")
        if not shop_file or workspace.source_dir is None:
            continue
        path = Path(workspace.source_dir) / shop_file
        shop, fresh = shops.get(path), load_shop(path)
        for item in dataclasses.fields(shop):
            setattr(shop, item.name, getattr(fresh, item.name))
