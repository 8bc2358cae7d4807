"""Daily sums per slice (migration 0040): the parts of the report that do not add up per
filter combination, stored per settled day for every conversation and for each single
filter value, so a long range reads a few rows per day (docs/analytics.md, "Scale").

    bucket(v), bounds(b)    the histogram buckets of integer milliseconds (and SQL's twin,
                            ``bucket_sql``): exact below 32 ms, then 16 per power of two
    sum_day(tx, ...)        a settled day's timing histograms and unanswered questions, per
                            slice (``analytics_daily._sum_day`` calls it in its transaction)
    percentiles(...)        each timing's median and p90, exact, from the histograms
    question_counts(...)    the SQL of the unanswered questions' counts over a range

A **slice** is every conversation (``""``) or those of one filter value (``"channel:web"``,
``"language:de"``, ``"intent:shipping"``). The other daily sums are kept per channel ×
language × topic, so any filters can sum them; these are not, because a histogram or a
question count per combination has about as many rows as there are conversations (the
benchmark's 91 days fill ~50 conversations per day and combination). A report with two or
more filters has no slice: it reads the rollup rows of the range, as before.

**Exact percentiles from bucket counts.** The count of each bucket over the range (the
summed days' histograms plus the unsummed spans' rows, bucketed in SQL) locates the bucket
holding each wanted rank and how many values lie below it; one scan of the range's rollup
rows then returns only the values inside those buckets (a few per cent of them), sorted
here, and the value at the rank is read off. Nothing is approximated: the buckets only say
where to look. The scan replaces four sorts of every value of the range (measured,
docs/benchmarks.md "Analytics dashboard").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from smartsupport.analytics import Filters
from smartsupport.analytics_report import durations, ranks
from smartsupport.errors import SmartsupportError
from smartsupport.storage.base import SqlDatabase, SqlExecutor

TIMINGS = {
    "first_response_bot": "first_response_bot_ms",
    "first_response_human": "first_response_human_ms",
    "time_to_resolution": "COALESCE(resolution_ms, "
    "CASE WHEN passes = 1 AND decided = 1 THEN settled_ms END)",  # on Scope.conversations
    "agent_handle_time": "handle_ms",
}
EXACT = 32  # values below are their own bucket
STEPS = 16  # buckets per power of two above: each spans 3-6 % of its values' magnitude
TOP = 62  # the last power of two bucketed (a BIGINT's range)
SLICED = ("channel", "language", "intent")
TABLES = ("analytics_daily_timings", "analytics_daily_questions")

# A range is a WHERE clause with its arguments; a Scope's rows are its common table ``x``
# (``analytics_daily.Scope.conversations``) with its arguments.
Sql = tuple[str, list[Any]]


class StaleSums(SmartsupportError):
    """The histograms and the rollup rows disagree (a bug: the day's sums should have been
    cleared by a trigger); the report fails instead of showing a wrong percentile."""


def bucket(v: int) -> int:
    if v < EXACT:
        return v
    e = v.bit_length() - 1
    return EXACT + STEPS * (e - 5) + ((v - (1 << e)) >> (e - 4))


def bounds(b: int) -> tuple[int, int]:
    """The values ``lo <= v < hi`` of bucket ``b``."""
    if b < EXACT:
        return b, b + 1
    e, step = divmod(b - EXACT, STEPS)
    e += 5
    lo = (1 << e) + step * (1 << (e - 4))
    return lo, lo + (1 << (e - 4))


def bucket_sql(v: str) -> str:
    """``bucket`` in SQL (integer arithmetic both engines share) of the column ``v``."""

    def step(e: int) -> str:
        return f"{EXACT + STEPS * (e - 5)} + ({v} - {1 << e}) / {1 << (e - 4)}"

    ladder = " ".join(f"WHEN {v} < {1 << (e + 1)} THEN {step(e)}" for e in range(5, TOP))
    return f"CASE WHEN {v} < {EXACT} THEN {v} {ladder} ELSE {step(TOP)} END"


def slice_of(filters: Filters) -> str | None:
    """The slice a report's filters read, or None for two filters or more."""
    given = [(name, getattr(filters, name)) for name in SLICED if getattr(filters, name)]
    if len(given) > 1:
        return None
    return f"{given[0][0]}:{given[0][1]}" if given else ""


