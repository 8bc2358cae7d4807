"""Extractive answers: relevant sentences of the best article (its source travels as the
message's one citation, not in the text), the workspace's templates, and None when retrieval
is not confident."""

from __future__ import annotations

from pathlib import Path

import pytest
from knowledge_samples import CountingEmbedder

from smartsupport.domain import Passage
from smartsupport.knowledge.answer import MIN_SCORE, extract_answer
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.storage import open_store

DEMO_ARTICLES = Path(__file__).parent.parent / "smartsupport" / "demo" / "articles"


@pytest.fixture
async def kb(sqlite_url):
    store = open_store(sqlite_url)
    await store.connect()
    await store.migrate()
    kb = KnowledgeBase(store, embedder=CountingEmbedder())
    assert (await kb.ingest("demo", [DEMO_ARTICLES])).ok
    yield kb
    await store.close()


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("How long does a refund take to show on my card?", "3-10 business days"),
        ("How much is express shipping?", "$12"),
        ("Do gift cards expire?", "never expire"),
        ("Can I return socks?", "socks"),
        ("I forgot my password", "Forgot password"),
        ("Will I pay customs duties in the UK?", "VAT"),
    ],
)
async def test_on_topic_questions_get_the_fact_and_no_second_source(kb, question, fact):
    passages = await kb.search("demo", question, locale="en")
    answer = extract_answer(question, passages)
    assert answer is not None and fact in answer
    assert "http" not in answer and len(answer) < 700  # the citation shows the source once


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Write me a poem about cats",
        "Who won the game last night?",
        "What is 2+2?",
        "tell me a joke",
    ],
)
async def test_off_topic_questions_get_no_answer(kb, question):
    assert extract_answer(question, await kb.search("demo", question)) is None


async def test_answers_in_the_customers_language_with_its_template(kb):
    question = "¿Cuánto tarda el envío?"
    answer = extract_answer(question, await kb.search("demo", question, locale="es"))
    assert answer is not None and "3 a 5 días hábiles" in answer
    assert "http" not in answer


def passage(text: str, score: float = 0.5, url: str | None = "https://h.example/a") -> Passage:
    return Passage(
        id="p", article_id="a", title="Returns", text=text, url=url, score=score, section="Window"
    )


def test_workspace_templates_and_missing_link():
    templates = {
        "kb_answer": "Here is what I found: {answer} (see {url}) {unknown}",
        "kb_answer_without_link": "{section}: {answer}",
    }
    assert extract_answer("q", [passage("Thirty days.")], templates) == (
        "Here is what I found: Thirty days. (see https://h.example/a) {unknown}"
    )
    assert (
        extract_answer("q", [passage("Thirty days.", url=None)], templates)
        == "Window: Thirty days."
    )


def test_low_confidence_and_empty_results_return_none():
    assert extract_answer("q", []) is None
    assert extract_answer("q", [passage("Thirty days.", score=MIN_SCORE - 0.01)]) is None


def test_long_passages_are_cut_to_the_sentences_that_answer():
    filler = " ".join(
        f"Sentence number {i} talks about something else entirely." for i in range(12)
    )
    text = filler + " Refunds reach PayPal accounts within 24 hours. " + filler
    answer = extract_answer("how fast are paypal refunds", [passage(text)])
    body = answer.split("\n\n")[0]
    assert "Refunds reach PayPal accounts within 24 hours." in body
    assert len(body) <= 480


def test_an_answer_built_around_a_sentence_keeps_the_sentence_that_gives_it_a_subject():
    filler = " ".join(f"Sentence number {i} talks about something else." for i in range(14))
    text = filler + " Every boot has a 2-year warranty. It covers broken zips and soles. " + filler
    focused = Passage(
        "p", "a", "Warranty", text, score=0.9, focus="It covers broken zips and soles."
    )
    answer = extract_answer("are zips covered", [focused])
    assert "Every boot has a 2-year warranty. It covers broken zips and soles." in answer


def test_a_sentence_is_not_continued_by_a_tables_rows_but_a_table_by_its_sentence():
    filler = " ".join(f"Sentence number {i} talks about something else." for i in range(8))
    rows = "\n".join(f"{40 + i} | {7 + i * 0.5} | {25 + i * 0.7:.1f} cm" for i in range(8))
    text = (
        filler + " Our boots run small, so wide feet should take one size up.\n"
        "EU | US | foot length\n" + rows + "\nSizes are printed inside the tongue. " + filler
    )
    prose = extract_answer("what size for wide feet", [passage(text)]).split("\n\n")[0]
    assert prose.endswith("wide feet should take one size up.")
    assert "|" not in prose
    table = extract_answer("foot length 26.4 cm which EU size", [passage(text)])
    lines = table.split("\n\n")[0].splitlines()
    assert "EU | US | foot length" in lines and "42 | 8.0 | 26.4 cm" in lines
    assert [line for line in lines if "|" in line] == text.splitlines()[1:10]  # a row a line
    assert "Sizes are printed inside the tongue." in lines
