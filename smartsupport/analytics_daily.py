"""Daily sums of settled days (migration 0036): what the report sums from the rollup, stored
per UTC day once no conversation of the day can change its figures, so a long range reads
a few hundred rows instead of every conversation in it (docs/analytics.md, "Scale").

    Scope, GROUP_SQL      the rollup rows of a range with their derived columns, and the
                          GROUP BY the report and the daily sums share
    settle(store, w, now) sum the days that are settled and not summed (the worker, after
                          each roll-up)
    coverage(...)         which whole days of a report's range are read from the sums, and
                          the spans read from the per-conversation rows

A day is **settled** when every conversation started in it is decided (its last message +
the re-contact window is past) and none waits to be rolled up. Then nothing the clock does
can change its figures: "pending" has become "decided" for good, and a customer's later
conversation starts after the window, so it is no re-contact. What can still change them is
a write: a late CSAT or thumb, an agent flag, an imported conversation started that day, a
customer merge, an erasure or retention purge. Each of those rewrites or deletes a rollup
row, or changes a row's next contact, and the triggers of migration 0036 then clear the
day's sums in the writer's transaction; the worker sums it again on its next pass. The
report uses a day's sums only when they were computed with its window and it is asked at or
after the day's ``decided_us``, so they equal the per-row computation exactly.

Percentiles do not add up, nor do top lists per filter combination: their daily sums are
kept per slice (migration 0040, ``analytics_slices``), in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from smartsupport import analytics_slices as slices
from smartsupport.analytics import Filters
from smartsupport.analytics_report import Tally
from smartsupport.analytics_rollup import _db, micros
from smartsupport.analytics_slices import TIMINGS
from smartsupport.storage.base import SqlDatabase, SqlExecutor

DAY = timedelta(days=1)
DAYS_PER_PASS = 100  # days summed per worker pass (a backfill of years takes several)
CSAT_SCALE = range(1, 6)  # the inbox's ratings (CHECK csat_rating BETWEEN 1 AND 5)
RECONTACT = "(r.next_us IS NOT NULL AND r.next_us <= r.last_us + ?)"
SUMS = ("analytics_daily", "analytics_daily_turns", "analytics_daily_articles", *slices.TABLES)
GROUP_KEYS = ("day", "channel", "language", "intent")
DAILY_COLUMNS = (
    *GROUP_KEYS,
    *Tally.__dataclass_fields__,
    *(f"csat_{k}" for k in CSAT_SCALE),
    *(f"{name}_{part}" for name in TIMINGS for part in ("n", "ms")),
)
HEAT_COLUMNS = (*GROUP_KEYS, "label", "bucket", "turns", "first_us")
ARTICLE_COLUMNS = (*GROUP_KEYS, "article_id", "answers", "up", "down", "first_us")
FILTERS = ("channel", "language", "intent")
TEXT = frozenset({*GROUP_KEYS, "label", "article_id"})  # the rest are counts (PostgreSQL
# gives SUMs as numeric: sent back as integers)
# The heatmap's cells and the articles' counts of a range, by filter values when summing a
# day (``by``), as the report groups them otherwise; from the rollup rows
# (``ROLLUP_TABLES``) or from the daily sums (``DAILY_TABLES``).
HEAT_SQL = (
    "SELECT {by}label, bucket, SUM(turns) AS n, MIN({start}) AS first_us "
    "FROM {table} WHERE {where} GROUP BY {by}label, bucket"
)
ARTICLES_SQL = (
    "SELECT {by}article_id AS k, SUM(answers) AS answers, SUM(up) AS up, SUM(down) AS down, "
    "MIN({start}) AS first_us FROM {table} WHERE {where} GROUP BY {by}article_id"
)
ROLLUP_TABLES = {HEAT_SQL: "analytics_rollup_turns", ARTICLES_SQL: "analytics_rollup_articles"}
DAILY_TABLES = {HEAT_SQL: "analytics_daily_turns", ARTICLES_SQL: "analytics_daily_articles"}


class Scope:
    """The WHERE clause of a report's filters over the rollup tables (over ``span``, start
    and end in microseconds, when given instead of the filters' range), and the derived
    columns of each conversation (``passes``: an automated resolution unless still
    pending; ``decided``: the window has passed since its last message)."""

    def __init__(
        self,
        filters: Filters,
        window: timedelta,
        now: datetime,
        span: tuple[int, int] | None = None,
    ) -> None:
        self.window_us = window // timedelta(microseconds=1)
        self.now_us = micros(now)
        start, end = span or (micros(filters.start), micros(filters.end))
        where = ["workspace_id = ?", "created_us >= ?", "created_us < ?"]
        self.args: list[Any] = [filters.workspace_id, start, end]
        for name in FILTERS:
            value = getattr(filters, name)
            if value is not None:
                where.append(f"{name} = ?")
                self.args.append(value)
        self.where = " AND ".join(where)
        # Without the range: for look-ups of given starts (``created_us IN``), which both
        # engines then read point by point instead of scanning the range.
        self.keyed = " AND ".join(w for w in where if not w.startswith("created_us"))
        self.keyed_args = [a for i, a in enumerate(self.args) if i not in (1, 2)]

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
""".format(
    rows="{rows}",
    csat=", ".join(f"SUM(CASE WHEN csat = {k} THEN 1 ELSE 0 END) AS csat_{k}" for k in CSAT_SCALE),
    timings=",\n  ".join(
        f"COUNT({expr}) AS {name}_n, SUM(COALESCE({expr}, 0)) AS {name}_ms"
        for name, expr in TIMINGS.items()
    ),
)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


