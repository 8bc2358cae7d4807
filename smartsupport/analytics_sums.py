"""The analytics report and CSV read from the rollup (migration 0031, ``analytics_rollup``):
the same numbers as the raw computation (``analytics_report.build_report``), summed in SQL.

    report(store, filters, window, now)     the report JSON
    csv_pages(store, filters, window, now)  the CSV export, a page of Facts at a time

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

from smartsupport.analytics import PAGE, Filters, walk
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
from smartsupport.analytics_rollup import _db, catch_up, due, micros, moment
from smartsupport.storage.base import SqlDatabase

CSAT_SCALE = range(1, 6)  # the inbox's ratings (CHECK csat_rating BETWEEN 1 AND 5)
CATCH_UP = 5000  # conversations rolled up before a report; beyond, the raw rows answer
RECONTACT = "(r.next_us IS NOT NULL AND r.next_us <= r.last_us + ?)"
TIMINGS = {
    "first_response_bot": "first_response_bot_ms",
    "first_response_human": "first_response_human_ms",
    "time_to_resolution": "COALESCE(resolution_ms, "
    "CASE WHEN passes = 1 AND decided = 1 THEN settled_ms END)",  # on Scope.conversations
    "agent_handle_time": "handle_ms",
}


class Scope:
    """The WHERE clause of a report's filters over the rollup tables, and the derived
    columns of each conversation (``passes``: an automated resolution unless still
    pending; ``decided``: the window has passed since its last message)."""

    def __init__(self, filters: Filters, window: timedelta, now: datetime) -> None:
        self.window_us = window // timedelta(microseconds=1)
        self.now_us = micros(now)
        where = ["workspace_id = ?", "created_us >= ?", "created_us < ?"]
        self.args: list[Any] = [filters.workspace_id, micros(filters.start), micros(filters.end)]
        for name in ("channel", "language", "intent"):
            value = getattr(filters, name)
            if value is not None:
                where.append(f"{name} = ?")
                self.args.append(value)
        self.where = " AND ".join(where)

    def conversations(
        self,
        *,
        recontacted: bool = False,
        after: tuple[int, str] | None = None,
        page: int | None = None,
    ) -> tuple[str, list[Any]]:
        """The filtered rollup rows with ``passes`` and ``decided`` (and ``recontacted``
        for every row, which the CSV shows), as the common table ``x`` and its arguments;
        ``after`` starts after a (start, conversation id) keyset, ``page`` keeps only the
        first rows in that order. Not MATERIALIZED: the derived columns are two integer
        comparisons, and both engines then read only the columns the query uses."""
        keyset = " AND (r.created_us > ? OR (r.created_us = ? AND r.conversation_id > ?))"
        again = f", CASE WHEN {RECONTACT} THEN 1 ELSE 0 END AS recontacted" if recontacted else ""
        sql = (
            "WITH x AS (SELECT r.*, "
            f"CASE WHEN r.resolvable = 1 AND NOT {RECONTACT} THEN 1 ELSE 0 END AS passes, "
            f"CASE WHEN r.last_us + ? <= ? THEN 1 ELSE 0 END AS decided{again} "
            f"FROM analytics_rollup r WHERE {self.where}{keyset if after else ''}"
            f"{' ORDER BY r.created_us, r.conversation_id LIMIT ?' if page else ''})"
        )
        extra = [self.window_us] if recontacted else []
        more = [after[0], after[0], after[1]] if after else []
        size = [page] if page else []
        return sql, [self.window_us, self.window_us, self.now_us, *extra, *self.args, *more, *size]


GROUP_SQL = """{rows}
SELECT day, channel, language, intent, COUNT(*) AS conversations,
  SUM(CASE WHEN customer_messages > 0 THEN 1 ELSE 0 END) AS engaged,
  SUM(CASE WHEN customer_messages > 0 AND NOT (passes = 1 AND decided = 0) THEN 1 ELSE 0 END)
    AS evaluated,
  SUM(passes * decided) AS automated_resolutions,
  SUM(CASE WHEN passes = 1 AND decided = 0 THEN 1 ELSE 0 END) AS pending,
  SUM(CASE WHEN customer_messages > 0 AND escalated = 0 AND agent_replied = 0 THEN 1 ELSE 0 END)
    AS contained,
  SUM(CASE WHEN customer_messages > 0 THEN escalated ELSE 0 END) AS escalated,
  SUM(abandoned) AS abandoned, SUM(customer_messages) AS turns,
  SUM(fallback_turns) AS fallback_turns, SUM(out_of_scope_turns) AS out_of_scope_turns,
  SUM(bot_answers) AS bot_answers, SUM(thumbs_up) AS thumbs_up,
  SUM(thumbs_down) AS thumbs_down, SUM(agent_flags) AS agent_flags,
  COUNT(csat) AS csat_ratings, SUM(COALESCE(csat, 0)) AS csat_sum,
  {csat},
  SUM(llm_input_tokens) AS llm_input_tokens, SUM(llm_output_tokens) AS llm_output_tokens,
  SUM(llm_cost_nanos) AS llm_cost_nanos,
  {timings}
