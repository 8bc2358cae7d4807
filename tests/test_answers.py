"""The Answerer walks the answer chain in order and records which step answered: LLM steps
against a local scripted server (failing, streaming, inventing, declining), the
extractive step as an injected callable, then handoff and offline collection."""

from __future__ import annotations

import pytest
from llmkit import FakeLLMServer, Scripted, openai_json, openai_stream

from smartsupport.answers import Answerer
from smartsupport.domain import Passage
from smartsupport.llm import create_provider
from smartsupport.llm.base import ProviderConfig
from smartsupport.llm.chain import LLMStep
from smartsupport.llm.grounding import GroundingChecker
from smartsupport.settings import Settings
from smartsupport.workspaces import WorkspaceConfig

# llmkit.PASSAGES, but the returns passage also promises the label by email: the redaction
# test answers from that sentence.
PASSAGES = [
    Passage(
        "p1",
        "shipping",
        "Shipping",
        "Standard shipping takes 3-5 business days and is free on orders over $50. "
        "Express shipping takes 1-2 business days and costs $12.",
        "https://help.example/shipping",
    ),
    Passage(
        "p2",
        "returns",
        "Returns",
        "You can return unworn items within 30 days of delivery for a full refund. "
        "We send the return label to your email address within 24 hours.",
        "https://help.example/returns",
    ),
]
WORKSPACE = WorkspaceConfig(id="demo", name="Northwind Outfitters")
FULL = ["llm:primary", "llm:backup", "extractive", "handoff", "offline"]
ONE = ["llm:primary", "extractive", "handoff", "offline"]


@pytest.fixture
async def primary():
    async with FakeLLMServer() as s:
        yield s


@pytest.fixture
async def backup():
    async with FakeLLMServer() as s:
        yield s


def step(server: FakeLLMServer, name: str, **extra) -> LLMStep:
    fields = {"max_retries": 0, "timeout_seconds": 5.0, **extra}
    config = ProviderConfig(name=name, base_url=server.url + "/v1", model=name, **fields)
    return LLMStep(create_provider(config), sleep=_no_sleep)


async def _no_sleep(seconds: float) -> None:
    pass


def extract_first(question, passages, templates):
    return f"{passages[0].text} More: {passages[0].url}"


def answerer(chain, steps=(), extract=extract_first) -> Answerer:
    return Answerer(
        chain, llm_steps={s.name: s for s in steps}, extract=extract, grounding=GroundingChecker()
    )


class Deltas(list):
    async def __call__(self, text: str) -> None:
        self.append(text)


async def run(a: Answerer, question="How long does shipping take?", passages=PASSAGES, **kw):
    try:
        return await a.answer(WORKSPACE, question, passages, **kw)
    finally:
        await a.aclose()


async def test_offline_default_chain_answers_extractively_with_a_citation():
    deltas = Deltas()
    result = await run(answerer(["extractive", "handoff", "offline"]), on_delta=deltas)
    assert result.step == "extractive" and not result.handoff
    assert result.reply_text.startswith("Standard shipping takes 3-5 business days")
    assert deltas == []  # whole at once: the turn's message, not a stream (one write, two frames)
    assert result.citations == [
        {
            "passage_id": "p1",
            "article_id": "shipping",
            "title": "Shipping",
            "url": "https://help.example/shipping",
        }
    ]
    assert result.usage["input_tokens"] == 0


async def test_no_extractive_match_says_it_does_not_know_and_offers_a_person():
    result = await run(answerer(["extractive", "handoff", "offline"], extract=lambda *a: None))
    assert result.step == "handoff" and result.handoff
    assert "couldn't find" in result.reply_text and "person" in result.reply_text
    assert [a["outcome"] for a in result.attempts] == ["declined", "answered"]


