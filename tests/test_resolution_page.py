"""The inbox page where reviewers judge the LLM check's automated resolutions
(inbox/resolution_page.py, docs/analytics.md): the list with the model's verdicts and the
dashboard's filters, the transcript, a verdict recorded through the form (CSRF field,
audited like the API's), the agreement it moves, and the refusals, on SQLite and
PostgreSQL. The model's verdicts come from the real check against the replayed
OpenAI-compatible server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from llmkit import FakeLLMServer, openai_json

from smartsupport import analytics_rollup, resolution_checks
from smartsupport.job_runner import JobRunner
from smartsupport.staff.cookies import CSRF_COOKIE, CSRF_FIELD
from tests.analyticskit import Seed
from tests.inboxkit import Harness, inbox_app

KPI = re.compile(r'data-kpi="([a-z_]+)" data-value="([^"]*)"')
ROW = re.compile(r'<tr id="c-([^"]+)" data-id="[^"]+" data-llm="([^"]*)" data-human="([^"]*)"')
PAGE = "/inbox/resolutions/demo"


def seeded(now: datetime) -> tuple[Seed, dict[str, str]]:
    """Three automated resolutions four days ago: P (web, English, shipping), Q (email,
    German, returns), R (web, English, shipping); the model reads R, Q, P (newest first)."""
    s, ids = Seed(), {}
    base = now - timedelta(days=4)
    for i, (name, channel, language, intent, text) in enumerate(
        [
            ("P", "web", "en", "shipping", "Where is my order 1001?"),
            ("Q", "email", "de", "returns", "Kann ich Schuhe zurückgeben?"),
            ("R", "web", "en", "shipping", "How long does shipping take?"),
        ]
    ):
        start = base + timedelta(minutes=i)
        c = ids[name] = s.conversation(start, channel=channel)
        q = s.ask(c, text, start + timedelta(seconds=5), intent=intent, confidence=0.9,
                  language=language)  # fmt: skip
        s.answer(c, q, start + timedelta(seconds=6), "extractive")
    return s, ids


def said(verdict: str, reason: str) -> Any:
    return openai_json(json.dumps({"verdict": verdict, "reason": reason}), 12, 5)


async def checked(h: Harness, llm: FakeLLMServer, now: datetime) -> dict[str, str]:
    seed, ids = seeded(now)
    await seed.write(h.services.store)
    await analytics_rollup.catch_up(h.services.store)
    llm.push(said("unclear", "cannot tell"), said("not_resolved", "no return label sent"),
             said("resolved", "gave the order status"))  # fmt: skip
    await resolution_checks.ask(h.services, now)
    runner = JobRunner(h.services, {resolution_checks.KIND: resolution_checks.run}, "t")
    job = await runner.run_next()
    assert job is not None and job.status == "done", job and job.error
    return ids


def settings_for(llm: FakeLLMServer) -> dict[str, Any]:
    primary = {"name": "primary", "base_url": f"{llm.url}/v1", "model": "gpt-test",
               "max_retries": 0}  # fmt: skip
    return {"llm_providers": [primary], "resolution_check": True,
            "answer_chain": ["llm:primary", "extractive"]}  # fmt: skip


async def record(client: Any, conversation_id: str, verdict: str, query: str, note: str = ""):
    """The transcript page's form as a browser sends it: the CSRF token as a form field."""
    form = {CSRF_FIELD: client.cookies.get(CSRF_COOKIE, ""), "verdict": verdict, "note": note}
    return await client.post(
        f"{PAGE}/{conversation_id}?{query}", data=form, headers={"X-CSRF-Token": ""}
    )


