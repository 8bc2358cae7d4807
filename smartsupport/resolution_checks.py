"""The LLM check of automated resolutions (docs/analytics.md, "The LLM check of automated
resolutions"): a language model reads each conversation the report counts as an automated
resolution and says whether the customer's issue was actually resolved. Off unless
``SMARTSUPPORT_RESOLUTION_CHECK`` is on (settings refuse it without a model).

    await ask(services, now)            the worker, every ``EVERY``: a leased job (``jobs.py``)
                                        for each workspace with conversations waiting
    await run(services, job, progress)  the ``analytics.resolution_check`` handler: reads up
                                        to ``PER_JOB`` of them, one call each
    await check(steps, db, ...)         one conversation: ask, parse, store the verdict

Waiting to be read: a rollup row (``analytics_rollup``) that is an automated resolution now
(``resolvable``, decided, not re-contacted: the report's own rule, ``analytics_daily``) of a
conversation started within ``LOOKBACK``, with no verdict for its current last message. A
conversation written in after its verdict is read again; one that stopped being an automated
resolution (a late thumbs down, a re-contact) keeps its row, which the report ignores.

The model is asked through the ``llm:NAME`` steps of the answer chain in their order: the
same ``LLMStep`` objects the answers use, so their timeouts, retries and circuit breakers
hold here too, and ``/metrics`` counts these calls with theirs. The tokens and cost of each
call (``chain.Usage``) are stored on its verdict row, apart from the conversation's own
``llm_usage`` (what answering it cost). The transcript is redacted per step exactly as for an
answer (``Redactor`` unless the provider says ``redact: false``) and capped
(``llm/resolution.py``). When every step fails the conversation stays waiting and the job
stops: the next job tries again, after the breakers have had their say.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from smartsupport import jobs
from smartsupport.analytics_report import nanos
from smartsupport.analytics_rollup import micros
from smartsupport.answers import Answerer
from smartsupport.domain import Author, utcnow
from smartsupport.errors import Conflict, LLMError
from smartsupport.jobs import Job
from smartsupport.llm.chain import LLMStep, Usage
from smartsupport.llm.resolution import MAX_TOKENS, build_check_prompt, parse_verdict
from smartsupport.privacy import Redactor
from smartsupport.services import Services
from smartsupport.storage.base import SqlDatabase, Store
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger(__name__)
KIND = "analytics.resolution_check"
PER_JOB = 50  # conversations one job reads (a few minutes against a slow model)
# How often the worker looks, and at most one job per workspace per this long: the job's key
# names the slot, so the workers of several processes ask for the same job (jobs are
# idempotent on their key).
EVERY = timedelta(minutes=5)
# Conversations that became automated resolutions earlier are not read when the check is
# turned on (a backfill of months of history would cost more than it tells).
LOOKBACK = timedelta(days=30)
READ = (Author.CUSTOMER, Author.BOT, Author.AGENT)

# One range of the rollup's (workspace, start) index: started within LOOKBACK and at least
# a window ago (a conversation decided now started before its last message + the window).
WAITING = """SELECT r.conversation_id, r.last_us FROM analytics_rollup r
LEFT JOIN resolution_checks v ON v.conversation_id = r.conversation_id
WHERE r.workspace_id = ? AND r.created_us >= ? AND r.created_us <= ?
  AND r.resolvable = 1 AND r.last_us + ? <= ?
  AND NOT (r.next_us IS NOT NULL AND r.next_us <= r.last_us + ?)
  AND (v.conversation_id IS NULL OR v.last_us <> r.last_us)
ORDER BY r.created_us DESC, r.conversation_id LIMIT ?"""


def _db(store: object) -> SqlDatabase:
    return cast(SqlDatabase, store)


def steps_of(services: Services) -> list[LLMStep]:
    """The answer chain's LLM steps, in its order (empty in a process without them)."""
    # The assistant is any turn.Responder: only the product's own one has an answerer.
    answerer = getattr(services.assistant, "answerer", None)
    return answerer.llm_chain if isinstance(answerer, Answerer) else []


async def waiting(
    store: object, workspace_id: str, window: timedelta, now: datetime, limit: int = PER_JOB
) -> list[dict[str, Any]]:
    """The automated resolutions of a workspace with no verdict for their last message,
    the most recently started first."""
    w = window // timedelta(microseconds=1)
    start, end = micros(now - LOOKBACK), micros(now - window)
    return await _db(store).fetch(WAITING, workspace_id, start, end, w, micros(now), w, limit)


