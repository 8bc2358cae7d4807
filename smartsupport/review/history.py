"""Past support conversations read into (question, answer) pairs, for bootstrapping.

Two formats, both checked with errors that say what is wrong and where:

Zendesk ticket exports (developer.zendesk.com, Tickets and Incremental Exports APIs; the
account data export):
    {"tickets": [ticket, ...], ...}     a page of the Tickets / Incremental Ticket Export API
    [ticket, ...]                       a JSON array of ticket objects
    ticket per line                     the account data export (NDJSON, with "comments")
  A ticket's question is its ``description`` (the text of its first comment), else the
  requester's first comment, else its ``subject``; its answer is the first public comment
  written by someone other than the requester (``comments``: ``author_id``, ``public``,
  ``plain_body`` or ``body``), when the export carries comments.

A CSV of conversations (UTF-8, header row):
    conversation_id,author,text        author: customer (also user, visitor, end-user,
                                       requester) or agent (also bot, staff, assistant)
  One pair per conversation: its first customer message and the first answer after it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from smartsupport.errors import InvalidInput

MAX_BYTES = 50 * 1024 * 1024
MAX_CHARS = 600  # the question is in the first lines; signatures and quotes follow
CUSTOMER_AUTHORS = {"customer", "user", "visitor", "end-user", "end_user", "requester"}
AGENT_AUTHORS = {"agent", "bot", "staff", "assistant", "admin"}


@dataclass(slots=True)
class Exchange:
    question: str
    answer: str | None


def _clean(text: Any) -> str:
    return " ".join(str(text or "").split())[:MAX_CHARS]


def read_history(name: str, data: bytes) -> list[Exchange]:
    """The pairs in an uploaded file; the format is chosen by its name (.csv) or content."""
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{name}: {len(data)} bytes; imports are limited to {MAX_BYTES}")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"{name}: not valid UTF-8 (line {line}); save it as UTF-8") from exc
    if not content.strip():
        raise InvalidInput(f"{name}: the file is empty")
    if name.lower().endswith(".csv"):
        found = _conversations_csv(name, content)
    else:
        found = [_ticket(name, i, t) for i, t in enumerate(_tickets(name, content), 1)]
    exchanges = [e for e in found if e is not None and e.question]
    if not exchanges:
        raise InvalidInput(f"{name}: no customer questions found in the file")
    return exchanges


def _tickets(name: str, content: str) -> list[Any]:
    stripped = content.lstrip()
    try:
        whole = json.loads(content)
    except json.JSONDecodeError as exc:
        if not stripped.startswith("{"):
            raise InvalidInput(
                f"{name}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected "
                "a Zendesk ticket export or a .csv of conversations"
            ) from exc
        whole = None
    if isinstance(whole, dict):
        if isinstance(whole.get("tickets"), list):
            return list(whole["tickets"])
        if "description" in whole or "subject" in whole:
            return [whole]  # one ticket (a single-line account export, or the Show Ticket API)
    if isinstance(whole, list):
        return whole
    if whole is not None:
        raise InvalidInput(
            f"{name}: JSON, but not tickets; expected a Zendesk ticket export "
            '({"tickets": [...]}), a JSON array of tickets, or one ticket per line'
        )
    tickets = []
    for number, line in enumerate(content.splitlines(), 1):  # the account export: NDJSON
        if not line.strip():
            continue
        try:
            tickets.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{name}, line {number}: not a JSON ticket ({exc.msg})") from exc
    return tickets


def _ticket(name: str, number: int, ticket: Any) -> Exchange | None:
    if not isinstance(ticket, dict):
        raise InvalidInput(f"{name}: ticket {number} is not a JSON object")
    comments = ticket.get("comments")
    comments = [c for c in comments if isinstance(c, dict)] if isinstance(comments, list) else []
    requester = ticket.get("requester_id")

    def body(comment: dict[str, Any]) -> str:
        return _clean(comment.get("plain_body") or comment.get("body"))

    question = _clean(ticket.get("description"))
    if not question:
        asked = [c for c in comments if requester is None or c.get("author_id") == requester]
        question = body(asked[0]) if asked else _clean(ticket.get("subject"))
    answers = [
        body(c)
        for c in comments
        if c.get("public", True) and requester is not None and c.get("author_id") != requester
    ]
    return Exchange(question, next((a for a in answers if a), None)) if question else None


def _conversations_csv(name: str, content: str) -> list[Exchange | None]:
    reader = csv.DictReader(io.StringIO(content, newline=""), strict=True)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("conversation_id", "author", "text") if c not in header]
    if missing:
        raise InvalidInput(
            f"{name}: missing column(s) {', '.join(missing)}; the header must contain "
            f"conversation_id,author,text (found: {','.join(reader.fieldnames or []) or 'nothing'})"
        )
    reader.fieldnames = header
    asked: dict[str, str] = {}
    answered: dict[str, str] = {}
    try:
        for row in reader:
            conversation, author = (row.get("conversation_id") or "").strip(), row.get("author")
            text = _clean(row.get("text"))
            if author is None or row.get("text") is None:
                raise InvalidInput(f"{name}, line {reader.line_num}: row has too few columns")
            author = author.strip().lower()
            if not conversation or not text:
                continue
            if author in CUSTOMER_AUTHORS:
                asked.setdefault(conversation, text)
            elif author in AGENT_AUTHORS:
                if conversation in asked:
                    answered.setdefault(conversation, text)
            else:
                raise InvalidInput(
                    f"{name}, line {reader.line_num}: author {author!r} is neither a customer "
                    f"({', '.join(sorted(CUSTOMER_AUTHORS))}) nor an agent "
                    f"({', '.join(sorted(AGENT_AUTHORS))})"
                )
    except csv.Error as exc:
        raise InvalidInput(f"{name}: malformed CSV: {exc}") from exc
    return [Exchange(question, answered.get(c)) for c, question in asked.items()]