async def judge_and_measure(database_url: str) -> None:
    now = datetime.now(UTC)
    day = (now - timedelta(days=4)).date().isoformat()
    query = urlencode({"from": day, "to": day})
    async with FakeLLMServer() as llm, inbox_app(database_url, **settings_for(llm)) as h:
        ids = await checked(h, llm, now)
        sue = await h.staff("sue@example.com", "supervisor")

        # The dashboard links to the page with its filters.
        r = await sue.get("/inbox/dashboard", params={"workspace": "demo", "from": day, "to": day})
        assert f'href="{PAGE}?from={day}&amp;to={day}"' in r.text

        r = await sue.get(f"{PAGE}?{query}")
        assert r.status_code == 200, r.text
        assert ROW.findall(r.text) == [(ids["R"], "unclear", ""), (ids["Q"], "not_resolved", ""),
                                       (ids["P"], "resolved", "")]  # fmt: skip
        assert "no return label sent" in r.text  # the model's reason, opened from its seal
        tiles = dict(KPI.findall(r.text))
        assert tiles["agreement_rate"] == "None" and tiles["human_reviewed"] == "0"
        assert tiles["llm_confirmed_rate"] == "0.3333" and tiles["unchecked"] == "0"
        for choice in ('value="email"', 'value="de"', 'value="returns"'):
            assert choice in r.text  # the filter choices are the listed conversations'

        # Filtered like the dashboard: the email conversation alone.
        r = await sue.get(f"{PAGE}?{query}&channel=email")
        assert [row[0] for row in ROW.findall(r.text)] == [ids["Q"]]

        # The transcript, the model's verdict and the form that comes back to this view.
        r = await sue.get(f"{PAGE}/{ids['P']}?{query}")
        assert r.status_code == 200, r.text
        assert "Where is my order 1001?" in r.text and "Here is what I found." in r.text
        assert 'data-verdict="resolved"' in r.text and "gave the order status" in r.text
        assert f'action="{PAGE}/{ids["P"]}?from={day}&amp;to={day}"' in r.text
        assert f'name="{CSRF_FIELD}"' in r.text

        r = await record(sue, ids["P"], "resolved", query, note="order status was right")
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"{PAGE}?{query}&recorded={ids['P']}#c-{ids['P']}"
        r = await sue.get(r.headers["location"].split("#")[0])
        assert "Your verdict is recorded: resolved." in r.text
        assert (ids["P"], "resolved", "resolved") in ROW.findall(r.text)
        assert "order status was right" in r.text
        tiles = dict(KPI.findall(r.text))
        assert (tiles["agreement_rate"], tiles["human_reviewed"]) == ("1.0", "1")
        assert "1 of 1 judged by both" in r.text

        # Disagreeing with the model on Q halves the agreement; R (unclear) is no judgement.
        assert (await record(sue, ids["Q"], "resolved", query)).status_code == 303
        assert (await record(sue, ids["R"], "not_resolved", query)).status_code == 303
        r = await sue.get(f"{PAGE}?{query}")
        tiles = dict(KPI.findall(r.text))
        assert (tiles["agreement_rate"], tiles["human_reviewed"]) == ("0.5", "3")
        assert "1 of 2 judged by both" in r.text

        # The page's figures are the report's, and the form's verdicts are audited as the
        # API's are.
        r = await sue.get("/api/v1/analytics/workspaces/demo/report",
                          params={"from": day, "to": day})  # fmt: skip
        check = r.json()["resolution_check"]
        assert (check["agreement_rate"], check["both_judged"], check["human_reviewed"]) == (
            0.5, 2, 3)  # fmt: skip
        audited = await h.services.store.fetch(  # type: ignore[attr-defined]
            "SELECT target, details FROM audit_log WHERE action = ? ORDER BY seq",
            "analytics.resolution_reviewed",
        )
        assert [a["target"] for a in audited] == [f"conversation:{ids[n]}" for n in "PQR"]

        # Judging again replaces the verdict; the form shows the one recorded.
        r = await sue.get(f"{PAGE}/{ids['Q']}?{query}")
        assert 'value="resolved" required checked' in r.text
        assert (await record(sue, ids["Q"], "not_resolved", query)).status_code == 303
        r = await sue.get(f"{PAGE}?{query}")
        assert dict(KPI.findall(r.text))["agreement_rate"] == "1.0"


