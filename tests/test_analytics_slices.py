"""The daily sums per slice (migration 0040): the histogram buckets are the same in Python
and in SQL on both engines, locating a rank through bucket counts finds the exact value,
reports with no, one and two filters over summed days equal the raw computation, and an
index-key rotation (a question's hash rewritten) clears the day's sums."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from smartsupport import analytics_daily, analytics_slices, analytics_sums
from smartsupport.analytics import Filters
from smartsupport.analytics_report import _durations, build_report, ranks
from smartsupport.analytics_slices import _locate, bounds, bucket, bucket_sql, slice_of
from tests.analyticskit import WORKSPACE
from tests.test_analytics_rollup import WINDOW, random_data_set, store, summed, url

__all__ = ["store", "url"]  # the fixtures, over both engines

EDGES = [-5, -1, 0, 1, 31, 32, 33, 63, 64, 65, 1000, 1023, 1024, 1025, 86_399_999]
EDGES += [2**40 - 1, 2**40, 2**62 - 1, 2**62 + 2**57]


def values(rng: random.Random) -> list[int]:
    return EDGES + [int(rng.lognormvariate(8, 2)) for _ in range(3000)]


def test_every_value_falls_inside_its_buckets_bounds_and_buckets_keep_the_order() -> None:
    found = sorted(values(random.Random(40)))
    for v in found:
        lo, hi = bounds(bucket(v))
        assert lo <= v < hi, v
    assert [bucket(v) for v in found] == sorted(bucket(v) for v in found)
    # Relative width: exact up to 32 ms, then at most 1/16 of the bucket's start.
    assert all((hi - lo) * 16 <= max(lo, 16) for lo, hi in map(bounds, range(200)))


def test_no_values_have_no_ranks_and_no_percentiles() -> None:
    # The raw report (the answer while a backfill runs) times every kind of span; a range in
    # which one kind has no value read ranks of nothing and failed with IndexError.
    assert ranks(0) == []
    assert _durations([]) == {"count": 0, "average": None, "median": None, "p90": None}
    assert _durations([4000, 1000])["median"] == 2.5


def test_a_rank_located_through_bucket_counts_is_the_exact_value() -> None:
    rng = random.Random(41)
    for size in (1, 2, 3, 10, 57, 1000):
        found = [int(rng.lognormvariate(7, 1.5)) for _ in range(size)]
        if size == 57:
            found = [rng.choice([100, 101, 5000]) for _ in range(size)]  # many ties
        ordered = sorted(found)
        counts = Counter(bucket(v) for v in found)
        for rank, (b, offset) in _locate(counts, ranks(size)).items():
            inside = sorted(v for v in found if bucket(v) == b)
            assert inside[offset] == ordered[rank], (size, rank)


async def test_sql_buckets_equal_pythons_on_both_engines(store: Any) -> None:
    found = values(random.Random(42))
    marks = ", ".join(f"({v})" for v in found)
    rows = await store.fetch(
        f"SELECT v, {bucket_sql('v')} AS b FROM (VALUES {marks}) AS t (v)"
        if store.dialect == "postgresql"
        else f"WITH t (v) AS (VALUES {marks}) SELECT v, {bucket_sql('v')} AS b FROM t"
    )
    assert {int(r["v"]): int(r["b"]) for r in rows} == {v: bucket(v) for v in found}


def test_a_report_reads_a_slice_for_no_or_one_filter_only() -> None:
    now = datetime.now(UTC)
    assert slice_of(Filters(WORKSPACE, now, now)) == ""
    assert slice_of(Filters(WORKSPACE, now, now, intent="refund")) == "intent:refund"
    assert slice_of(Filters(WORKSPACE, now, now, channel="web", language="de")) is None


async def test_sliced_and_unsliced_reports_over_summed_days_equal_the_raw_ones(
    store: Any,
) -> None:
    now = datetime.now(UTC)
    await random_data_set(random.Random(1540), now).write(store)
    month = Filters(WORKSPACE, now - timedelta(days=30), now)
    await analytics_sums.report(store, month, WINDOW, now)  # rolls everything up
    await analytics_daily.settle(store, WINDOW, now)
    days = await summed(store)
    assert days
    stored = await store.fetchrow(
        "SELECT COUNT(*) AS n FROM analytics_daily_timings WHERE workspace_id = ? AND slice = ''",
        WORKSPACE,
    )
    assert stored["n"] > 0
    cut = now - timedelta(days=17, hours=3)  # a cut first day, summed days, recent days
    for filters in (
        Filters(WORKSPACE, cut, now),
        Filters(WORKSPACE, cut, now, language="de"),
        Filters(WORKSPACE, cut, now, channel="web"),
        Filters(WORKSPACE, cut, now, intent="returns"),
        Filters(WORKSPACE, cut, now, channel="web", intent="shipping"),  # no slice
        Filters(WORKSPACE, cut, now, channel="web", language="en", intent="refund"),
    ):
        assert await analytics_sums.report(store, filters, WINDOW, now) == await build_report(
            store, filters, WINDOW, now
        ), filters


async def test_a_rewritten_question_hash_clears_its_days_sums(store: Any) -> None:
    now = datetime.now(UTC)
    await random_data_set(random.Random(1541), now).write(store)
    month = Filters(WORKSPACE, now - timedelta(days=30), now)
    await analytics_sums.report(store, month, WINDOW, now)
    await analytics_daily.settle(store, WINDOW, now)
    asked = await store.fetch(
        "SELECT q.conversation_id, q.turn, r.day FROM analytics_rollup_questions q "
        "JOIN analytics_rollup r ON r.conversation_id = q.conversation_id "
        "WHERE r.workspace_id = ?",
        WORKSPACE,
    )
    days = await summed(store)
    row = next(a for a in asked if a["day"] in days)
    await store.execute(  # what reindex.py does when the index key rotates
        "UPDATE analytics_rollup_questions SET question = ? WHERE conversation_id = ? AND turn = ?",
        "rehashed",
        row["conversation_id"],
        row["turn"],
    )
    assert row["day"] not in await summed(store)
    assert await analytics_daily.settle(store, WINDOW, now) >= 1
    assert row["day"] in await summed(store)
    counted = await store.fetchrow(
        "SELECT SUM(n) AS n FROM analytics_daily_questions "
        "WHERE workspace_id = ? AND day = ? AND slice = '' AND question = 'rehashed'",
        WORKSPACE,
        row["day"],
    )
    assert counted["n"] == 1
    assert analytics_slices.TABLES[1] in analytics_daily.SUMS
