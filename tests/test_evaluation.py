"""The resolution evaluation (docs/evaluation.md): its scoring rules, the real conversation
path under it, the suite in tests/resolution as data, and the whole suite's figures, which
must never fall below today's (a ratchet)."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from smartsupport.evaluation.runner import Row, article_stems, run_with
from smartsupport.evaluation.scoring import (
    BotReply,
    Exchange,
    Transcript,
    normalise,
    score,
)
from smartsupport.evaluation.suite import CATEGORIES, LANGUAGES, Case, Expect, load_suite
from smartsupport.settings import Settings
from smartsupport.wiring import assemble
from smartsupport.workspaces import DEMO_DIR

SUITE = Path(__file__).parent / "resolution"
ARTICLES = DEMO_DIR / "articles"

# Today's figures on the whole suite (demo workspace, embedded defaults, no LLM), measured
# on 2026-12-03 and written in docs/benchmarks.md ("Resolution"). A ratchet: raise them when
# the product gets better, never lower them to make a change pass. Lowered once, on purpose
# and in the open (docs/benchmarks.md, issue 11): the retrained answerability model traded
# abstention on unanswerable questions (100 -> 86.7%) for 6.0 points fewer off-target answers
# and 9.5 points more resolved; two conversations now reach a person after the customer says
# "yes" to the offer of one (counted as false escalations; none since the fourth pass).
# Lowered a second time in the fifth pass (docs/benchmarks.md, "Issue 11, fifth pass"): the
# question of a message is scored apart from what the customer tells around it, and resolved
# rose 56.7 -> 67.7% for off-target 5.5 -> 6.0% (one more conversation) and abstention 86.7
# -> 84.4% (one fewer): by the product's rule (resolved - 3 x off-target) 40.2 -> 49.7.
# The sixth pass added 58 English conversations (resolution/en-more.yaml, 275 in all): on the
# larger suite the fifth pass's code scores resolved 67.0%, off-target 6.9%, abstained 83.3%,
# in language 98.5%; the figures below are the sixth pass's on it (docs/benchmarks.md,
# "Issue 11, sixth pass"). Every figure is better than the fifth pass's code on the same
# suite; the off-target ceiling reads higher than before only because the suite changed.
# Last reply in language rose to 100% when answers stopped running prose into a size table's
# rows (docs/benchmarks.md, "After the pairs below"). The seventh pass (French and Italian
# elisions, places the gazetteer knows, the sentence that fills every slot) resolved 71.0 ->
# 72.7% and abstained 85.2 -> 87.0% at the same off-target rate; one more answer (the
# delivery times for Lisbon, in Portuguese, mostly place names) is too short for the
# language detector to call, so the in-language floor is 99.6. The eighth pass (a way to
# pay asked about, a product's name shared while what is asked is in no article, a figure in
# two parts of one article, the list of countries for one it does not name, a size converted
# by the size table's row, the carriers, customs for the place an earlier question names, the
# question's topic and figure in one sentence) resolved 72.3 -> 83.6%, off-target 6.5 -> 2.9%,
# abstained 86.8 -> 92.5% (the seventh pass's code on the same suite, where one conversation,
# bitcoin, moved from unanswerable to resolvable as the suite's other unlisted ways to pay
# already were: docs/benchmarks.md, "Issue 11, eighth pass").
FLOOR_RESOLVED_PCT = 83.6
FLOOR_ESCALATION_RECALL_PCT = 100.0
FLOOR_IN_LANGUAGE_PCT = 99.6
FLOOR_ABSTAINED_PCT = 92.5
CEILING_WRONG_PCT = 0.0
CEILING_OFF_TARGET_PCT = 2.9
CEILING_FALSE_ESCALATIONS = 0


def case(category: str = "resolvable", turns: tuple[str, ...] = ("hi",), **expect) -> Case:
    return Case(
        id="c",
        language="en",
        category=category,  # type: ignore[arg-type]
        turns=list(turns),
        expect=Expect(**expect),
    )


def transcript(*replies: BotReply, status: str = "bot") -> Transcript:
    return Transcript(
        exchanges=(Exchange("a question", tuple(replies), status),),
        last_reply=replies[-1].text if replies else "",
    )


ANSWER = BotReply(
    "You can return unworn items within 30 days of delivery.",
    {"step": "extractive", "citations": [{"article_id": "a1"}]},
    ("returns",),
)
NO_ANSWER = BotReply(
    "I'm sorry, I couldn't find the answer to that in our help articles. "
    "Would you like to talk to a person?",
    {"step": "handoff", "answer_reason": "no_answer"},
)


# -- the scoring rules, on hand-built transcripts ------------------------------------------


def test_facts_are_compared_without_case_accents_or_digit_and_dash_forms():
    assert normalise("Livré en 4–7 JOURS ouvrés") == "livre en 4-7 jours ouvres"
    assert normalise("٣٠ يوما") == normalise("30 يوما")
    assert normalise("７〜１２日") == "7-12日"
    assert normalise("3 - 10") == "3-10"


def test_a_reply_with_every_fact_and_the_expected_article_resolves():
    scored = score(case(facts=[["30"]], article=["returns"]), transcript(ANSWER))
    assert scored.outcome == "resolved"
    assert scored.in_language and scored.reply_language == "en"


def test_every_fact_group_must_appear_and_any_alternative_will_do():
    both = case(facts=[["thirty", "30"], ["unworn"]])
    assert score(both, transcript(ANSWER)).outcome == "resolved"
    missing = case(facts=[["30"], ["receipt"]])
    scored = score(missing, transcript(ANSWER))
    assert scored.outcome == "off_target" and "lacks receipt" in scored.reason


def test_a_translation_of_the_expected_article_counts_as_the_article():
    translated = BotReply(ANSWER.text, ANSWER.meta, ("returns.es",))
    assert score(case(facts=[["30"]], article=["returns"]), transcript(translated)).outcome == (
        "resolved"
    )


def test_the_right_facts_from_the_wrong_article_are_off_target():
    elsewhere = BotReply(ANSWER.text, ANSWER.meta, ("sizing-guide",))
    scored = score(case(facts=[["30"]], article=["returns"]), transcript(elsewhere))
    assert scored.outcome == "off_target" and "expected returns" in scored.reason


def test_an_answer_without_citation_is_judged_on_its_facts():
    configured = BotReply("Refunds are issued within 5 business days.", {"step": "intent_response"})
    resolvable = case(facts=[["5 business days"]], article=["refunds"])
    assert score(resolvable, transcript(configured)).outcome == "resolved"


def test_a_wrong_statement_anywhere_beats_the_right_facts():
    earlier = Exchange("first", (BotReply("Banks take 3-5 business days."),), "bot")
    later = Exchange("second", (ANSWER,), "bot")
    scored = score(case(facts=[["30"]], wrong=["3-5"]), Transcript((earlier, later)))
    assert scored.outcome == "wrong" and "'3-5'" in scored.reason


def test_escalation_beats_everything_else():
    waiting = transcript(ANSWER, status="waiting_for_agent")
    assert score(case(facts=[["30"]], wrong=["30"]), waiting).outcome == "escalated"
    offline = BotReply("Leave your email address...", {"step": "offline", "form": "contact"})
    assert score(case("must_escalate"), transcript(offline)).outcome == "escalated"


def test_no_answer_fallback_slot_questions_and_questions_back_are_refused_or_clarified():
    fallback = BotReply("Sorry, I didn't get that.", {"step": "fallback"})
    slot = BotReply("What's your order number?", {"step": "flow", "slot": "order_id"})
    confirm = BotReply("Cancel order ORD-10244? This can't be undone.", {"step": "flow"})
    for reply in (NO_ANSWER, fallback, slot, confirm):
        scored = score(case(facts=[["30"]]), transcript(reply))
        assert scored.outcome == "refused_clarified", reply
    assert score(case("unanswerable"), transcript(NO_ANSWER)).offered_person


def test_a_quoted_label_or_small_talk_is_no_clarifying_question():
    label = BotReply(
        "Puedes restablecer tu contraseña con «¿Olvidaste tu contraseña?».",
        {"step": "intent_response", "intent": "account"},
    )
    greeting = BotReply(
        "Hi! How can I help you today?", {"step": "intent_response", "intent": "greeting"}
    )
    for reply in (label, greeting):
        assert score(case(facts=[["spam"]]), transcript(reply)).outcome == "off_target"


def test_an_answer_to_an_unanswerable_question_or_a_must_escalate_one_is_off_target():
    assert score(case("unanswerable"), transcript(ANSWER)).outcome == "off_target"
    scored = score(case("must_escalate"), transcript(ANSWER))
    assert scored.outcome == "off_target" and "instead of escalating" in scored.reason


def test_the_last_reply_language_is_detected_without_its_links():
    spanish = BotReply(
        "Puedes devolver los artículos sin usar en un plazo de 30 días desde la entrega.\n\n"
        "Más en https://help.northwind-outfitters.example/es/devoluciones",
        {"step": "extractive"},
    )
    scored = score(case(facts=[["30"]]), transcript(spanish))
    assert scored.reply_language == "es" and not scored.in_language


# -- the real conversation path ------------------------------------------------------------


@pytest.fixture
def settings(tmp_path, shared_models_dir) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key="k" * 32,
        models_dir=shared_models_dir,
        database_url=f"sqlite:///{tmp_path / 'eval.db'}",
    )


def track(name: str, **expect) -> Case:
    return Case(
        id=name,
        language="en",
        category="resolvable",
        turns=["where is my order ORD-10234", "maria@example.com"],
        expect=Expect(**expect),
    )


async def test_hand_built_conversations_are_scored_through_the_real_path(settings):
    cases = [
        track("resolved", facts=[["1Z999AA10123456784"]]),
        track("wrong", facts=[["1Z999AA10123456784"]], wrong=["1Z999AA10123456784"]),
        track("lacking", facts=[["a fact nobody states"]]),
        Case(
            id="person",
            language="en",
            category="must_escalate",
            turns=["I want to talk to a human agent please"],
            expect=Expect(wrong=["a"]),
        ),
        Case(id="long", language="en", category="unanswerable", turns=["x" * 5000]),
    ]
    run = await run_with(settings, cases)
    rows = {r.case.id: r for r in run.rows}
    resolved, wrong, lacking, person, long = (rows[c.id] for c in cases)

    assert resolved.score.outcome == "resolved", resolved.score.reason
    assert [len(e.replies) > 0 for e in resolved.transcript.exchanges] == [True, True]
    assert resolved.transcript.exchanges[-1].ms is not None  # from the turn event
    assert resolved.score.reply_language == "en" and resolved.score.in_language
    assert wrong.score.outcome == "wrong"
    assert lacking.score.outcome == "off_target", lacking.score.reason
    assert person.score.outcome == "escalated"
    assert person.transcript.exchanges[0].status == "waiting_for_agent"
    assert long.score.outcome == "error" and "the limit is 4000" in long.score.reason
    assert run.settings["answer_chain"] == ["extractive", "handoff", "offline"]


async def test_citations_are_read_back_as_article_file_stems(settings):
    services = await assemble(settings)
    try:
        stems = await article_stems(services)
    finally:
        await services.close()
    assert set(stems.values()) == {p.stem for p in ARTICLES.glob("*.md")}


async def test_each_conversation_starts_from_the_shop_file(settings):
    cancel = Case(
        id="cancel",
        language="en",
        category="resolvable",
        turns=["please cancel order ORD-10244", "maria@example.com", "Yes, cancel it"],
        expect=Expect(facts=[["is cancelled"]]),
    )
    again = Case(
        id="again",
        language="en",
        category="resolvable",
        turns=["please cancel order ORD-10244", "maria@example.com"],
        expect=Expect(facts=[["Cancel order ORD-10244"]]),
    )
    rows: list[Row] = (await run_with(settings, [cancel, again])).rows
    assert [r.score.outcome for r in rows] == ["resolved", "resolved"], [
        r.score.reason for r in rows
    ]
    assert "already cancelled" not in rows[1].transcript.last_reply


# -- the suite as data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def suite() -> list[Case]:
    return load_suite(SUITE)


def test_the_suite_covers_nine_languages_three_categories_and_200_conversations(suite):
    assert len(suite) >= 200
    cells = Counter((c.language, c.category) for c in suite)
    for language in LANGUAGES:
        for category in CATEGORIES:
            assert cells[language, category] >= 5, (language, category)
    assert all(c.id.startswith(f"{c.language}-") for c in suite)
    assert sum(len(c.turns) > 1 for c in suite) >= 50  # flows: the bot asks, they answer


@functools.cache
def _sources() -> dict[str, str]:
    """What facts may come from: the articles (by file stem), the shop's data, the flows'
    templates and the workspace's FAQ answers."""
    texts = {p.stem: p.read_text(encoding="utf-8") for p in ARTICLES.glob("*.md")}
    for name in ("shop.json", "flows.yaml", "workspace.yaml"):
        texts[name] = (DEMO_DIR / name).read_text(encoding="utf-8")
    return {k: normalise(v) for k, v in texts.items()}