async def test_reviewers_judge_resolutions_on_the_page_on_sqlite(sqlite_url: str) -> None:
    await judge_and_measure(sqlite_url)


async def test_reviewers_judge_resolutions_on_the_page_on_postgresql(postgres_url: str) -> None:
    await judge_and_measure(postgres_url)


async def test_the_page_refuses_bad_verdicts_filters_and_roles(sqlite_url: str) -> None:
    now = datetime.now(UTC)
    day = (now - timedelta(days=4)).date().isoformat()
    query = urlencode({"from": day, "to": day})
    async with inbox_app(sqlite_url) as h:  # the check is off: verdicts are still recorded
        seed, ids = seeded(now)
        other = seed.conversation(now - timedelta(days=4), workspace="other")
        await seed.write(h.services.store)
        sue = await h.staff("sue@example.com", "supervisor")

        r = await sue.get(f"{PAGE}?{query}")
        assert r.status_code == 200 and 'id="resolutions-off"' in r.text
        assert len(ROW.findall(r.text)) == 3  # listed, not read by any model
        assert dict(KPI.findall(r.text))["unchecked"] == "3"

        r = await record(sue, ids["P"], "maybe", query)
        assert r.status_code == 422 and "verdict must be one of" in r.text
        assert "Where is my order 1001?" in r.text  # the transcript stays for another try
        r = await record(sue, ids["P"], "", query)
        assert r.status_code == 422
        r = await sue.post(f"{PAGE}/{ids['P']}", data={"verdict": "resolved"},
                           headers={"X-CSRF-Token": ""})  # fmt: skip
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        stored = await h.services.store.fetch("SELECT * FROM resolution_reviews")  # type: ignore[attr-defined]
        assert stored == []

        # Another workspace's conversation, or none, is not found through this workspace.
        for missing in (other, "no-such-conversation"):
            assert (await sue.get(f"{PAGE}/{missing}")).status_code == 404
            assert (await record(sue, missing, "resolved", query)).status_code == 404
        assert (await sue.get("/inbox/resolutions/nowhere")).status_code == 404

        r = await sue.get(f"{PAGE}?from=2026-01-02&to=2026-01-01")
        assert r.status_code == 400 and "the range is empty" in r.text
        r = await sue.get(f"{PAGE}?colour=blue")
        assert r.status_code == 400 and "unknown filter colour" in r.text
        r = await sue.get(f"{PAGE}?from=2020-01-01&to=2020-01-02")
        assert r.status_code == 200 and 'id="resolutions-empty"' in r.text

        agent = await h.staff("al@example.com", "agent")
        for path in (PAGE, f"{PAGE}/{ids['P']}"):
            assert (await agent.get(path)).status_code == 403
        assert (await record(agent, ids["P"], "resolved", query)).status_code == 403
        assert (await h.client().get(PAGE)).status_code == 303  # to the login page


@pytest.mark.parametrize("verdict", ["resolved", "not_resolved"])
async def test_a_verdict_recorded_on_the_page_is_the_apis(sqlite_url: str, verdict: str) -> None:
    now = datetime.now(UTC)
    async with inbox_app(sqlite_url) as h:
        seed, ids = seeded(now)
        await seed.write(h.services.store)
        sue = await h.staff("sue@example.com", "supervisor")
        assert (await record(sue, ids["R"], verdict, "", note="  read it  ")).status_code == 303
        day = (now - timedelta(days=4)).date().isoformat()
        r = await sue.get("/api/v1/analytics/workspaces/demo/resolution-checks",
                          params={"from": day, "to": day})  # fmt: skip
        listed = {c["conversation_id"]: c for c in r.json()["conversations"]}
        assert (listed[ids["R"]]["human_verdict"], listed[ids["R"]]["human_reason"]) == (
            verdict, "read it")  # fmt: skip
        assert listed[ids["R"]]["created_at"].startswith(day)
        assert listed[ids["P"]]["human_verdict"] is None