FROM x GROUP BY day, channel, language, intent
"""


async def _groups(db: SqlDatabase, scope: Scope, report: Report) -> dict[str, list[int]]:
    """The Tallies (totals, per channel, language, intent and day) from one GROUP BY, and
    each timing's (count, sum in ms)."""
    rows, args = scope.conversations()
    timings = ",\n  ".join(
        f"COUNT({expr}) AS {name}_n, SUM(COALESCE({expr}, 0)) AS {name}_ms"
        for name, expr in TIMINGS.items()
    )
    csat = ", ".join(f"SUM(CASE WHEN csat = {k} THEN 1 ELSE 0 END) AS csat_{k}" for k in CSAT_SCALE)
    found = await db.fetch(GROUP_SQL.format(rows=rows, timings=timings, csat=csat), *args)
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
    db: SqlDatabase, scope: Scope, counted: dict[str, list[int]]
) -> dict[str, dict[str, Any]]:
    """Each timing's count, average, median and p90. The values at the median's and the
    90th percentile's ranks are read in one scan: a window per timing sorts its values with
    the NULLs last, so the ranks wanted (all below the timing's count of values) are values."""
    wanted = {name: ranks(n) if (n := counted[name][0]) else [] for name in TIMINGS}
    at: dict[str, dict[int, int]] = {name: {} for name in TIMINGS}
    asked = [(i, name) for i, name in enumerate(TIMINGS) if wanted[name]]
    if asked:
        rows, args = scope.conversations()
        columns = ", ".join(
            f"{TIMINGS[name]} AS v{i}, "
            f"ROW_NUMBER() OVER (ORDER BY {TIMINGS[name]} NULLS LAST) - 1 AS r{i}"
            for i, name in asked
        )
        where = " OR ".join(
            f"r{i} IN ({', '.join('?' for _ in wanted[name])})" for i, name in asked
        )
        found = await db.fetch(
            f"{rows} SELECT * FROM (SELECT {columns} FROM x) y WHERE {where}",
            *args,
            *[rank for _, name in asked for rank in wanted[name]],
        )
        for r in found:
            for i, name in asked:
                if int(r[f"r{i}"]) in wanted[name]:
                    at[name][int(r[f"r{i}"])] = int(r[f"v{i}"])
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
        f"SELECT {key} AS k{extra} FROM {table} WHERE {scope.where} "
        f"AND {key} IN ({', '.join('?' for _ in keys)}) "
        f"AND created_us IN ({', '.join('?' for _ in starts)}) ORDER BY {order}",
        *scope.args,
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


async def _details(db: SqlDatabase, scope: Scope, report: Report) -> None:
    reasons = await db.fetch(
        "SELECT escalation_reason AS k, COUNT(*) AS n, MIN(created_us) AS first_us "
        f"FROM analytics_rollup WHERE {scope.where} AND escalation_reason IS NOT NULL "
        "GROUP BY escalation_reason",
        *scope.args,
    )
    first = await _first_rows(db, scope, "analytics_rollup", "escalation_reason", reasons)
    report.reasons = Counter({g["k"]: int(g["n"]) for g in _in_first_seen_order(reasons, first)})
    cells = await db.fetch(
        "SELECT label, bucket, SUM(turns) AS n, MIN(created_us) AS first_us "
        f"FROM analytics_rollup_turns WHERE {scope.where} GROUP BY label, bucket",
        *scope.args,
    )
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
    await _questions(db, scope, report)
    await _articles(db, scope, report)


async def _questions(db: SqlDatabase, scope: Scope, report: Report) -> None:
    """The top unanswered questions, counted by hash: the most frequent first, ties in
    first-seen order (``Counter.most_common``), each shown with its first text."""
    grouped = (
        "SELECT question AS k, COUNT(*) AS n, MIN(created_us) AS first_us "
        f"FROM analytics_rollup_questions WHERE {scope.where} GROUP BY question"
    )
    top = await db.fetch(
        f"{grouped} ORDER BY n DESC, first_us LIMIT {TOP_UNANSWERED + 1}", *scope.args
    )
    beyond = top[TOP_UNANSWERED:]
    top = top[:TOP_UNANSWERED]
    if beyond and (beyond[0]["n"], beyond[0]["first_us"]) == (top[-1]["n"], top[-1]["first_us"]):
        # Groups tied with the last one in count and start: the raw report's order decides.
        last = top[-1]
        tied = await db.fetch(
            f"SELECT k, n, first_us FROM ({grouped}) g WHERE n = ? AND first_us = ?",
            *scope.args,
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


async def _articles(db: SqlDatabase, scope: Scope, report: Report) -> None:
    """Every article's answers and thumbs; the title of the first answer citing it, read
    for the ones the report shows."""
    sums = await db.fetch(
        "SELECT article_id AS k, SUM(answers) AS answers, SUM(up) AS up, SUM(down) AS down, "
        f"MIN(created_us) AS first_us FROM analytics_rollup_articles WHERE {scope.where} "
        "GROUP BY article_id",
        *scope.args,
    )
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
    out = Report(filters)
    counted = await _groups(db, scope, out)
    out.summaries = await _summaries(db, scope, counted)
    await _details(db, scope, out)
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
