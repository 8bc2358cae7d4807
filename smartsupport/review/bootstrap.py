"""Bootstrap from history: suggested intents and FAQ entries from past tickets or chats.

    report = await import_history(store, workspace, "tickets.json", data)
    await accept(store, workspace, suggestion_id, knowledge, staff_id=...)

The customers' questions of an import are clustered like the review queue (clusters.py);
each cluster of at least ``MIN_SIZE`` questions becomes
    an intent suggestion    a name from its most frequent words, its questions as examples
    an FAQ suggestion       its most central question and the agents' answer to the most
                            central question that has one (when the export carries answers)
Accepting writes through the existing paths: an intent's examples become review decisions
(a new intent, or more examples of the existing intent of that name), trained in by the next
retraining, gated like any other; an FAQ entry becomes a help article through
``KnowledgeBase.create_article``, searchable at once.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any, cast

from smartsupport.domain import utcnow
from smartsupport.errors import Conflict, InvalidInput, NotFound
from smartsupport.ids import new_id
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.review.clusters import MAX_TEXTS, group
from smartsupport.review.decisions import INTENT_NAME, nlu_spec
from smartsupport.review.history import read_history
from smartsupport.review.store import ReviewStore, cipher
from smartsupport.storage.base import SqlDatabase
from smartsupport.storage.fields import FieldCipher
from smartsupport.workspaces import WorkspaceConfig

MIN_SIZE = 2
MAX_EXAMPLES = 25
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
STOP_WORDS = set(
    "the and for you your are can how what when where why with this that have has was not "
    "but from does did will would could should there their they them about into just any "
    "our out get got its it's please thanks thank hello hi hey yes need want like know "
    "would i'm i've dont don't cant can't still also some one all been being which who".split()
)


def _db(store: object) -> SqlDatabase:
    return cast(SqlDatabase, store)


def intent_name(questions: list[str], taken: set[str]) -> str:
    """A readable name from the two most frequent words of a cluster's questions."""
    words = Counter(
        w for q in questions for w in {w.lower() for w in _WORD.findall(q)} if w not in STOP_WORDS
    )
    base = "_".join(w for w, _ in words.most_common(2)) or "topic"
    base = re.sub(r"[^A-Za-z0-9_]", "", base) or "topic"
    name, n = base[:70], 2
    while name in taken:
        name, n = f"{base[:70]}_{n}", n + 1
    taken.add(name)
    return name


async def import_history(
    store: object, workspace: WorkspaceConfig, name: str, data: bytes
) -> dict[str, Any]:
    """Read an export, cluster its questions and store the suggestions; a summary."""
    exchanges = read_history(name, data)
    clustered = exchanges[:MAX_TEXTS]
    groups = await asyncio.to_thread(group, [e.question for e in clustered])
    taken = set(nlu_spec(workspace).intents) | await ReviewStore(store).learned_intents(
        workspace.id
    )
    now, rows, fields = utcnow(), [], cipher(store)
    for indexes in groups:
        if len(indexes) < MIN_SIZE:
            continue
        members = [clustered[i] for i in indexes]
        questions = list(dict.fromkeys(m.question for m in members))[:MAX_EXAMPLES]
        row_id = new_id()
        rows.append(
            (row_id, workspace.id, name, "intent", intent_name(questions, taken), None,
             _sealed(fields, row_id, questions), len(members), now)
        )  # fmt: skip
        answered = next((m for m in members if m.answer), None)
        if answered is not None:
            row_id = new_id()
            rows.append(
                (row_id, workspace.id, name, "faq",
                 fields.seal("review_suggestions", "name", row_id, members[0].question),
                 fields.seal("review_suggestions", "answer", row_id, answered.answer),
                 _sealed(fields, row_id, questions[:5]), len(members), now)
            )  # fmt: skip
    if rows:
        await _db(store).executemany(
            "INSERT INTO review_suggestions (id, workspace_id, source, kind, name, answer,"
            " examples, size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return {
        "source": name,
        "questions": len(exchanges),
        "clustered": len(clustered),
        "answered": sum(1 for e in exchanges if e.answer),
        "clusters": len(groups),
        "intent_suggestions": sum(1 for r in rows if r[3] == "intent"),
        "faq_suggestions": sum(1 for r in rows if r[3] == "faq"),
    }


