"""The analytics report and CSV read from the rollup (migration 0031, ``analytics_rollup``):
the same numbers as the raw computation (``analytics_report.build_report``), summed in SQL.

    report(store, filters, window, now)     the report JSON
    csv_pages(store, filters, window, now)  the CSV export, a page of Facts at a time

Whole days of the range that are settled are read from their daily sums (migration 0036,
``analytics_daily``), the rest (the cut edges, recent days, a day whose sums a late change
cleared) from the per-conversation rows. The percentiles' histograms and the unanswered
questions' counts are summed per slice (migration 0040, ``analytics_slices``): with two
filters or more they are read from the rows of the whole range, as are escalation reasons.

Both first roll up what changed since the range starts (``analytics_rollup.catch_up``, at
most ``CATCH_UP`` conversations, normally a handful since the worker keeps up); if more are
still waiting (the backfill after migration 0031 has not reached the range yet) they answer
from the raw rows instead, exact but slower.

What depends on the request is derived here: re-contact (another conversation of the
customer started within the window after this one's last message, on the same topic or an
unknown one) compares the stored next contact (``next_us``) with the window, and "decided"
compares the last message with ``now``. Ties in the top lists follow the raw report's order
(first seen, by start time and conversation id), with the same ordering in SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from smartsupport import analytics_slices as slices
from smartsupport.analytics import PAGE, Filters, walk
from smartsupport.analytics_daily import (
    ARTICLES_SQL,
    CSAT_SCALE,
    GROUP_SQL,
    HEAT_SQL,
    Scope,
    coverage,
    daily_sql,
    daily_where,
    rollup_sql,
)
from smartsupport.analytics_facts import Facts
from smartsupport.analytics_report import (
    TOP_ARTICLES,
    TOP_UNANSWERED,
    Report,
    Tally,
    build_report,
    durations,
    ranks,
)
from smartsupport.analytics_rollup import _db, catch_up, due, moment
from smartsupport.analytics_slices import TIMINGS
from smartsupport.storage.base import SqlDatabase

CATCH_UP = 5000  # conversations rolled up before a report; beyond, the raw rows answer


class Parts:
    """A report's range split into the whole days read from the daily sums and the spans
    read from the rollup rows (``analytics_daily.coverage``)."""

    def __init__(
        self, filters: Filters, window: timedelta, now: datetime, days: list[str],
        spans: list[tuple[int, int]],
    ) -> None:  # fmt: skip
        self.filters = filters
        self.days = days
        self.spans = [Scope(filters, window, now, span) for span in spans]
        self.sliced = slices.slice_of(filters) is not None

    async def sums(self, db: SqlDatabase, sql: str, key: str) -> list[dict[str, Any]]:
        """``sql`` (``HEAT_SQL`` or ``ARTICLES_SQL``) over the rollup rows of each span,
        and the same sums of the summed days, merged by ``key`` (comma-separated columns):
        the counts added, the earliest start kept."""
        found = []
        if self.days:
            where, args = daily_where(self.filters, self.days)
            found += await db.fetch(daily_sql(sql, where), *args)
        for scope in self.spans:
            found += await db.fetch(rollup_sql(sql, scope.where), *scope.args)
        merged: dict[Any, dict[str, Any]] = {}
        for row in found:
            k = tuple(row[c] for c in key.split(","))
            seen = merged.get(k)
            if seen is None:
                merged[k] = dict(row)
                continue
            for name, value in row.items():
                if name == "first_us":
                    seen[name] = min(int(seen[name]), int(value))
                elif name not in key.split(","):
                    seen[name] = int(seen[name]) + int(value)
        return list(merged.values())


async def _groups(db: SqlDatabase, parts: Parts, report: Report) -> dict[str, list[int]]:
    """The Tallies (totals, per channel, language, intent and day) from the daily sums of
    the summed days and one GROUP BY per span of the others, and each timing's (count, sum
    in ms)."""
    found = []
    if parts.days:
        where, args = daily_where(parts.filters, parts.days)
        found += await db.fetch(f"SELECT * FROM analytics_daily WHERE {where}", *args)
    for scope in parts.spans:
        rows, args = scope.conversations()
        found += await db.fetch(GROUP_SQL.format(rows=rows), *args)
    counted = {name: [0, 0] for name in TIMINGS}
    names = [f for f in Tally.__dataclass_fields__]
    for g in found:
        tally = Tally(**{n: int(g[n] or 0) for n in names})
        report.totals.merge(tally)
        for name in ("channel", "language", "intent"):
            report.groups[name].setdefault(g[name] or "(none)", Tally()).merge(tally)
        report.days.setdefault(g["day"], Tally()).merge(tally)
        for k in CSAT_SCALE:
            if g[f"csat_{k}"]:
                report.csat[k] += int(g[f"csat_{k}"])
        for name in TIMINGS:
            counted[name][0] += int(g[f"{name}_n"])
            counted[name][1] += int(g[f"{name}_ms"] or 0)
    return counted


async def _summaries(
    db: SqlDatabase, scope: Scope, parts: Parts, counted: dict[str, list[int]]
) -> dict[str, dict[str, Any]]:
    """Each timing's count, average, median and p90, exact: located through the histograms
    of the filters' slice (``analytics_slices.percentiles``), or, with two filters or more,
    read from the rollup rows of the whole range by one query per timing that sorts only
    its values (faster than one scan sorting every row four times, NULLs included:
    measured, docs/benchmarks.md "Analytics dashboard")."""
    if parts.sliced:
        spans = [s.conversations() for s in parts.spans]
        return await slices.percentiles(
            db, parts.filters, parts.days, spans, scope.conversations(), counted
        )
    rows, args = scope.conversations()
    at: dict[str, dict[int, int]] = {name: {} for name in TIMINGS}
    for name, expr in TIMINGS.items():
        if not (wanted := ranks(counted[name][0]) if counted[name][0] else []):
            continue
        found = await db.fetch(
            f"{rows} SELECT v, r FROM (SELECT {expr} AS v, "
            f"ROW_NUMBER() OVER (ORDER BY {expr}) - 1 AS r FROM x WHERE {expr} IS NOT NULL) y "
            f"WHERE r IN ({', '.join('?' for _ in wanted)})",
            *args,
            *wanted,
        )
        at[name] = {int(r["r"]): int(r["v"]) for r in found}
    return {name: durations(counted[name][0], counted[name][1], at[name]) for name in TIMINGS}


async def _first_rows(
    db: SqlDatabase,
    scope: Scope,
    table: str,
    key: str,
    groups: list[dict[str, Any]],
    within: str = "",
    extra: str = "",
) -> dict[Any, tuple[int, dict[str, Any]]]:
    """For groups with ``k`` and ``first_us`` (their earliest conversation start), the
    first row of each in the raw report's order (start, conversation id, then ``within``
    the conversation): {k: (position among these rows, row)}. Reads only the rows at those
    starts; the order is SQL's, as in ``analytics.walk``."""
    starts = sorted({int(g["first_us"]) for g in groups})
    keys = [g["k"] for g in groups]
    found: dict[Any, tuple[int, dict[str, Any]]] = {}
    if not keys:
        return found
    order = f"created_us, conversation_id{within and ', ' + within}"
    rows = await db.fetch(
        f"SELECT {key} AS k{extra} FROM {table} WHERE {scope.keyed} "
        f"AND {key} IN ({', '.join('?' for _ in keys)}) "
        f"AND created_us IN ({', '.join('?' for _ in starts)}) ORDER BY {order}",
        *scope.keyed_args,
        *keys,
        *starts,
    )
    for i, r in enumerate(rows):
        found.setdefault(r["k"], (i, r))
    return found