def test_every_fact_comes_from_the_articles_the_shop_or_the_customer(suite):
    sources = _sources()
    everything = "\n".join(sources.values())
    problems = []
    for c in suite:
        said = normalise(" ".join(c.turns))  # e.g. the new address the customer typed
        for group in c.expect.facts:
            if not any(normalise(a) in everything or normalise(a) in said for a in group):
                problems.append(f"{c.id}: no form of {group} is in the demo's data")
    assert not problems, "\n".join(problems)


@functools.cache
def _flow_texts(language: str) -> str:
    """Every text the demo's flows say in ``language`` (their templates, placeholders and
    all)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "en" in node and all(isinstance(v, str) for v in node.values()):
                found.append(str(node.get(language, node["en"])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((DEMO_DIR / "flows.yaml").read_text(encoding="utf-8")))
    return normalise("\n".join(found))


def test_a_correct_answer_in_the_customers_language_would_be_recognised(suite):
    """A knowledge answer quoted from the expected article in the customer's language, or
    a flow's answer in that language, contains a listed form of every fact."""
    sources = _sources()
    shop = sources["shop.json"]
    problems = []
    for c in suite:
        if c.category != "resolvable":
            continue
        if c.expect.article:
            stems = [a if c.language == "en" else f"{a}.{c.language}" for a in c.expect.article]
            texts = [sources[s] for s in stems if s in sources]
        else:
            texts = [_flow_texts(c.language) + "\n" + shop + "\n" + normalise(" ".join(c.turns))]
        if texts and not any(
            all(any(normalise(a) in text for a in group) for group in c.expect.facts)
            for text in texts
        ):
            problems.append(f"{c.id}: add the {c.language} forms the answer uses")
    assert not problems, "\n".join(problems)


