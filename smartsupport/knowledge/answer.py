"""The offline, extractive answer: the most relevant sentences of the best article, with a
link to it, phrased through the workspace's response templates.

It never writes anything the article does not say. The caller passes only passages that
answer the question (``knowledge.answerability``), each with the sentence to build the answer
around (``Passage.focus``); passages scoring below ``MIN_SCORE`` are still refused, so the
caller says it does not know and offers a person.

Templates (workspace ``templates`` mapping; each key may have a per-language variant such
as ``kb_answer.es``). Placeholders: ``{answer}``, ``{title}``, ``{url}``, ``{section}``.

    kb_answer               used when the article has a URL
    kb_answer_without_link  used when it has none
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smartsupport.domain import Passage
from smartsupport.knowledge.answer_types import answer_types, type_match
from smartsupport.knowledge.documents import language_of
from smartsupport.knowledge.text_analysis import terms
from smartsupport.knowledge.units import dangling, units_of

# Calibrated on the demo help centre with 29 on-topic and 14 off-topic questions: off-topic
# best scores stayed below 0.19, most on-topic ones were 0.20-0.65 (typo-ridden questions
# and very short ones fall below and get the honest "I don't know" plus a person).
MIN_SCORE = 0.2
MAX_ANSWER_CHARS = 480
MAX_JOINED_CHARS = 640  # two parts of one article (``_also``)

DEFAULT_TEMPLATES = {
    # The source is the message's one citation (meta.citations), which every channel shows
    # its own way (the widget as a link under the answer): not repeated in the text.
    "kb_answer": "{answer}",
    "kb_answer_without_link": "{answer}",
}


def extract_answer(
    question: str,
    passages: Sequence[Passage],
    templates: Mapping[str, str] | None = None,
    *,
    min_score: float = MIN_SCORE,
) -> str | None:
    """An answer built only from ``passages`` (as returned by ``KnowledgeBase.search``), or
    None when the best one is not relevant enough to answer from."""
    if not passages or passages[0].score < min_score:
        return None
    best = passages[0]
    answer = _select(question, best.text, best.focus)
    other = _also(question, passages, answer)
    if other:
        # In the article's order: the refund is issued, then it shows on the statement.
        first, then = (other, answer) if passages[1].position < best.position else (answer, other)
        answer = f"{first}\n\n{then}"
    language = language_of(best.locale)
    key = "kb_answer" if best.url else "kb_answer_without_link"
    merged = {**DEFAULT_TEMPLATES, **(templates or {})}
    template = merged.get(f"{key}.{language}") or merged.get(key) or "{answer}"
    values = {
        "answer": answer,
        "title": best.title,
        "url": best.url or "",
        "section": best.section or best.title,
    }
    return template.format_map(_Defaulting(values)).strip()


def _also(question: str, passages: Sequence[Passage], answer: str) -> str | None:
    """The next answering passage's sentences, when it is another part of the same article
    and also gives the kind of figure asked for: "how soon will I get my money back?" is
    answered by when the refund is issued (5 business days) and by when it shows on a card
    (3-10 days); which one the customer means, only they know."""
    if len(passages) < 2 or passages[1].article_id != passages[0].article_id:
        return None
    kinds = [k for k in answer_types(question) if k in ("duration", "amount", "when")]
    second = passages[1]
    if not kinds or second.text in answer or type_match(kinds, answer) <= 0:
        return None
    text = _select(question, second.text, second.focus)
    if text in answer or type_match(kinds, text) <= 0:
        return None
    return text if len(answer) + len(text) <= MAX_JOINED_CHARS else None


class _Defaulting(dict[str, str]):
    """Unknown placeholders in a workspace template stay as written instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _select(question: str, text: str, focus: str | None = None) -> str:
    """The whole passage when short, else the sentences around ``focus`` (or the best-
    matching one), keeping the sentence that gives a leaning one its subject."""
    if len(text) <= MAX_ANSWER_CHARS:
        return text
    units = units_of(text)
    wanted = set(terms(question))
    overlap = [len(wanted.intersection(terms(u))) for u in units]
    if focus is not None and focus in units:
        start = units.index(focus)
    else:
        # Prose wins ties over a table's rows (a row is data; the sentence says how to read
        # it), then earlier units: help articles put the direct answer first.
        start = max(range(len(units)), key=lambda i: (overlap[i], not _row(units[i]), -i))
    chosen = [start]
    length = len(units[start])
    after, before = start + 1, start - 1
    if start > 0 and dangling(units[start]):  # "It covers ..." needs what "it" is
        chosen.append(start - 1)
        length += 1 + len(units[start - 1])
        before -= 1
    # Grow around the best unit, preferring what follows (details, conditions). A table's
    # rows join only an answer that starts in the table: a sentence is not continued by the
    # rows of a size table, while a table is by the sentence that says how to use it.
    in_table = _row(units[start])
    while True:
        candidates = [
            i for i in (after, before) if 0 <= i < len(units) and (in_table or not _row(units[i]))
        ]
        candidates = [i for i in candidates if length + 1 + len(units[i]) <= MAX_ANSWER_CHARS]
        if not candidates:
            break
        i = max(candidates, key=lambda j: (overlap[j], j == after))
        chosen.append(i)
        length += 1 + len(units[i])
        if i == after:
            after += 1
        else:
            before -= 1
    if in_table:
        # The header row names the columns: "42 | 8.5 | 10 | 8 | 26.5 cm" alone reads as
        # figures in no language.
        header = start
        while header > 0 and _row(units[header - 1]):
            header -= 1
        if header not in chosen:
            chosen.append(header)
    chosen.sort()
    parts = [units[i] for i in chosen]
    listed = any(p.startswith(("- ", "|")) or _row(p) for p in parts)
    joined = "\n".join(parts) if listed else " ".join(parts)
    if len(joined) > MAX_ANSWER_CHARS:  # one enormous sentence
        joined = joined[: MAX_ANSWER_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return joined


def _row(unit: str) -> bool:
    """Whether ``unit`` is a table row ("42 | 8.5 | 10 | 8 | 26.5 cm")."""
    return unit.count("|") >= 2
