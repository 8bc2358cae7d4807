"""Support KPIs, computed from what the product already stores (docs/analytics.md defines
each one): conversations and their messages (``meta.nlu`` on customer messages, ``meta.step``
and ``meta.citations`` on the assistant's, ``metadata.llm_usage`` on the conversation), the
event log's ``conversation.status`` entries (handoffs and their reasons), the inbox row
(assignment, resolution, CSAT) and ``answer_feedback`` (migration 0020).

``walk`` reads a workspace's conversations of a time range in pages (keyset on creation time
and id, a few queries per page, never the whole range in memory) and turns each into one
``Facts`` row. The report (``analytics_report.py``), the JSON API and the CSV export are all
built from the same rows, so their numbers agree by construction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from smartsupport.analytics_facts import Facts, conversation_facts, related, settle
from smartsupport.errors import RequestError
from smartsupport.storage.base import SqlDatabase

FILTERS = ("from", "to", "channel", "language", "intent")
DEFAULT_DAYS = 30
MAX_DAYS = 366
PAGE = 400  # conversations per page: a few queries each, bounded memory


@dataclass(frozen=True, slots=True)
class Filters:
    workspace_id: str
    start: datetime
    end: datetime  # exclusive
    channel: str | None = None
    language: str | None = None
    intent: str | None = None

    def matches(self, facts: Facts) -> bool:
        return (self.language is None or facts.language == self.language) and (
            self.intent is None or facts.intent == self.intent
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "channel": self.channel,
            "language": self.language,
            "intent": self.intent,
        }


def _moment(name: str, value: str, *, end: bool) -> datetime:
    """A date (YYYY-MM-DD: ``to`` includes the whole day) or an ISO 8601 date-time."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(value)
        # Days are UTC days everywhere (the trend, the CSV): offsets are converted.
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise RequestError(
            f"{name}={value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time",
            code="invalid_date",
        ) from None
    except OverflowError:  # 9999-12-31 has no next day
        raise RequestError(f"{name}={value!r} is out of range", code="invalid_date") from None


def parse_filters(workspace_id: str, params: Mapping[str, str], now: datetime) -> Filters:
    """The filters of a query string. Unknown names, bad dates, an empty or reversed range,
    a range that starts in the future or spans more than a year are RequestError (400) with
    the fix; a range that ends in the future is cut at ``now``."""
    unknown = sorted(set(params) - set(FILTERS))
    if unknown:
        raise RequestError(
            f"unknown filter {', '.join(unknown)}; known filters: {', '.join(FILTERS)}",
            code="unknown_filter",
        )
    end = _moment("to", params["to"], end=True) if params.get("to") else now
    if params.get("from"):
        start = _moment("from", params["from"], end=False)
    elif end.year < 2:
        start = end  # year 1 has no 30 days before it: an empty range
    else:
        start = end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise RequestError(
            f"the range is empty: from ({start.isoformat()}) must be before to ({end.isoformat()})",
            code="empty_range",
        )
    if start > now:
        raise RequestError(
            f"the range starts in the future ({start.isoformat()}); nothing happened yet",
            code="range_in_future",
        )
    if end - start > timedelta(days=MAX_DAYS):
        raise RequestError(
            f"the range spans more than {MAX_DAYS} days; ask for a shorter one",
            code="range_too_long",
        )
    extra = {k: (params.get(k) or None) for k in ("channel", "language", "intent")}
    for name, value in extra.items():
        if value is not None and (len(value) > 64 or not value.isprintable()):
            raise RequestError(
                f"{name} must be at most 64 printable characters", code="invalid_filter"
            )
    return Filters(workspace_id, start, min(end, now), **extra)


def _db(store: object) -> SqlDatabase:
    return cast(SqlDatabase, store)


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


async def walk(
    store: object, filters: Filters, window: timedelta, now: datetime
) -> AsyncIterator[list[Facts]]:
    """The facts of every conversation created in the range, one page at a time, in order
    of creation (the language and intent filters are applied here too)."""
    db = _db(store)
    after: tuple[datetime, str] | None = None
    channel = "AND channel = ? " if filters.channel else ""
    while True:
        args: list[Any] = [filters.workspace_id, filters.start, filters.end]
        args += [filters.channel] if filters.channel else []
        keyset = ""
        if after is not None:
            keyset = "AND (created_at > ? OR (created_at = ? AND id > ?)) "
            args += [after[0], after[0], after[1]]
        rows = await db.fetch(
            "SELECT id, customer_id, channel, status, metadata, created_at FROM conversations "
            f"WHERE workspace_id = ? AND created_at >= ? AND created_at < ? {channel}{keyset}"
            "ORDER BY created_at, id LIMIT ?",
            *args,
            PAGE,
        )
        if not rows:
            return
        after = (rows[-1]["created_at"], rows[-1]["id"])
        page = await page_facts(db, rows, now)
        await _recontacts(db, rows, page, window, now)
        yield [f for f in page if filters.matches(f)]
        if len(rows) < PAGE:
            return