async def ask(services: Services, now: datetime) -> list[Job]:
    """A job for each workspace with conversations waiting (none while one is unfinished)."""
    db = _db(services.store)
    window = timedelta(hours=services.settings.recontact_window_hours)
    slot = int(now.timestamp() // EVERY.total_seconds())
    asked = []
    for workspace_id in sorted(services.workspaces):
        if not await waiting(db, workspace_id, window, now, limit=1):
            continue
        busy = await db.fetchrow(
            "SELECT id FROM jobs WHERE kind = ? AND workspace_id = ? "
            "AND status IN ('queued', 'running')",
            KIND,
            workspace_id,
        )
        if busy is not None:
            continue
        job, _ = await jobs.enqueue(db, workspace_id, KIND, f"{KIND}:{workspace_id}:{slot}")
        asked.append(job)
    return asked


async def run(services: Services, job: Job, progress: Any) -> dict[str, Any]:
    """The ``analytics.resolution_check`` handler of ``job_runner``."""
    steps = steps_of(services)
    if not steps:
        raise Conflict(
            "this process has no language model in its answer chain; the resolution check "
            "needs one (SMARTSUPPORT_LLM_PROVIDERS and llm:NAME in SMARTSUPPORT_ANSWER_CHAIN)"
        )
    workspace = services.workspace(job.workspace_id)
    window = timedelta(hours=services.settings.recontact_window_hours)
    found = await waiting(services.store, workspace.id, window, utcnow())
    verdicts: dict[str, int] = {}
    for i, row in enumerate(found):
        progress({"checked": i, "of": len(found)})
        verdict = await check(
            steps, services.store, workspace, row["conversation_id"], int(row["last_us"])
        )
        if verdict is None:
            log.warning("resolution check of %s: every LLM step failed; the rest waits",
                        workspace.id)  # fmt: skip
            return {"checked": i, "verdicts": verdicts, "stopped": "every LLM step failed"}
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    return {"checked": len(found), "verdicts": verdicts}


async def check(
    steps: list[LLMStep],
    store: object,
    workspace: WorkspaceConfig,
    conversation_id: str,
    last_us: int,
) -> str | None:
    """Ask the steps in order whether the conversation resolved the customer's issue; store
    and return the verdict, or None when every step failed (nothing is stored)."""
    history = await cast(Store, store).list_messages(conversation_id)
    lines = [(m.author.value, m.text) for m in history if m.author in READ and m.text.strip()]
    first = next((i for i, (a, _) in enumerate(lines) if a == Author.CUSTOMER.value), 0)
    lines = lines[first:]  # from the customer's first message: not the greeting
    usage = Usage()
    for step in steps:
        prompt = build_check_prompt(
            business=workspace.name,
            lines=lines,
            redactor=Redactor() if step.config.redact else None,
        )
        try:
            completion = await step.generate(
                prompt.messages, max_tokens=MAX_TOKENS, temperature=0.0, usage=usage
            )
        except LLMError as exc:
            log.info("resolution check of %s: %s failed: %s", conversation_id, step.name, exc)
            continue
        verdict = parse_verdict(completion.text)
        await _store(
            _db(store), workspace.id, conversation_id, last_us, verdict.verdict, verdict.reason,
            step.name, completion.model, usage, prompt.sent_chars,
        )  # fmt: skip
        return verdict.verdict
    return None


async def _store(
    db: SqlDatabase,
    workspace_id: str,
    conversation_id: str,
    last_us: int,
    verdict: str,
    reason: str,
    step: str,
    model: str,
    usage: Usage,
    sent_chars: int,
) -> None:
    """Write (or replace) the conversation's verdict with the tokens and cost of its calls
    (a failed step's estimated usage too, as ``Usage`` counted it)."""
    sealed = db.fields.seal("resolution_checks", "reason", conversation_id, reason)
    await db.execute(
        "INSERT INTO resolution_checks (conversation_id, workspace_id, last_us, verdict, "
        "reason, step, model, input_tokens, output_tokens, cost_nanos, sent_chars, checked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE "
        "SET last_us = excluded.last_us, verdict = excluded.verdict, reason = excluded.reason, "
        "step = excluded.step, model = excluded.model, input_tokens = excluded.input_tokens, "
        "output_tokens = excluded.output_tokens, cost_nanos = excluded.cost_nanos, "
        "sent_chars = excluded.sent_chars, checked_at = excluded.checked_at",
        conversation_id, workspace_id, last_us, verdict, sealed, step, model,
        usage.input_tokens, usage.output_tokens, nanos(usage.cost), sent_chars, utcnow(),
    )  # fmt: skip