async def coverage(
    db: SqlDatabase, filters: Filters, window: timedelta, now: datetime
) -> tuple[list[str], list[tuple[int, int]]]:
    """The whole UTC days of the range read from the sums, and the spans (microseconds)
    read from the rollup rows: the range's cut edges and every day not summed for this
    window and moment. A day with no row in ``analytics_days`` has no rollup rows (the
    insert trigger adds it), so it counts as summed, to zero."""
    start, end = filters.start.astimezone(UTC), filters.end.astimezone(UTC)
    first = start.date() + (DAY if start != _midnight(start.date()) else timedelta())
    last = end.date()  # exclusive: a day ending after the range is cut
    if first >= last:
        return [], [(micros(start), micros(end))]
    unusable = {
        r["day"]
        for r in await db.fetch(
            "SELECT day FROM analytics_days WHERE workspace_id = ? AND day >= ? AND day < ? "
            "AND (window_us IS NULL OR window_us <> ? OR decided_us > ?)",
            filters.workspace_id,
            first.isoformat(),
            last.isoformat(),
            window // timedelta(microseconds=1),
            micros(now),
        )
    }
    days: list[str] = []
    spans: list[tuple[int, int]] = []
    cursor, day = micros(start), first
    while day < last:
        if day.isoformat() not in unusable:
            days.append(day.isoformat())
            if micros(_midnight(day)) > cursor:
                spans.append((cursor, micros(_midnight(day))))
            cursor = micros(_midnight(day + DAY))
        day += DAY
    if cursor < micros(end):
        spans.append((cursor, micros(end)))
    return days, spans


def rollup_sql(sql: str, where: str, by: str = "") -> str:
    """``HEAT_SQL`` or ``ARTICLES_SQL`` over the rollup rows."""
    return sql.format(by=by, where=where, start="created_us", table=ROLLUP_TABLES[sql])


def daily_sql(sql: str, where: str) -> str:
    """``HEAT_SQL`` or ``ARTICLES_SQL`` over the daily sums."""
    return sql.format(by="", where=where, start="first_us", table=DAILY_TABLES[sql])


def daily_where(filters: Filters, days: list[str]) -> tuple[str, list[Any]]:
    """The WHERE clause of the sum tables for ``days`` and the filter values."""
    where = [f"workspace_id = ? AND day IN ({_marks(days)})"]
    args: list[Any] = [filters.workspace_id, *days]
    for name in FILTERS:
        value = getattr(filters, name)
        if value is not None:
            where.append(f"{name} = ?")
            args.append(value)
    return " AND ".join(where), args


async def settle(
    store: object, window: timedelta, now: datetime, *, limit: int = DAYS_PER_PASS
) -> int:
    """Sum the days (of every workspace) that are settled for ``window`` and not summed for
    it, the latest first, at most ``limit`` looked at; returns how many were summed."""
    db = _db(store)
    window_us = window // timedelta(microseconds=1)
    # A day can be settled only once its end + the window has passed.
    before = (now.astimezone(UTC) - window).date().isoformat()
    waiting = await db.fetch(
        "SELECT workspace_id, day FROM analytics_days "
        "WHERE (window_us IS NULL OR window_us <> ?) AND day < ? ORDER BY day DESC LIMIT ?",
        window_us,
        before,
        limit,
    )
    summed = 0
    for w in waiting:
        summed += await _settle_day(db, w["workspace_id"], w["day"], window, now)
    return summed