async def test_without_agents_the_offline_step_collects_a_message():
    result = await run(
        answerer(["extractive", "handoff", "offline"], extract=lambda *a: None),
        handoff_available=False,
    )
    assert result.step == "offline" and not result.handoff
    assert "Leave your email" in result.reply_text
    assert [a["step"] for a in result.attempts] == ["extractive", "handoff", "offline"]


async def test_async_extractor_is_awaited():
    async def extract(question, passages, templates):
        return "From the article."

    result = await run(answerer(["extractive"], extract=extract))
    assert result.reply_text == "From the article."


async def test_primary_failure_falls_through_to_backup_and_records_the_step(primary, backup):
    primary.push(Scripted(500, [b"down"]))
    backup.push(openai_json("Standard shipping takes 3-5 business days [1].", 100, 10))
    a = answerer(FULL, [step(primary, "primary"), step(backup, "backup", price_per_1k_input=1.0)])
    result = await run(a)
    assert result.step == "llm:backup"
    assert result.reply_text == "Standard shipping takes 3-5 business days."
    assert [(x["step"], x["outcome"]) for x in result.attempts] == [
        ("llm:primary", "failed"),
        ("llm:backup", "answered"),
    ]
    assert result.usage["input_tokens"] == 100 and result.usage["cost"] == pytest.approx(0.1)
    assert result.meta()["answer_step"] == "llm:backup"


async def test_both_llms_down_falls_through_to_extractive(primary, backup):
    primary.push(Scripted(503, [b"down"]))
    backup.push(Scripted(429, [b"later"], {"retry-after": "600"}))
    result = await run(answerer(FULL, [step(primary, "primary"), step(backup, "backup")]))
    assert result.step == "extractive"
    assert [x["outcome"] for x in result.attempts] == ["failed", "failed", "answered"]


async def test_streamed_answer_arrives_sentence_by_sentence_with_citations(primary):
    primary.push(
        openai_stream(
            [
                "Standard ship",
                "ping takes 3-5 business",
                " days [1]. Express costs ",
                "$12 [1]. ",
                "Returns are accepted within 30 days [2].",
            ]  # fmt: skip
        )
    )
    deltas = Deltas()
    result = await run(answerer(ONE, [step(primary, "primary")]), on_delta=deltas)
    assert deltas == [
        "Standard shipping takes 3-5 business days.",
        " Express costs $12.",
        " Returns are accepted within 30 days.",
    ]
    assert "".join(deltas) == result.reply_text
    assert [c["article_id"] for c in result.citations] == ["shipping", "returns"]
    assert result.usage["output_tokens"] == 5


async def test_invented_first_sentence_sends_nothing_and_falls_through(primary):
    primary.push(openai_stream(["Shipping is free worldwide for members of our VIP club. ", "Ok."]))
    deltas = Deltas()
    result = await run(answerer(ONE, [step(primary, "primary")]), on_delta=deltas)
    assert result.step == "extractive"
    assert result.attempts[0] == {
        "step": "llm:primary",
        "outcome": "declined",
        "detail": "unsupported",
    }
    assert deltas == []  # nothing of the model's was sent; the extracted answer is not streamed


async def test_invented_later_sentence_ends_the_answer_before_it(primary):
    primary.push(
        openai_stream(
            ["Express shipping costs $12 [1]. ", "Members get a 40% discount on everything. "]
        )
    )
    deltas = Deltas()
    result = await run(answerer(ONE, [step(primary, "primary")]), on_delta=deltas)
    assert result.step == "llm:primary" and result.reason == "truncated_unsupported"
    assert result.reply_text == "Express shipping costs $12." and deltas == [result.reply_text]
    assert result.usage["calls"][0]["estimated"]  # we stopped the stream: usage is estimated


async def test_model_saying_no_answer_falls_through(primary):
    primary.push(openai_stream(["NO_", "ANSWER"]))
    result = await run(answerer(ONE, [step(primary, "primary")]), on_delta=Deltas())
    assert result.attempts[0]["detail"] == "model_said_no_answer"
    assert result.step == "extractive"


