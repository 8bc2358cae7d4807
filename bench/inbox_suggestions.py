"""Hit rate of the inbox's article suggestions on the demo workspace, before and after.

    .venv/bin/python bench/inbox_suggestions.py [--languages en,es] [--thresholds 0.3,0.5,0.8]

The labelled set is the resolution suite (tests/resolution/*.yaml, written for that suite and
kept apart from the answerability model's training pairs): every "resolvable" conversation
names the article(s) that answer it. Each conversation runs through the real conversation
path on a fresh demo workspace (``wiring.assemble``, ``handle_message``), in two situations:

    asked       the customer's turns as written (the question is the last message)
    handoff     the same, then the customer asks for a person in their language: what an
                agent usually finds on takeover

and the side panel's suggestions are computed the old way (the last customer message,
hybrid search, the three best articles whatever their score) and the new way
(``inbox.suggestions``). hit@k: an expected article among the first k shown. For the
"unanswerable" conversations (no article answers), "shown" is how often anything is
suggested at all: every such suggestion is irrelevant.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from smartsupport.assistant import Assistant
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.demo_shop import Shops
from smartsupport.domain import Author, IncomingMessage, Message
from smartsupport.evaluation.runner import article_stems, evaluation_settings
from smartsupport.evaluation.suite import Case, load_suite
from smartsupport.inbox.suggestions import SUGGEST_THRESHOLD, for_conversation
from smartsupport.wiring import assemble

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "tests" / "resolution"
# "Can I talk to a person?" as a customer writes it, per suite language.
PERSON = {
    "en": "can I talk to a person please",
    "de": "Kann ich bitte mit einem Mitarbeiter sprechen?",
    "es": "¿Puedo hablar con una persona, por favor?",
    "fr": "Je voudrais parler à un conseiller s'il vous plaît",
    "it": "Posso parlare con un operatore per favore?",
    "pt": "Posso falar com um atendente, por favor?",
    "ja": "担当者と話したいです",
    "zh": "我想和人工客服说话",
    "ar": "أريد التحدث مع موظف من فضلك",
}


@dataclass
class Tally:
    cases: int = 0
    hit1: int = 0
    hit3: int = 0
    shown: int = 0  # conversations with at least one suggestion
    total_shown: int = 0  # suggestions shown, all conversations
    relevant_shown: int = 0  # of those, expected articles
    seconds: list[float] = field(default_factory=list)

    def add(self, shown: list[str], expected: set[str], seconds: float) -> None:
        self.cases += 1
        self.hit1 += bool(shown[:1] and shown[0] in expected)
        self.hit3 += bool(set(shown[:3]) & expected)
        self.shown += bool(shown)
        self.total_shown += len(shown[:3])
        self.relevant_shown += len(set(shown[:3]) & expected)
        self.seconds.append(seconds)


async def old_way(
    assistant: Assistant, workspace_id: str, messages: list[Message], locale: str
) -> list[str]:
    """inbox/context.py before: the last customer message, hybrid search k=6, one passage
    per article, the first three."""
    query = next((m.text for m in reversed(messages) if m.author is Author.CUSTOMER), None)
    if not query:
        return []
    found = await assistant.knowledge.search(workspace_id, query, k=6, locale=locale)
    best: dict[str, str] = {}
    for passage in found:
        best.setdefault(passage.article_id, passage.article_id)
    return list(best)[:3]


async def run(languages: list[str], thresholds: list[float]) -> None:
    cases = [c for c in load_suite(SUITE) if c.language in languages]
    # Resolvable conversations that name their article (the others are a flow's work), and
    # the unanswerable ones.
    cases = [
        c
        for c in cases
        if (c.category == "resolvable" and c.expect.article) or c.category == "unanswerable"
    ]
    with tempfile.TemporaryDirectory(prefix="inbox-suggestions-") as directory:
        settings = evaluation_settings(Path(directory))
        services = await assemble(settings, shops=Shops())
        try:
            assistant = services.assistant
            assert isinstance(assistant, Assistant)
            stems = await article_stems(services)
            tallies: dict[tuple[str, str, str], Tally] = {}
            for case in cases:
                await one_case(services, assistant, case, stems, tallies, thresholds)
        finally:
            await services.close()
    report(tallies, len(cases), thresholds)


async def one_case(  # type: ignore[no-untyped-def]
    services, assistant: Assistant, case: Case, stems, tallies, thresholds: list[float]
) -> None:
    expected = set(case.expect.article)
    workspace = services.workspace(case.workspace)
    conversation, _ = await start_conversation(services, case.workspace, locale=case.language)
    sent = 0
    for situation, turns in (("asked", case.turns), ("handoff", [PERSON[case.language]])):
        for text in turns:
            sent += 1
            incoming = IncomingMessage(conversation.id, text, client_id=f"{case.id}-{sent}")
            await handle_message(services, incoming)
        conversation = await services.store.get_conversation(conversation.id)
        messages = await services.store.list_messages(conversation.id)
        started = time.perf_counter()
        old = await old_way(assistant, workspace.id, messages, case.language)
        old_s = time.perf_counter() - started
        started = time.perf_counter()
        found = await for_conversation(assistant, workspace, conversation, messages, threshold=0)
        new_s = time.perf_counter() - started
        ways = [("before", old, old_s)] + [
            (
                f"after ({threshold})",
                [s.article_id for s in found.suggestions if s.probability >= threshold],
                new_s,
            )
            for threshold in thresholds
        ]
        for way, shown, seconds in ways:
            names = [stems.get(a, a).split(".")[0] for a in shown]
            key = (case.category, situation, way)
            tallies.setdefault(key, Tally()).add(names, expected, seconds)


def report(tallies: dict[tuple[str, str, str], Tally], cases: int, thresholds: list[float]) -> None:
    ways = ["before", *(f"after ({t})" for t in thresholds)]
    print(f"{cases} conversations\n")
    print("| situation | way | conversations | hit@1 | hit@3 | precision of shown | "
          "ms per panel (median) |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for situation in ("asked", "handoff"):
        for way in ways:
            t = tallies.get(("resolvable", situation, way))
            if t is None:
                continue
            median = sorted(t.seconds)[len(t.seconds) // 2] * 1000
            precision = t.relevant_shown / t.total_shown if t.total_shown else 0.0
            print(
                f"| {situation} | {way} | {t.cases} | {t.hit1 / t.cases:.0%} | "
                f"{t.hit3 / t.cases:.0%} | {precision:.0%} | {median:.0f} |"
            )
    print("\nUnanswerable conversations (no article answers): share with a suggestion shown")
    print("| situation | " + " | ".join(ways) + " |")
    print("| --- |" + " ---: |" * len(ways))
    for situation in ("asked", "handoff"):
        row = [tallies.get(("unanswerable", situation, way)) for way in ways]
        cells = [f"{t.shown / t.cases:.0%} of {t.cases}" if t else "-" for t in row]
        print(f"| {situation} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default=",".join(PERSON))
    parser.add_argument("--thresholds", default=f"{SUGGEST_THRESHOLD}")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    asyncio.run(run(args.languages.split(","), thresholds))


if __name__ == "__main__":
    main()