def _in_first_seen_order(
    groups: list[dict[str, Any]], first: dict[Any, tuple[int, dict[str, Any]]]
) -> list[dict[str, Any]]:
    return sorted(groups, key=lambda g: (int(g["first_us"]), first[g["k"]][0]))


async def _details(db: SqlDatabase, scope: Scope, parts: Parts, report: Report) -> None:
    reasons = await db.fetch(
        "SELECT escalation_reason AS k, COUNT(*) AS n, MIN(created_us) AS first_us "
        f"FROM analytics_rollup WHERE {scope.where} AND escalation_reason IS NOT NULL "
        "GROUP BY escalation_reason",
        *scope.args,
    )
    first = await _first_rows(db, scope, "analytics_rollup", "escalation_reason", reasons)
    report.reasons = Counter({g["k"]: int(g["n"]) for g in _in_first_seen_order(reasons, first)})
    cells = await parts.sums(db, HEAT_SQL, "label,bucket")
    labels: dict[str, dict[str, Any]] = {}
    for c in cells:
        seen = labels.setdefault(c["label"], {"k": c["label"], "first_us": c["first_us"]})
        seen["first_us"] = min(int(seen["first_us"]), int(c["first_us"]))
    groups = list(labels.values())
    first = await _first_rows(
        db, scope, "analytics_rollup_turns", "label", groups, within="first_turn"
    )
    report.heat = {g["k"]: [0] * 5 for g in _in_first_seen_order(groups, first)}
    for c in cells:
        report.heat[c["label"]][int(c["bucket"])] = int(c["n"])
    await _questions(db, scope, parts, report)
    await _articles(db, scope, parts, report)