async def _settle_day(
    db: SqlDatabase, workspace_id: str, day: str, window: timedelta, now: datetime
) -> int:
    start = _midnight(date.fromisoformat(day))
    scope = Scope(Filters(workspace_id, start, start + DAY), window, now)
    keys = (workspace_id, day)
    if await _decided(db, scope) == 0:  # looked at first without a lock: most days wait
        return 0
    async with db.transaction() as tx:
        if db.dialect == "postgresql":
            # No rollup write may land between what is read here and the commit (its
            # trigger would clear a day not yet marked summed); SQLite's writer is alone.
            # The questions too: an index-key rotation rewrites their hashes (0040).
            await tx.execute(
                "LOCK TABLE analytics_rollup, analytics_rollup_questions IN SHARE MODE"
            )
        decided_us = await _decided(tx, scope)
        if decided_us is None:  # every conversation of the day deleted
            for table in (*SUMS, "analytics_days"):
                await tx.execute(f"DELETE FROM {table} WHERE workspace_id = ? AND day = ?", *keys)
            return 0
        if decided_us == 0:
            return 0
        for table in SUMS:
            await tx.execute(f"DELETE FROM {table} WHERE workspace_id = ? AND day = ?", *keys)
        await _sum_day(tx, scope, workspace_id, day)
        await tx.execute(
            "UPDATE analytics_days SET window_us = ?, decided_us = ? "
            "WHERE workspace_id = ? AND day = ?",
            scope.window_us,
            decided_us,
            *keys,
        )
    return 1


async def _decided(db: SqlExecutor, scope: Scope) -> int | None:
    """The day's latest "last message + window" if it is settled (past, and no conversation
    of the day waits to be rolled up), 0 if not, None if the day has no conversations."""
    seen = await db.fetchrow(
        f"SELECT COUNT(*) AS n, MAX(last_us) AS last FROM analytics_rollup WHERE {scope.where}",
        *scope.args,
    )
    if not seen or not seen["n"]:
        return None
    decided_us = int(seen["last"]) + scope.window_us
    if decided_us > scope.now_us:
        return 0
    waiting = await db.fetchrow(
        "SELECT 1 AS n FROM analytics_rollup r CROSS JOIN analytics_changes ch "
        "WHERE ch.conversation_id = r.conversation_id AND r.workspace_id = ? "
        "AND r.created_us >= ? AND r.created_us < ? AND ch.changed > ch.rolled LIMIT 1",
        *scope.args,
    )
    return 0 if waiting else decided_us


async def _sum_day(tx: SqlExecutor, scope: Scope, workspace_id: str, day: str) -> None:
    rows, args = scope.conversations()
    groups = await tx.fetch(GROUP_SQL.format(rows=rows), *args)
    await _insert(tx, "analytics_daily", DAILY_COLUMNS, workspace_id, groups)
    by = "channel, language, intent, "
    heat = await tx.fetch(rollup_sql(HEAT_SQL, scope.where, by), *scope.args)
    cells = [{**c, "day": day, "turns": c["n"]} for c in heat]
    await _insert(tx, "analytics_daily_turns", HEAT_COLUMNS, workspace_id, cells)
    found = await tx.fetch(rollup_sql(ARTICLES_SQL, scope.where, by), *scope.args)
    articles = [{**a, "day": day, "article_id": a["k"]} for a in found]
    await _insert(tx, "analytics_daily_articles", ARTICLE_COLUMNS, workspace_id, articles)
    await slices.sum_day(tx, (rows, args), (scope.where, scope.args), workspace_id, day)


async def _insert(
    tx: SqlExecutor,
    table: str,
    columns: tuple[str, ...],
    workspace_id: str,
    rows: list[dict[str, Any]],
) -> None:
    if rows:
        await tx.executemany(
            f"INSERT INTO {table} (workspace_id, {', '.join(columns)}) "
            f"VALUES (?, {_marks(list(columns))})",
            [(workspace_id, *(r[c] if c in TEXT else int(r[c]) for c in columns)) for r in rows],
        )