async def page_facts(db: SqlDatabase, rows: list[dict[str, Any]], now: datetime) -> list[Facts]:
    """The facts of these conversations (rows of ``conversations``), all but re-contact
    (``settle`` is not called): a few queries for the whole page."""
    ids = [r["id"] for r in rows]
    marks = _marks(ids)
    messages = await db.fetch(
        "SELECT id, conversation_id, author, reply_to, meta, created_at, "
        "CASE WHEN author = 'customer' THEN text ELSE '' END AS text "
        f"FROM messages WHERE conversation_id IN ({marks}) ORDER BY conversation_id, seq",
        *ids,
    )
    for m in messages:  # the texts of unanswered questions; sealed at rest when encrypted
        if m["text"]:
            m["text"] = db.fields.open("messages", "text", m["id"], m["text"])
    statuses = await db.fetch(
        "SELECT conversation_id, data, created_at FROM events "
        f"WHERE conversation_id IN ({marks}) AND type = 'conversation.status' ORDER BY id",
        *ids,
    )
    inbox = await db.fetch(
        "SELECT conversation_id, assigned_at, resolved_at, csat_rating "
        f"FROM inbox_conversations WHERE conversation_id IN ({marks})",
        *ids,
    )
    ratings = await db.fetch(
        "SELECT conversation_id, message_id, rating, source "
        f"FROM answer_feedback WHERE conversation_id IN ({marks})",
        *ids,
    )
    grouped = related(ids, messages, statuses, inbox, ratings)
    return [conversation_facts(row, *grouped[row["id"]], now=now) for row in rows]


async def _recontacts(
    db: SqlDatabase,
    rows: list[dict[str, Any]],
    facts: list[Facts],
    window: timedelta,
    now: datetime,
) -> None:
    """Whether each customer came back on the same topic within the window after the
    conversation's last message, then each conversation's automated resolution."""
    customers = sorted({r["customer_id"] for r in rows})
    earliest = min(f.created_at for f in facts)
    latest = max((f.last_at or f.created_at) for f in facts) + window
    later = await db.fetch(
        f"SELECT id, customer_id, created_at FROM conversations WHERE customer_id IN "
        f"({_marks(customers)}) AND created_at > ? AND created_at <= ?",
        *customers,
        earliest,
        latest,
    )
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for c in later:
        by_customer.setdefault(c["customer_id"], []).append(c)
    # The topic of every later conversation that can be another's re-contact (one of the
    # page is the only one of its customer's when it is alone in the list).
    page_ids = {r["id"] for r in rows}
    topics = await _topics(
        db,
        [
            c["id"]
            for c in later
            if c["id"] not in page_ids or len(by_customer[c["customer_id"]]) > 1
        ],
    )
    for row, fact in zip(rows, facts, strict=True):
        until = (fact.last_at or fact.created_at) + window
        again = any(
            c["id"] != row["id"]
            and fact.created_at < c["created_at"] <= until
            and (fact.intent is None or topics.get(c["id"]) in (None, fact.intent))
            for c in by_customer.get(row["customer_id"], [])
        )
        settle(fact, again, window, now)


async def _topics(db: SqlDatabase, ids: list[str]) -> dict[str, str | None]:
    """The topic of each conversation: the first intent recognised in it."""
    topics: dict[str, str | None] = {i: None for i in ids}
    for start in range(0, len(ids), PAGE):
        chunk = ids[start : start + PAGE]
        rows = await db.fetch(
            "SELECT conversation_id, meta FROM messages WHERE author = 'customer' AND "
            f"conversation_id IN ({_marks(chunk)}) ORDER BY conversation_id, seq",
            *chunk,
        )
        for r in rows:
            intent = ((r["meta"] or {}).get("nlu") or {}).get("intent")
            if intent and topics[r["conversation_id"]] is None:
                topics[r["conversation_id"]] = intent
    return topics