async def _questions(db: SqlDatabase, scope: Scope, parts: Parts, report: Report) -> None:
    """The top unanswered questions, counted by hash: the most frequent first, ties in
    first-seen order (``Counter.most_common``), each shown with its first text. Counted
    from the summed days of the filters' slice and the spans' rows, or from the rows of the
    whole range."""
    if parts.sliced and parts.days:
        grouped, grouped_args = slices.question_counts(
            parts.filters, parts.days, [(s.where, s.args) for s in parts.spans]
        )
    else:
        grouped = (
            "SELECT question AS k, COUNT(*) AS n, MIN(created_us) AS first_us "
            f"FROM analytics_rollup_questions WHERE {scope.where} GROUP BY question"
        )
        grouped_args = scope.args
    top = await db.fetch(
        f"SELECT k, n, first_us FROM ({grouped}) g "
        f"ORDER BY n DESC, first_us LIMIT {TOP_UNANSWERED + 1}",
        *grouped_args,
    )
    beyond = top[TOP_UNANSWERED:]
    top = top[:TOP_UNANSWERED]
    if beyond and (beyond[0]["n"], beyond[0]["first_us"]) == (top[-1]["n"], top[-1]["first_us"]):
        # Groups tied with the last one in count and start: the raw report's order decides.
        last = top[-1]
        tied = await db.fetch(
            f"SELECT k, n, first_us FROM ({grouped}) g WHERE n = ? AND first_us = ?",
            *grouped_args,
            last["n"],
            last["first_us"],
        )
        top += [t for t in tied if t["k"] not in {g["k"] for g in top}]
    first = await _first_rows(
        db, scope, "analytics_rollup_questions", "question", top, "turn", ", message_id"
    )
    top.sort(key=lambda g: (-int(g["n"]), int(g["first_us"]), first[g["k"]][0]))
    picked = top[:TOP_UNANSWERED]
    texts = {}
    if picked:
        ids = [first[g["k"]][1]["message_id"] for g in picked]
        for m in await db.fetch(
            f"SELECT id, text FROM messages WHERE id IN ({', '.join('?' for _ in ids)})", *ids
        ):
            texts[m["id"]] = db.fields.open("messages", "text", m["id"], m["text"])
    for g in picked:
        report.unanswered[g["k"]] = int(g["n"])
        report.examples[g["k"]] = texts.get(first[g["k"]][1]["message_id"], "")[:200]


async def _articles(db: SqlDatabase, scope: Scope, parts: Parts, report: Report) -> None:
    """Every article's answers and thumbs; the title of the first answer citing it, read
    for the ones the report shows."""
    sums = await parts.sums(db, ARTICLES_SQL, "k")
    sums.sort(key=lambda g: (-int(g["answers"]), g["k"]))  # as Report.as_json orders them
    shown = sums[:TOP_ARTICLES]
    first = await _first_rows(
        db, scope, "analytics_rollup_articles", "article_id", shown, extra=", title"
    )
    for g in sums:
        report.articles[g["k"]] = {
            "article_id": g["k"], "title": first[g["k"]][1]["title"] if g["k"] in first else "",
            "answers": int(g["answers"]), "up": int(g["up"]), "down": int(g["down"]),
        }  # fmt: skip