async def test_no_passages_skips_llm_and_extractive(primary):
    result = await run(answerer(ONE, [step(primary, "primary")]), passages=[])
    assert result.step == "handoff"
    assert primary.requests == []


async def test_failure_before_any_text_is_retried_without_duplicate_deltas(primary):
    primary.push(Scripted(503, [b"busy"]), openai_stream(["Express shipping costs $12. "]))
    deltas = Deltas()
    result = await run(answerer(ONE, [step(primary, "primary", max_retries=1)]), on_delta=deltas)
    assert deltas == ["Express shipping costs $12."] and result.step == "llm:primary"
    assert len(primary.requests) == 2


async def test_stream_cut_after_a_sent_sentence_keeps_what_was_sent(primary):
    primary.push(
        openai_stream(["Express shipping costs $12. ", "Standard ship"], done=False, usage=False),
        openai_json("never asked"),
    )
    deltas = Deltas()
    result = await run(answerer(ONE, [step(primary, "primary", max_retries=2)]), on_delta=deltas)
    assert result.reply_text == "Express shipping costs $12." and deltas == [result.reply_text]
    assert result.reason == "stream_interrupted" and len(primary.requests) == 1
    assert result.usage["calls"][0]["estimated"]


async def test_personal_data_never_reaches_the_provider_and_is_restored(primary):
    primary.push(openai_json("We send the return label to [EMAIL_1] within 24 hours [2]."))
    question = "I'm jane@example.com, card 4111 1111 1111 1111. Where is my return label?"
    result = await run(answerer(ONE, [step(primary, "primary")]), question=question)
    sent = primary.requests[0].body["messages"][1]["content"]
    assert "jane@example.com" not in sent and "4111" not in sent
    assert "[EMAIL_1]" in sent and "[CARD_1]" in sent
    assert result.reply_text == "We send the return label to jane@example.com within 24 hours."


async def test_redaction_can_be_turned_off_for_a_trusted_local_model(primary):
    primary.push(openai_json("NO_ANSWER"))
    await run(answerer(ONE, [step(primary, "primary", redact=False)]), question="I'm a@b.io")
    assert "a@b.io" in primary.requests[0].body["messages"][1]["content"]


async def test_workspace_templates_and_languages_shape_the_fallback_texts():
    ws = WorkspaceConfig(
        id="w", name="W", templates={"no_answer": {"fr": "Je ne sais pas. Un humain ?"}}
    )
    a = answerer(["handoff"])
    fr = await a.answer(ws, "q", PASSAGES, language="fr")
    de = await a.answer(ws, "q", PASSAGES, language="de")
    assert fr.reply_text == "Je ne sais pas. Un humain ?"
    assert de.reply_text.startswith("Das konnte ich")


def test_a_chain_step_without_a_provider_is_refused():
    with pytest.raises(ValueError, match="llm:ghost"):
        Answerer(["llm:ghost", "handoff"])


async def test_from_settings_builds_the_configured_chain(primary):
    settings = Settings(
        llm_providers=[{"name": "primary", "base_url": primary.url + "/v1", "model": "m"}],
        answer_chain=["llm:primary", "handoff"],
    )
    a = Answerer.from_settings(settings)
    primary.push(openai_json("Express shipping costs $12 [1]."))
    await a.warm_up()
    result = await run(a, question="express?")
    assert result.step == "llm:primary" and result.citations[0]["article_id"] == "shipping"


async def test_the_llm_chain_is_the_llm_steps_in_the_chains_order(primary, backup):
    first, second = step(primary, "primary"), step(backup, "backup")
    a = answerer(["llm:backup", "extractive", "llm:primary", "offline"], [first, second])
    try:
        assert a.llm_chain == [second, first]  # the chain's order, not the providers'
        assert answerer(["extractive", "handoff", "offline"]).llm_chain == []
    finally:
        await a.aclose()