def _slices(row: dict[str, Any]) -> list[str]:
    """The slices a conversation with these filter values is counted in."""
    return ["", *(f"{name}:{row[name]}" for name in SLICED if row[name] is not None)]


def _histogram_sql(rows: str, expr: str, by: str = "") -> str:
    return (
        f"{rows} SELECT {by}b AS bucket, COUNT(*) AS n FROM (SELECT {by}{bucket_sql('v')} AS b "
        f"FROM (SELECT {by}{expr} AS v FROM x WHERE {expr} IS NOT NULL) y) z GROUP BY {by}b"
    )


async def sum_day(tx: SqlExecutor, rows: Sql, where: Sql, workspace_id: str, day: str) -> None:
    """Store a day's histograms of each timing and counts of each unanswered question, per
    slice: ``rows`` are the day's conversations (``Scope.conversations``), ``where`` the
    day's range over the rollup tables."""
    by = "channel, language, intent, "
    counts: Counter[tuple[str, str, int]] = Counter()
    for name, expr in TIMINGS.items():
        for r in await tx.fetch(_histogram_sql(rows[0], expr, by), *rows[1]):
            for key in _slices(r):
                counts[(key, name, int(r["bucket"]))] += int(r["n"])
    if counts:
        await tx.executemany(
            "INSERT INTO analytics_daily_timings (workspace_id, day, slice, timing, bucket, n) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(workspace_id, day, *k, n) for k, n in counts.items()],
        )
    asked: dict[tuple[str, str], list[int]] = {}  # (slice, question) -> [count, first start]
    for r in await tx.fetch(
        f"SELECT {by}question, COUNT(*) AS n, MIN(created_us) AS first_us "
        f"FROM analytics_rollup_questions WHERE {where[0]} GROUP BY {by}question",
        *where[1],
    ):
        for key in _slices(r):
            seen = asked.setdefault((key, r["question"]), [0, int(r["first_us"])])
            seen[0] += int(r["n"])
            seen[1] = min(seen[1], int(r["first_us"]))
    if asked:
        await tx.executemany(
            "INSERT INTO analytics_daily_questions (workspace_id, day, slice, question, n, "
            "first_us) VALUES (?, ?, ?, ?, ?, ?)",
            [(workspace_id, day, *k, *v) for k, v in asked.items()],
        )


def _days_where(filters: Filters, key: str, days: list[str]) -> Sql:
    marks = ", ".join("?" for _ in days)
    return (
        f"workspace_id = ? AND slice = ? AND day IN ({marks})",
        [filters.workspace_id, key, *days],
    )


def question_counts(filters: Filters, days: list[str], spans: list[Sql]) -> Sql:
    """SELECT k (the question's hash), n, first_us of every unanswered question of the range:
    the summed days' counts of the filters' slice, and the rows of the spans."""
    key = slice_of(filters)
    assert key is not None and days, "only for a sliced range with summed days"
    where, args = _days_where(filters, key, days)
    parts = [f"SELECT question AS k, n, first_us FROM analytics_daily_questions WHERE {where}"]
    for span_where, span_args in spans:
        parts.append(
            "SELECT question AS k, 1 AS n, created_us AS first_us "
            f"FROM analytics_rollup_questions WHERE {span_where}"
        )
        args += span_args
    union = " UNION ALL ".join(parts)
    return (
        f"SELECT k, SUM(n) AS n, MIN(first_us) AS first_us FROM ({union}) u GROUP BY k",
        args,
    )