def _sealed(fields: FieldCipher, row_id: str, examples: list[str]) -> dict[str, str]:
    # Customers' questions: sealed like message texts, the list as one JSON text, kept in a
    # JSON object (a bare string would not round-trip through SQLite's JSON columns).
    return {"text": fields.seal("review_suggestions", "examples", row_id, json.dumps(examples))}


def _opened(store: object, row: dict[str, Any]) -> dict[str, Any]:
    fields, row_id = cipher(store), row["id"]
    examples = fields.open("review_suggestions", "examples", row_id, row["examples"]["text"])
    return {
        **row,
        "name": fields.open("review_suggestions", "name", row_id, row["name"]),
        "answer": fields.open("review_suggestions", "answer", row_id, row["answer"]),
        "examples": json.loads(examples),
    }


async def suggestions(store: object, workspace_id: str, status: str = "open") -> list[dict]:
    rows = await _db(store).fetch(
        "SELECT * FROM review_suggestions WHERE workspace_id = ? AND status = ?"
        " ORDER BY size DESC, kind, id LIMIT 500",
        workspace_id,
        status,
    )
    return [_opened(store, row) for row in rows]


async def _open(store: object, workspace_id: str, suggestion_id: str) -> dict[str, Any]:
    row = await _db(store).fetchrow(
        "SELECT * FROM review_suggestions WHERE workspace_id = ? AND id = ?",
        workspace_id,
        suggestion_id,
    )
    if row is None:
        raise NotFound(f"no suggestion {suggestion_id!r} in workspace {workspace_id!r}")
    if row["status"] != "open":
        raise Conflict(f"suggestion {suggestion_id!r} was already {row['status']}")
    return _opened(store, row)


async def _close(store: object, suggestion_id: str, status: str, staff_id: str | None) -> None:
    await _db(store).execute(
        "UPDATE review_suggestions SET status = ?, decided_by = ?, decided_at = ? WHERE id = ?",
        status, staff_id, utcnow(), suggestion_id,
    )  # fmt: skip


async def accept(
    store: object,
    workspace: WorkspaceConfig,
    suggestion_id: str,
    knowledge: KnowledgeBase,
    *,
    name: str | None = None,
    answer: str | None = None,
    staff_id: str | None = None,
) -> dict[str, Any]:
    """Accept a suggestion (``name``/``answer`` override the suggested intent name, FAQ
    question or answer); what was written."""
    row = await _open(store, workspace.id, suggestion_id)
    if row["kind"] == "intent":
        intent = (name or row["name"]).strip()
        if not INTENT_NAME.match(intent):
            raise InvalidInput(f"{intent!r} is not a valid intent name (letters, digits, _ . : -)")
        action = "assign" if intent in nlu_spec(workspace).intents else "new_intent"
        examples = [(f"import:{suggestion_id}:{i}", text) for i, text in enumerate(row["examples"])]
        await ReviewStore(store).decide(workspace.id, examples, action, intent, staff_id)
        written: dict[str, Any] = {"intent": intent, "examples": len(examples), "action": action}
    else:
        body = (answer or row["answer"] or "").strip()
        article = await knowledge.create_article(
            workspace.id,
            title=(name or row["name"]).strip()[:200],
            body=body,
            locale=workspace.default_locale,
            external_id=f"review:{suggestion_id}",
        )
        written = {"article_id": article.id, "title": article.title}
    await _close(store, suggestion_id, "accepted", staff_id)
    return written


async def reject(
    store: object, workspace_id: str, suggestion_id: str, staff_id: str | None = None
) -> None:
    await _open(store, workspace_id, suggestion_id)
    await _close(store, suggestion_id, "rejected", staff_id)
