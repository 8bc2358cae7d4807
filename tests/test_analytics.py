"""The KPIs on a seeded data set with known answers (tests/analyticskit.py), on SQLite and
PostgreSQL: the JSON report, the streamed CSV and the dashboard page say the same numbers;
bad filters are clear 400s, never a 500."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smartsupport import analytics
from smartsupport.analytics_report import CSV_COLUMNS
from tests.analyticskit import DAY, EXPECTED_TOTALS, Seed, known_data_set
from tests.inboxkit import Harness, inbox_app

REPORT = "/api/v1/analytics/workspaces/demo/report"
EXPORT = "/api/v1/analytics/workspaces/demo/conversations.csv"
ON_DAY = {"from": "2026-11-10", "to": "2026-11-10"}


@pytest.fixture
async def sqlite_seeded(tmp_path) -> AsyncIterator[tuple[Harness, dict[str, str]]]:
    async with inbox_app(f"sqlite:///{tmp_path / 'analytics.db'}") as h:
        seed, ids = known_data_set()
        await seed.write(h.services.store)
        yield h, ids


async def report(client: Any, **params: str) -> dict[str, Any]:
    r = await client.get(REPORT, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def check_known_answers(h: Harness) -> None:
    supervisor = await h.staff("sue@example.com", "supervisor")
    # The suite seals message texts at rest (tests/conftest.py): the unanswered questions
    # below are read through the keyring.
    raw = await h.services.store.fetchrow(  # type: ignore[attr-defined]
        "SELECT text FROM messages WHERE author = 'customer' LIMIT 1"
    )
    assert raw["text"].startswith("ssenc:")
    body = await report(supervisor, **ON_DAY)
    totals = body["totals"]
    assert {k: totals[k] for k in EXPECTED_TOTALS} == EXPECTED_TOTALS
    timings = body["timings_seconds"]
    assert timings["first_response_bot"] == {"count": 9, "average": 1.4, "median": 1.0, "p90": 3.0}
    assert timings["first_response_human"] == {
        "count": 1, "average": 60.0, "median": 60.0, "p90": 60.0,
    }  # fmt: skip
    assert timings["agent_handle_time"]["median"] == 540.0
    assert timings["time_to_resolution"] == {
        "count": 4, "average": 158.8, "median": 12.0, "p90": 600.0,
    }  # fmt: skip
    assert body["escalation_reasons"] == [
        {"reason": "customer asked for a human", "count": 1},
        {"reason": "negative sentiment", "count": 1},
    ]
    assert body["csat_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    heat = body["intent_confidence"]
    rows = dict(zip(heat["intents"], heat["counts"], strict=True))
    assert rows == {
        "shipping": [0, 0, 1, 0, 3],
        "returns": [0, 0, 0, 1, 1],
        "refund": [0, 0, 0, 1, 0],
        "(out of scope)": [1, 0, 0, 0, 0],
        "(no intent)": [0, 1, 0, 0, 0],
    }
    assert body["unanswered_questions"] == [{"question": "Do you sell gift cards?", "count": 1}]
    assert body["articles"] == [
        {"article_id": "art-ship", "title": "Shipping times", "answers": 3, "up": 1, "down": 1,
         "helpfulness": 0.5},
        {"article_id": "art-ret", "title": "Returns", "answers": 1, "up": 0, "down": 0,
         "helpfulness": None},
    ]  # fmt: skip
    assert {k: v["conversations"] for k, v in body["by"]["channel"].items()} == {
        "email": 1,
        "web": 9,
    }
    assert {k: v["conversations"] for k, v in body["by"]["language"].items()} == {"de": 1, "en": 9}
    assert body["by"]["intent"]["shipping"]["automated_resolutions"] == 1
    assert [d["date"] for d in body["trend"]] == ["2026-11-10"]
    assert body["trend"][0]["engaged"] == 9

    shipping = await report(supervisor, **ON_DAY, intent="shipping")
    assert shipping["totals"]["conversations"] == 4
    assert shipping["totals"]["automated_resolution_rate"] == 0.25
    email = await report(supervisor, **ON_DAY, channel="email")
    assert email["totals"]["escalated"] == 1 and email["totals"]["conversations"] == 1
    german = await report(supervisor, **ON_DAY, language="de")
    assert german["totals"]["thumbs_down"] == 1 and german["totals"]["automated_resolutions"] == 0

    # The CSV: one row per conversation, and its columns add up to the report's counts.
    await check_csv_agrees(supervisor, totals)
    # The dashboard shows the report's numbers.
    await check_dashboard_agrees(supervisor, totals, body["timings_seconds"])


async def check_csv_agrees(supervisor: Any, totals: dict[str, Any]) -> None:
    async with supervisor.stream("GET", EXPORT, params=ON_DAY) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        text = "".join([chunk async for chunk in r.aiter_text()])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == totals["conversations"]

    def total(column: str) -> int:
        return sum(int(r[column] or 0) for r in rows)

    engaged = [r for r in rows if r["engaged"] == "1"]
    assert len(engaged) == totals["engaged"]
    assert sum(r["automated_resolution"] == "1" for r in engaged) == totals["automated_resolutions"]
    assert sum(r["person_involved"] == "0" for r in engaged) == totals["contained"]
    assert sum(r["escalated"] == "1" for r in engaged) == totals["escalated"]
    for column in ("abandoned", "fallback_turns", "out_of_scope_turns", "bot_answers",
                   "thumbs_up", "thumbs_down", "agent_flags", "llm_input_tokens"):  # fmt: skip
        assert total(column) == totals[column], column
    assert sum(int(r["csat"]) for r in rows if r["csat"]) == totals["csat_sum"]
    assert round(sum(float(r["llm_cost"]) for r in rows), 6) == totals["llm_cost"]


KPI = re.compile(r'data-kpi="([a-z_]+)" data-value="([^"]*)"')


async def check_dashboard_agrees(
    supervisor: Any, totals: dict[str, Any], timings: dict[str, Any]
) -> None:
    r = await supervisor.get("/inbox/dashboard", params={"workspace": "demo", **ON_DAY})
    assert r.status_code == 200, r.text
    shown = dict(KPI.findall(r.text))
    for name in ("engaged", "automated_resolution_rate", "containment_rate", "escalation_rate",
                 "abandonment_rate", "fallback_rate", "out_of_scope_rate", "csat_average",
                 "thumbs_up_rate", "llm_cost", "llm_tokens_per_conversation"):  # fmt: skip
        assert float(shown[name]) == pytest.approx(totals[name]), name
    for name in ("first_response_bot", "first_response_human", "time_to_resolution",
                 "agent_handle_time"):  # fmt: skip
        assert float(shown[name]) == timings[name]["median"], name
    assert r.text.count('class="series"') >= 3 and r.text.count('class="cell"') == 25
    assert "Do you sell gift cards?" in r.text
    assert 'id="csv-export"' in r.text and "conversations.csv?from=2026-11-10" in r.text


async def test_report_csv_and_dashboard_agree_on_sqlite(sqlite_url: str) -> None:
    async with inbox_app(sqlite_url) as h:
        seed, _ = known_data_set()
        await seed.write(h.services.store)
        await check_known_answers(h)


async def test_report_csv_and_dashboard_agree_on_postgresql(postgres_url: str) -> None:
    async with inbox_app(postgres_url) as h:
        seed, _ = known_data_set()
        await seed.write(h.services.store)
        await check_known_answers(h)


async def test_a_recent_bot_only_conversation_is_pending_until_the_window_passes(
    sqlite_url: str,
) -> None:
    async with inbox_app(sqlite_url, recontact_window_hours=2) as h:
        seed = Seed()
        now = datetime.now(UTC)
        for start in (now - timedelta(minutes=30), now - timedelta(hours=5)):
            c = seed.conversation(start)
            q = seed.ask(c, "Shipping?", start + timedelta(seconds=5), intent="shipping",
                         confidence=0.9)  # fmt: skip
            seed.answer(c, q, start + timedelta(seconds=6), "extractive")
        await seed.write(h.services.store)
        supervisor = await h.staff("sue@example.com", "supervisor")
        totals = (await report(supervisor))["totals"]  # the last 30 days, up to now
        assert totals["pending"] == 1 and totals["evaluated"] == 1
        assert totals["automated_resolutions"] == 1
        assert totals["automated_resolution_rate"] == 1.0
        async with supervisor.stream("GET", EXPORT) as r:
            text = "".join([chunk async for chunk in r.aiter_text()])
        cells = sorted(row["automated_resolution"] for row in csv.DictReader(io.StringIO(text)))
        assert cells == ["", "1"]  # pending is an empty cell, not a "no"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-11-10", "to": "2026-11-09"}, "empty_range"),
        ({"from": "2026-11-10T10:00:00+00:00", "to": "2026-11-10T10:00:00+00:00"}, "empty_range"),
        ({"from": "2999-01-01", "to": "2999-01-02"}, "range_in_future"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "range_too_long"),
        ({"from": "yesterday"}, "invalid_date"),
        ({"colour": "blue"}, "unknown_filter"),
        ({"to": "9999-12-31"}, "invalid_date"),
        ({"to": "0001-01-01"}, "empty_range"),
        ({"channel": "web\tmail"}, "invalid_filter"),
    ],
)
async def test_bad_filters_are_clear_400s(
    sqlite_seeded: tuple[Harness, dict[str, str]], params: dict[str, str], code: str
) -> None:
    h, _ = sqlite_seeded
    supervisor = await h.staff("sue@example.com", "supervisor")
    for url in (REPORT, EXPORT):
        r = await supervisor.get(url, params=params)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == code
    page = await supervisor.get("/inbox/dashboard", params=params)
    assert page.status_code == 400 and 'id="dash-problem"' in page.text


async def test_no_data_and_future_end_give_zeros_and_no_rates(
    sqlite_seeded: tuple[Harness, dict[str, str]],
) -> None:
    h, _ = sqlite_seeded
    supervisor = await h.staff("sue@example.com", "supervisor")
    empty = await report(supervisor, **{"from": "2026-10-01", "to": "2026-10-03"})
    assert empty["totals"]["conversations"] == 0
    assert empty["totals"]["automated_resolution_rate"] is None  # not 0: nothing to rate
    assert empty["timings_seconds"]["first_response_bot"]["median"] is None
    assert [d["engaged"] for d in empty["trend"]] == [0, 0, 0]
    page = await supervisor.get(
        "/inbox/dashboard", params={"from": "2026-10-01", "to": "2026-10-03"}
    )
    assert page.status_code == 200 and 'id="dash-empty"' in page.text
    # A range that ends in the future is cut at now.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    cut = await report(supervisor, **{"from": "2026-11-10", "to": tomorrow})
    assert datetime.fromisoformat(cut["filters"]["to"]) <= datetime.now(UTC)
    assert cut["totals"]["conversations"] == 10
    nothing = await report(supervisor, **ON_DAY, channel="carrier-pigeon")
    assert nothing["totals"]["conversations"] == 0


async def test_only_supervisors_and_admins_of_the_workspace_see_analytics(
    sqlite_seeded: tuple[Harness, dict[str, str]],
) -> None:
    h, _ = sqlite_seeded
    agent = await h.staff("ana@example.com", "agent")
    r = await agent.get(REPORT, params=ON_DAY)
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"
    assert (await agent.get("/inbox/dashboard")).status_code == 403
    elsewhere = await h.staff("eve@example.com", "supervisor", workspaces=["other"])
    r = await elsewhere.get(REPORT, params=ON_DAY)
    assert r.status_code == 403 and r.json()["error"]["code"] == "workspace_forbidden"
    admin = await h.staff("ada@example.com", "admin")
    r = await admin.get("/api/v1/analytics/workspaces/nowhere/report")
    assert r.status_code == 404
    assert (await admin.get(REPORT, params=ON_DAY)).status_code == 200
    anonymous = h.client()
    assert (await anonymous.get(EXPORT)).status_code == 401


def test_the_seeded_day_is_in_the_past() -> None:
    # Every conversation of the known data set is older than the 72 h window, so none is
    # pending: the expected numbers hold whenever the suite runs.
    assert DAY < datetime.now(UTC) - timedelta(days=4)


async def test_the_export_streams_page_by_page_and_pages_do_not_change_the_numbers(
    sqlite_seeded: tuple[Harness, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, _ = sqlite_seeded
    supervisor = await h.staff("sue@example.com", "supervisor")
    whole = (await report(supervisor, **ON_DAY))["totals"]
    monkeypatch.setattr(analytics, "PAGE", 3)  # ten conversations: four pages
    assert (await report(supervisor, **ON_DAY))["totals"] == whole
    filters = analytics.parse_filters("demo", ON_DAY, datetime.now(UTC))
    pages = [p async for p in analytics.walk(h.services.store, filters, timedelta(hours=72),
                                             datetime.now(UTC))]  # fmt: skip
    # The CSV response writes each page as it is read (StreamingResponse over ``walk``).
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    async with supervisor.stream("GET", EXPORT, params=ON_DAY) as r:
        text = "".join([chunk async for chunk in r.aiter_text()])
    assert len(list(csv.DictReader(io.StringIO(text)))) == whole["conversations"]