def test_expected_articles_exist_and_never_state_a_wrong_string(suite):
    sources = _sources()
    problems = []
    for c in suite:
        for article in c.expect.article:
            if article not in sources:
                problems.append(f"{c.id}: no article {article}.md")
                continue
            # The article and its translations (refunds.es.md): a correct answer may quote
            # any of them in full, so a wrong string must appear in none of them.
            texts = [t for stem, t in sources.items() if stem.split(".", 1)[0] == article]
            for wrong in c.expect.wrong:
                if any(normalise(wrong) in t for t in texts):
                    problems.append(f"{c.id}: {wrong!r} is in {article}, a correct answer")
    assert not problems, "\n".join(problems)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", normalise(text)))


def test_no_turn_is_taken_from_the_intent_examples(suite):
    intents = yaml.safe_load((DEMO_DIR / "intents.yaml").read_text(encoding="utf-8"))
    examples = [e for spec in intents["intents"].values() for e in spec.get("examples", [])]
    copied = []
    for c in suite:
        for turn in c.turns:
            mine = _words(turn)
            for example in examples:
                theirs = _words(example)
                overlap = len(mine & theirs) / len(mine | theirs)
                if mine == theirs or (len(theirs) >= 3 and overlap >= 0.6):
                    copied.append(f"{c.id}: {turn!r} ~ {example!r}")
    assert not copied, "\n".join(copied)