async def ready(store: object, filters: Filters) -> bool:
    """Roll up what changed since the range starts (conversations started earlier cannot
    change its numbers: they are not in it and cannot be re-contacts of those in it); True
    when nothing the range depends on waits."""
    if await due(store, filters.workspace_id) == 0:  # caught up: one look at an index
        return True
    await catch_up(store, filters.workspace_id, limit=CATCH_UP, since=filters.start)
    return await due(store, filters.workspace_id, since=filters.start) == 0


async def report(
    store: object, filters: Filters, window: timedelta, now: datetime
) -> dict[str, Any]:
    """The report of ``analytics_report.build_report``, from the rollup."""
    if not await ready(store, filters):
        return await build_report(store, filters, window, now)
    db = _db(store)
    scope = Scope(filters, window, now)
    parts = Parts(filters, window, now, *await coverage(db, filters, window, now))
    out = Report(filters)
    counted = await _groups(db, parts, out)
    out.summaries = await _summaries(db, scope, parts, counted)
    await _details(db, scope, parts, out)
    return out.as_json()


def _facts(r: dict[str, Any]) -> Facts:
    """One CSV row's Facts from its rollup row (no turns or answers: the CSV has none)."""
    passes = bool(r["resolvable"]) and not r["recontacted"]
    decided = bool(r["decided"])
    resolution = r["resolution_ms"]
    automated = passes if (decided or not passes) else None
    if automated and resolution is None:
        resolution = r["settled_ms"]

    def seconds(ms: int | None) -> float | None:
        return None if ms is None else ms / 1000

    return Facts(
        conversation_id=r["conversation_id"], created_at=moment(int(r["created_us"])),
        channel=r["channel"], language=r["language"], intent=r["intent"], status=r["status"],
        customer_messages=r["customer_messages"], answered_turns=r["answered_turns"],
        fallback_turns=r["fallback_turns"], out_of_scope_turns=r["out_of_scope_turns"],
        bot_answers=r["bot_answers"], escalated=bool(r["escalated"]),
        escalation_reason=r["escalation_reason"], agent_replied=bool(r["agent_replied"]),
        abandoned=bool(r["abandoned"]), thumbs_up=r["thumbs_up"], thumbs_down=r["thumbs_down"],
        agent_flags=r["agent_flags"], csat=r["csat"], recontacted=bool(r["recontacted"]),
        evaluated=decided, automated_resolution=automated,
        first_response_bot_s=seconds(r["first_response_bot_ms"]),
        first_response_human_s=seconds(r["first_response_human_ms"]),
        resolution_s=seconds(resolution), handle_s=seconds(r["handle_ms"]),
        llm_input_tokens=r["llm_input_tokens"], llm_output_tokens=r["llm_output_tokens"],
        llm_cost=r["llm_cost"], last_at=moment(int(r["last_us"])),
    )  # fmt: skip


async def csv_pages(
    store: object, filters: Filters, window: timedelta, now: datetime
) -> AsyncIterator[list[Facts]]:
    """The CSV's rows, ``PAGE`` conversations at a time in order of start (keyset on the
    rollup's range index)."""
    if not await ready(store, filters):
        async for page in walk(store, filters, window, now):
            yield page
        return
    db = _db(store)
    scope = Scope(filters, window, now)
    after: tuple[int, str] | None = None
    while True:
        rows, args = scope.conversations(recontacted=True, after=after, page=PAGE)
        found = await db.fetch(
            f"{rows} SELECT * FROM x ORDER BY created_us, conversation_id LIMIT ?", *args, PAGE
        )
        if not found:
            return
        yield [_facts(r) for r in found]
        if len(found) < PAGE:
            return
        after = (int(found[-1]["created_us"]), found[-1]["conversation_id"])