async def percentiles(
    db: SqlDatabase,
    filters: Filters,
    days: list[str],
    spans: list[Sql],
    whole: Sql,
    counted: dict[str, list[int]],
) -> dict[str, dict[str, Any]]:
    """Each timing's count, average, median and p90 (``durations``): the ranks' buckets
    from the summed days' histograms of the filters' slice and the spans' rows (each
    span's ``Scope.conversations``), then the values in those buckets from the range's rows
    (``whole``)."""
    key = slice_of(filters)
    assert key is not None, "only for a sliced range"
    hist: dict[str, Counter[int]] = {name: Counter() for name in TIMINGS}
    if days:
        where, args = _days_where(filters, key, days)
        for r in await db.fetch(
            "SELECT timing, bucket, SUM(n) AS n FROM analytics_daily_timings "
            f"WHERE {where} GROUP BY timing, bucket",
            *args,
        ):
            hist[r["timing"]][int(r["bucket"])] += int(r["n"])
    for rows, args in spans:
        for name, expr in TIMINGS.items():
            for r in await db.fetch(_histogram_sql(rows, expr), *args):
                hist[name][int(r["bucket"])] += int(r["n"])
    wanted: dict[str, dict[int, tuple[int, int]]] = {}  # name -> {rank: (bucket, offset)}
    for name in TIMINGS:
        total = sum(hist[name].values())
        if total != counted[name][0]:
            raise StaleSums(f"{name}: {total} values in the histograms, {counted[name][0]} rows")
        wanted[name] = _locate(hist[name], ranks(total) if total else [])
    values = await _in_buckets(db, whole, wanted)
    at: dict[str, dict[int, int]] = {name: {} for name in TIMINGS}
    for name, places in wanted.items():
        for rank, (b, offset) in places.items():
            inside = values[name][b]
            if len(inside) != hist[name][b]:
                raise StaleSums(f"{name}: bucket {b} holds {len(inside)}, not {hist[name][b]}")
            at[name][rank] = inside[offset]
    return {name: durations(counted[name][0], counted[name][1], at[name]) for name in TIMINGS}


def _locate(counts: Counter[int], wanted: list[int]) -> dict[int, tuple[int, int]]:
    """For each rank (ascending, 0-based), its bucket and its position inside it."""
    found: dict[int, tuple[int, int]] = {}
    below, pending = 0, list(wanted)
    for b in sorted(counts):
        while pending and pending[0] < below + counts[b]:
            rank = pending.pop(0)
            found[rank] = (b, rank - below)
        below += counts[b]
    return found


async def _in_buckets(
    db: SqlDatabase, whole: Sql, wanted: dict[str, dict[int, tuple[int, int]]]
) -> dict[str, dict[int, list[int]]]:
    """The sorted values of each timing inside its wanted buckets, from one scan of the
    range's rows."""
    needed = {name: sorted({b for b, _ in places.values()}) for name, places in wanted.items()}
    tests, args = [], []
    for name, buckets in needed.items():
        for b in buckets:
            lo, hi = bounds(b)
            tests.append(f"({TIMINGS[name]} >= ? AND {TIMINGS[name]} <= ?)")
            args += [lo, hi - 1]  # the top bucket's end is beyond a BIGINT
    out: dict[str, dict[int, list[int]]] = {name: {b: [] for b in needed[name]} for name in TIMINGS}
    if not tests:
        return out
    rows, row_args = whole
    columns = ", ".join(f"{expr} AS {name}" for name, expr in TIMINGS.items())
    for r in await db.fetch(
        f"{rows} SELECT {columns} FROM x WHERE {' OR '.join(tests)}", *row_args, *args
    ):
        for name in needed:
            v = r[name]
            if v is not None and (b := bucket(int(v))) in out[name]:
                out[name][b].append(int(v))
    for found in out.values():
        for inside in found.values():
            inside.sort()
    return out
