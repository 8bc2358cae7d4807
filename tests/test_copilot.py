"""The copilot on SQLite and PostgreSQL: on takeover a summary of what happened and what the
customer wants, drafts grounded in a help article or in what a flow found (never sent by
themselves), help articles that answer the customer's question rather than their request for
a person, and LLM drafts through the answer chain with personal data redacted from the
prompt."""

from __future__ import annotations

import pytest

from smartsupport.inbox.suggestions import asked
from smartsupport.workspaces import WorkspaceConfig
from tests.inboxkit import HUMAN, inbox_app
from tests.llmkit import FakeLLMServer, openai_json

QUESTION = "What does express shipping cost, and how quick is it?"
SHIPPING = "Shipping options, costs and delivery times"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, sqlite_url):
    if request.param == "sqlite":
        return sqlite_url
    return request.getfixturevalue("postgres_url")


async def copilot(agent, conversation_id: str) -> dict:
    r = await agent.get(f"/api/v1/inbox/conversations/{conversation_id}/copilot")
    assert r.status_code == 200, r.text
    return r.json()


async def test_takeover_summary_drafts_and_articles_answer_the_question_not_the_handoff(
    database, tmp_path
) -> None:
    async with inbox_app(database, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.visitor("Grace")
        await visitor.say(QUESTION)
        assert (await visitor.say(HUMAN))["status"] == "waiting_for_agent"
        sent_before = len(await visitor.messages())
        data = await copilot(agent, visitor.id)
        summary = data["summary"]
        # What the customer wants is their question, not "I want to talk to a person".
        assert summary["wants"] == QUESTION
        assert summary["happened"][0].startswith("Handed over: customer asked for a")
        assert any("answered from" in line for line in summary["happened"])
        # The article that answers it, and a draft from it with the fact the customer needs.
        assert data["articles"][0]["title"] == SHIPPING
        assert data["articles"][0]["question"] == QUESTION
        draft = data["drafts"][0]
        assert (draft["kind"], draft["step"], draft["source"]) == (
            "article",
            "extractive",
            SHIPPING,
        )
        assert "$12" in draft["text"] and "1-2 business days" in draft["text"]
        # The side panel shows the same articles (before: the best match for "a person").
        detail = (await agent.get(f"/api/v1/inbox/conversations/{visitor.id}")).json()
        assert [p["title"] for p in detail["suggestions"]["passages"]][:1] == [SHIPPING]
        html = (await agent.get(f"/inbox/fragments/conversations/{visitor.id}/context")).text
        assert SHIPPING in html
        # Nothing reached the customer: a draft is sent only as the agent's own reply.
        assert len(await visitor.messages()) == sent_before


async def test_a_question_no_article_answers_gets_no_article_and_no_draft(
    database, tmp_path
) -> None:
    async with inbox_app(database, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.visitor("Sam")
        await visitor.say("do u have a student discount? im at BU")
        await visitor.say(HUMAN)
        data = await copilot(agent, visitor.id)
        assert data["summary"]["wants"] == "do u have a student discount? im at BU"
        assert data["articles"] == [] and data["drafts"] == []
        html = (await agent.get(f"/inbox/fragments/conversations/{visitor.id}/context")).text
        assert "No help article answers what the customer asked." in html


async def test_a_flow_draft_repeats_what_the_flow_found_and_references_are_listed(
    database, tmp_path
) -> None:
    async with inbox_app(database, data_dir=tmp_path) as h:
        agent = await h.staff("ana@example.com")
        visitor = await h.visitor("Maria")
        await visitor.say("Where is my order ORD-10234?")
        turn = await visitor.say("maria@example.com")
        found = [r["text"] for r in turn["replies"]]
        await visitor.say(HUMAN)
        data = await copilot(agent, visitor.id)
        assert data["summary"]["references"] == ["ORD-10234"]
        flows = [d for d in data["drafts"] if d["kind"] == "flow"]
        assert flows and flows[0]["text"] in found and "ORD-10234" in flows[0]["text"]
        assert flows[0]["step"] == "flow"


async def test_copilot_is_for_staff_of_the_workspace_only(database, tmp_path) -> None:
    async with inbox_app(database, data_dir=tmp_path) as h:
        other = await h.staff("olga@example.com", "agent", workspaces=["elsewhere"])
        visitor = await h.customer_waiting()
        r = await other.get(f"/api/v1/inbox/conversations/{visitor.id}/copilot")
        assert r.status_code == 403
        r = await h.client().get(f"/api/v1/inbox/conversations/{visitor.id}/copilot")
        assert r.status_code == 401
        agent = await h.staff("ana@example.com")
        r = await agent.get("/api/v1/inbox/conversations/nope/copilot")
        assert r.status_code == 404


async def test_llm_drafts_go_through_the_answer_chain_with_personal_data_redacted(
    sqlite_url, tmp_path
) -> None:
    async with FakeLLMServer() as llm:
        settings = {
            "llm_providers": [{"name": "primary", "base_url": llm.url + "/v1", "model": "m"}],
            "answer_chain": ["llm:primary", "extractive", "handoff"],
        }
        async with inbox_app(sqlite_url, data_dir=tmp_path, **settings) as h:
            agent = await h.staff("ana@example.com")
            visitor = await h.visitor("Ada")
            question = "I'm ada.lovelace@example.com, what does express shipping cost?"
            # The bot's own answer, then the copilot's draft.
            llm.push(openai_json("Express shipping costs $12 [1]."))
            await visitor.say(question)
            await visitor.say(HUMAN)
            llm.requests.clear()
            llm.push(openai_json("Express shipping costs $12 [1]."))
            data = await copilot(agent, visitor.id)
            draft = data["drafts"][0]
            assert (draft["step"], draft["text"]) == ("llm:primary", "Express shipping costs $12.")
            prompt = str(llm.requests[0].body)
            assert "ada.lovelace@example.com" not in prompt and "express shipping" in prompt


def test_what_the_customer_asked_skips_small_talk_and_requests_for_a_person() -> None:
    from smartsupport.domain import Author, Message

    def said(seq: int, text: str, intent: str | None) -> Message:
        meta = {"nlu": {"intent": intent}} if intent else {}
        return Message(f"m{seq}", "c", seq, Author.CUSTOMER, text, meta=meta)

    workspace = WorkspaceConfig(id="w", name="W")
    messages = [
        said(1, "hi there", "greeting"),
        said(2, "Do you ship to Norway? And how much is express?", "shipping_info"),
        said(3, "ok thanks", "thanks"),
        said(4, "can I talk to a person", "human_agent"),
    ]
    assert asked(messages, workspace) == [
        "Do you ship to Norway? And how much is express?",
        "Do you ship to Norway?",
        "And how much is express?",
    ]
