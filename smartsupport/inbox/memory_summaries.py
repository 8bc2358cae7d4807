"""Customer memory summaries written by the language model (issue 16, item 1): when the
answer chain has LLM steps, each memory's extractive summary (memory.py) is followed by one
the model writes, in the conversation's language, checked before it is kept.

    await write_due(store, workspaces, steps)   the worker, after ``memory.catch_up``, in a
                                                task of its own (a slow model never holds
                                                the outbox); up to ``PER_PASS`` memories
    await summarise(steps, ...)                 one conversation: ask, check, or say why not

The model is asked through the answer chain's ``llm:NAME`` steps in their order (the
``LLMStep`` objects the answers use: their timeouts, retries and circuit breakers hold here
too, and ``/metrics`` counts these calls with theirs). The transcript is redacted per step
as for an answer (``Redactor`` unless the provider says ``redact: false``) and capped; the
reply must pass ``llm/summary.check`` (grounded: every order number, figure and placeholder
it states is in the transcript; not a leak of the rules; cut to a bounded length). Redacted
values are put back before the summary is stored, sealed like the messages it is made from.

What is stored (migration 0045): the summary and ``method`` = the step that wrote it; or,
when no summary was kept, ``method`` = ``extractive`` and ``method_note`` saying why (a
step's error or timeout, a rejected summary). A rejected summary is final (the model was
heard); when every step failed to answer, the memory is asked again on a later pass, up to
``MAX_ATTEMPTS`` asks, and this pass stops (the rest waits while the breakers have their say).
Without LLM steps nothing here runs: memories stay extractive. The memory's vector stays the
one of the extractive summary, the customer's own words, which is what a returning
customer's message is compared with (previous_case.py, memory.recall).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from smartsupport.domain import Author, Message, utcnow
from smartsupport.errors import LLMError
from smartsupport.llm.chain import LLMStep, Usage
from smartsupport.llm.summary import MAX_TOKENS, build_summary_prompt, check
from smartsupport.privacy import Redactor
from smartsupport.storage.base import SqlDatabase, Store
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger(__name__)
EXTRACTIVE = "extractive"
PER_PASS = 20  # memories one pass asks about (a minute or two against a slow model)
MAX_ATTEMPTS = 3  # asks that failed to get any answer before the extractive summary stays
READ = (Author.CUSTOMER, Author.BOT, Author.AGENT)


@dataclass(slots=True)
class Written:
    """What the steps made of one conversation."""

    summary: str | None  # None: the extractive summary stays
    method: str  # the step that wrote it, or EXTRACTIVE
    note: str = ""  # why not, step by step
    usage: Usage = field(default_factory=Usage)
    answered: bool = True  # False: no step answered at all (errors, timeouts, open breakers)


def language_of(messages: list[Message], default: str) -> str:
    """The language the customer last wrote in (the NLU's reading kept on their message)."""
    for message in reversed(messages):
        said = (message.meta.get("nlu") or {}).get("language")
        if message.author is Author.CUSTOMER and said:
            return str(said)
    return default


async def summarise(
    steps: list[LLMStep], business: str, lines: list[tuple[str, str]], language: str
) -> Written:
    """Ask the steps in order for a summary of ``lines``; the first that passes the checks."""
    usage, notes, answered = Usage(), [], False
    for step in steps:
        redactor = Redactor() if step.config.redact else None
        prompt = build_summary_prompt(
            business=business, lines=lines, language=language, redactor=redactor
        )
        try:
            completion = await step.generate(
                prompt.messages, max_tokens=MAX_TOKENS, temperature=0.0, usage=usage
            )
        except LLMError as exc:
            notes.append(f"{step.name}: {exc}")
            continue
        answered = True
        summary, why = check(completion.text, prompt)
        if summary is None:
            notes.append(f"{step.name}: {why}")
            continue
        restored = redactor.restore(summary) if redactor is not None else summary
        return Written(restored, step.name, "; ".join(notes), usage)
    return Written(None, EXTRACTIVE, "; ".join(notes), usage, answered)


async def write_due(
    store: Store,
    workspaces: Mapping[str, WorkspaceConfig],
    steps: list[LLMStep],
    *,
    limit: int = PER_PASS,
) -> int:
    """Ask for the summaries of up to ``limit`` memories the model has not had its say on;
    the number of memories done (see the module docstring)."""
    if not steps:
        return 0
    db = _sql(store)
    rows = await db.fetch(
        "SELECT conversation_id, workspace_id, llm_attempts FROM customer_memories "
        "WHERE NOT llm_done ORDER BY created_at LIMIT ?",
        limit,
    )
    done = 0
    for row in rows:
        conversation_id = row["conversation_id"]
        history = await store.list_messages(conversation_id, limit=500)
        lines = [(m.author.value, m.text) for m in history if m.author in READ and m.text.strip()]
        workspace = workspaces.get(row["workspace_id"])
        if not lines or workspace is None:
            why = "nothing to summarise" if not lines else "the workspace is not served here"
            await _keep(db, conversation_id, Written(None, EXTRACTIVE, why), done=True)
            done += 1
            continue
        language = language_of(history, workspace.default_locale)
        written = await summarise(steps, workspace.name, lines, language)
        if written.answered:
            await _keep(db, conversation_id, written, done=True)
            done += 1
            continue
        attempts = int(row["llm_attempts"]) + 1
        await _keep(db, conversation_id, written, done=attempts >= MAX_ATTEMPTS, attempts=attempts)
        log.warning("memory summary of %s: every LLM step failed (%s); the rest waits",
                    conversation_id, written.note)  # fmt: skip
        break
    return done


async def _keep(
    db: SqlDatabase, conversation_id: str, written: Written, *, done: bool, attempts: int = 0
) -> None:
    """Store what the steps made of the memory (the extractive ids stay as they are)."""
    fields = db.fields
    await db.execute(
        "UPDATE customer_memories SET summary = ?, method = ?, method_note = ?, "
        "llm_done = ?, llm_usage = ?, summarised_at = ?, "
        "llm_attempts = CASE WHEN ? > 0 THEN ? ELSE llm_attempts END "
        "WHERE conversation_id = ?",
        fields.seal("customer_memories", "summary", conversation_id, written.summary),
        written.method,
        fields.seal("customer_memories", "method_note", conversation_id, written.note or None),
        done,
        written.usage.as_dict(),
        utcnow(),
        attempts,
        attempts,
        conversation_id,
    )


def _sql(store: Store) -> SqlDatabase:
    if not isinstance(store, SqlDatabase):
        raise TypeError("customer memory needs an SQL store (SQLite or PostgreSQL)")
    return store