def test_a_suite_with_a_problem_is_refused_with_its_file_and_conversation(tmp_path):
    from smartsupport.errors import ConfigurationError

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "language: en\nconversations:\n  - {id: a, category: resolvable, turns: [hi]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"bad.yaml: a: .*expect.facts"):
        load_suite(bad)
    bad.write_text(
        "language: xx\nconversations:\n  - {id: a, category: unanswerable, turns: [hi]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"bad.yaml: a: language"):
        load_suite(bad)


# -- the whole suite, through the command ------------------------------------------------


def test_the_whole_suite_runs_and_holds_todays_figures(tmp_path, shared_models_dir, suite):
    env = {
        **os.environ,
        "SMARTSUPPORT_DATA_DIR": str(tmp_path),
        "SMARTSUPPORT_MODELS_DIR": str(shared_models_dir),
    }
    command = [sys.executable, "-m", "smartsupport", "eval", "conversations", str(SUITE)]
    done = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, env=env, timeout=280
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)

    assert [r["id"] for r in result["rows"]] == [c.id for c in suite]
    assert set(result["by_language"]) == set(LANGUAGES)
    assert set(result["by_category"]) == set(CATEGORIES)
    totals = result["totals"]
    assert totals["conversations"] == len(suite)
    assert sum(totals["outcomes"].values()) == len(suite)
    assert totals["outcomes"]["error"] == 0, [
        r["id"] for r in result["rows"] if r["outcome"] == "error"
    ]
    for row in result["rows"]:
        assert row["turns"] and all(t["replies"] or t["status"] != "bot" for t in row["turns"])

    floors = {
        "resolved_pct": FLOOR_RESOLVED_PCT,
        "escalation_recall_pct": FLOOR_ESCALATION_RECALL_PCT,
        "in_language_pct": FLOOR_IN_LANGUAGE_PCT,
        "abstained_pct": FLOOR_ABSTAINED_PCT,
    }
    ceilings = {
        "wrong_pct": CEILING_WRONG_PCT,
        "off_target_pct": CEILING_OFF_TARGET_PCT,
        "false_escalations": CEILING_FALSE_ESCALATIONS,
    }
    worse = [f"{k} {totals[k]} < {v}" for k, v in floors.items() if totals[k] < v]
    worse += [f"{k} {totals[k]} > {v}" for k, v in ceilings.items() if totals[k] > v]
    failed = [
        f"  {r['id']}: {r['outcome']}: {r['reason']}"
        for r in result["rows"]
        if r["outcome"] in ("wrong", "off_target")
        or (r["outcome"] == "escalated") != (r["category"] == "must_escalate")
    ]
    assert not worse, "\n".join(
        ["worse than today:", *worse, "wrong, off-target, escalation:", *failed]
    )
