"""Whether a passage *answers* a question, not only whether it is similar to it.

Retrieval ranks passages by similarity; a passage about a neighbouring topic (gift cards for
a gift-wrapping question, domestic shipping times for a country the articles do not list)
can rank first. Before anything is said, every sentence-sized unit of the best passages is
scored on what an answer needs:

    similarity    the unit and its passage to the question (the packaged multilingual
                  sentence embedding, so a question may match an article's sentence in
                  another wording)
    coverage      how much of the question's weight (IDF) the passage and the unit contain
    missing slot  the rarest question term the passage lacks, among the terms that are not
                  everyday words of any language: a country, product, card brand or
                  service the question names and the passage never mentions
    unknown       how much of what the question names no article mentions at all
    answer type   "how much" wants an amount, "how long" a duration, "which number" a
                  phone number, "when are you open" hours (nine languages)
    margin        how far this passage leads the others
    place         for a delivery time or a price: a passage about another place (the
                  continental US for a question about Germany) never answers (places.py)

A passage without the kind of answer the question asks for (an amount for "how much") is
never an answer. For the others, a logistic model over these features
(``data/answerability.json``, trained and calibrated by ``bench/train_answerability.py`` on
question-passage pairs written for the demo articles and on StackFAQ question-answer pairs,
both with hard negatives; the threshold is chosen there on out-of-fold predictions for a
target precision, with the precision/coverage curve in
docs/benchmarks.md) gives the probability that the unit answers the question. Below the
threshold the caller abstains: it says it does not know and offers a person.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smartsupport.domain import Passage
from smartsupport.knowledge import slots
from smartsupport.knowledge.answer_types import answer_types, type_match
from smartsupport.knowledge.places import place_match, places_in
from smartsupport.knowledge.question_terms import (
    cjk_noise,
    coverage,
    coverages,
    load_common_words,
    missing,
    only_names,
    place_terms,
    terms_of,
    topic_of,
    unknown,
    weighted,
)
from smartsupport.knowledge.units import asked_part, units_of

MODEL_FILE = Path(__file__).parent / "data" / "answerability.json"
FEATURES = (
    "passage_similarity",
    "best_unit_similarity",
    "passage_coverage",
    "best_unit_coverage",
    "missing_slot",
    "unknown_content",
    "answer_type",
    "margin",
    "retrieval_rank",
    "coverage_margin",
    "place_answer",
)

# A guard set by hand, not learned (the training data has too few such questions for the
# model to weigh them): with every named word of the question unknown to the articles and no
# answer of the asked kind, a passage this dissimilar is about something else. Checked on
# tests/resolution (no conversation changes) and tests/test_answerability.py's near misses.
UNRELATED_SIMILARITY = 0.2
# Below this, a passage means something else whatever words it shares with the question
# ("which carriers do you use?" and "use the carrier's tracking page to redirect the
# parcel"), unless it holds the very kind of answer asked for (hours, a phone number). Set
# by hand like the guard above: on tests/resolution and a development set of 58 English
# questions, every passage this dissimilar that passed the threshold was off-target.
MEANINGLESS_SIMILARITY = 0.12


@dataclass(slots=True)
class Unit:
    """A sentence, list item or table row of a passage, and its place in it: the unit an
    answer from that passage is built around."""

    passage: int  # index into the passages
    index: int  # index into that passage's units
    text: str


@dataclass(slots=True)
class Candidate:
    unit: Unit
    probability: float
    features: dict[str, float]


class Answerability:
    """The trained scorer. One per process: it keeps the unit vectors it has computed."""

    def __init__(
        self,
        encode: Callable[[list[str]], np.ndarray],
        model: Mapping[str, object] | None = None,
        *,
        cache_size: int = 20_000,
        vectors: Callable[[list[str]], Awaitable[np.ndarray]] | None = None,
    ) -> None:
        model = model if model is not None else load_model()
        self.encode = encode
        self.vectors = vectors
        self.weights = np.array([float(model["weights"][f]) for f in FEATURES])  # type: ignore[index]
        self.bias = float(model["bias"])  # type: ignore[arg-type]
        self.threshold = float(model["threshold"])  # type: ignore[arg-type]
        self.common = load_common_words()
        self._vectors: dict[str, np.ndarray] = {}
        # A passage's sentences as one matrix: the same passages come up question after
        # question, and stacking their vectors again cost more than the product with them.
        # Their rows copy vectors above, so they are held to the same number of rows.
        self._unit_matrices: dict[str, np.ndarray] = {}
        self._matrix_rows = 0
        self._questions: dict[str, np.ndarray] = {}
        self._cache_size = cache_size

    async def prepare(self, question: str, passages: Sequence[Passage]) -> None:
        """Have every vector ``rank`` will need, awaiting the batched encoder (``vectors``)
        for those not yet known, so that ``rank`` runs no model on the event loop."""
        if self.vectors is None or not passages:
            return
        asks = [
            q for q in dict.fromkeys((question, asked_part(question))) if q not in self._questions
        ]
        texts = dict.fromkeys(
            text
            for p in passages
            for text in (_passage_text(p), *(units_of(p.text) or [p.text]))
            if text not in self._vectors
        )
        wanted = asks + list(texts)
        if not wanted:
            return
        found = await self.vectors(wanted)
        for question_text, vector in zip(asks, found, strict=False):
            self._remember_question(question_text, vector)
        if len(self._vectors) + len(texts) > self._cache_size:
            self._forget()  # articles changed a lot: start over
        self._vectors.update(zip(texts, found[len(asks) :], strict=True))

    async def encode_ahead(self, passages: Sequence[Passage]) -> bool:
        """Have the vectors of ``passages`` and their units before any question needs them
        (after start-up, ``warm_up.py``), while they fill at most half the cache; False once
        they would not (the rest are encoded when a question first needs them)."""
        if self.vectors is None:
            return False
        texts = [
            text
            for text in dict.fromkeys(
                t for p in passages for t in (_passage_text(p), *(units_of(p.text) or [p.text]))
            )
            if text not in self._vectors
        ]
        if len(self._vectors) + len(texts) > self._cache_size // 2:
            return False
        if texts:
            self._vectors.update(zip(texts, await self.vectors(texts), strict=True))
        return True

    def rank(
        self,
        question: str,
        passages: Sequence[Passage],
        idf: Callable[[str], float],
        _focus: bool = True,
        _told: str | None = None,
        *,
        context: str = "",
    ) -> list[Candidate]:
        """For each passage, its best unit and the probability that the passage answers
        ``question``; best first."""
        if not passages:
            return []
        asked = asked_part(question) if _focus else question
        if asked != question:
            # "The sneakers are tight. How many days do I have to send them back?": the
            # statement's words are context, not what an answer must contain. The message is
            # answered when either it or its question is.
            whole = self.rank(question, passages, idf, _focus=False, context=context)
            part = self.rank(asked, passages, idf, _focus=False, _told=question, context=context)
            return _better(whole, part)
        split = [units_of(p.text) or [p.text] for p in passages]
        question_vector = self._question_vector(question)
        passage_sim = self._vectors_of([_passage_text(p) for p in passages]) @ question_vector
        wanted = weighted(question, idf, self.common)
        kinds = answer_types(question)
        texts = [_passage_text(p) for p in passages]
        # Coverage is compared among the passages that hold the kind of answer asked for: the
        # account page says "phone number" more often than the contact page that gives one.
        covered = np.where(
            [type_match(kinds, t) >= 0 for t in texts], coverages(wanted, texts, idf), 0.0
        )
        # The place matters for a delivery time or a price; "I'm in London, what's your
        # phone number?" is answered by a passage about New York office hours all the same.
        # ``context``: the rest of a message whose questions are ranked one by one ("Zurich
        # here: what does delivery to Switzerland cost, and how many days does it take?").
        named = places_in(f"{context} {_told or question}")
        where = named if {"duration", "amount"} & set(kinds) else frozenset()
        # "Do you ship to Canada?" asks whether, not how long: the sentence that names the
        # place in the question itself answers it.
        whether = (
            places_in(question) if not kinds and _POLAR_PLACE.search(question) else frozenset()
        )
        wants = slots.Asked.of(question, kinds, whether, named)
        # For a figure asked about a place, the place rules decide (a sentence about another
        # place holds the same words); else the question's most specific word is its topic.
        asks_figure = {"duration", "when", "amount"} & set(kinds)
        topic = topic_of(wanted, idf, self.common) if asks_figure and not named else None
        candidates = []
        other_sim, other_covered = _best_others(passage_sim), _best_others(covered)
        for i in range(len(passages)):
            unit_sim = self._units_matrix(passages[i].text, split[i]) @ question_vector
            features, best = passage_features(
                question,
                split[i],
                texts[i],
                unit_similarities=[float(v) for v in unit_sim],
                passage_similarity=float(passage_sim[i]),
                margin=float(passage_sim[i] - other_sim[i]),
                wanted=wanted,
                kinds=kinds,
                idf=idf,
                common=self.common,
                position=i,
                coverage_margin=float(covered[i] - other_covered[i]),
            )
            place = place_match(where, texts[i]) if where else 0.0
            if place > 0:
                best = _unit_about(where, split[i], unit_sim, best)
                # The slots of the question filled in one sentence: it names the place asked
                # about (or a region holding it) and gives the kind of answer asked for.
                if place_match(where, split[i][best]) > 0 and type_match(kinds, split[i][best]) > 0:
                    features["place_answer"] = 1.0
            elif whether and place_match(whether, texts[i]) > 0:
                best = _unit_about(whether, split[i], unit_sim, best)
                if place_match(whether, split[i][best]) > 0:
                    features["place_answer"] = 1.0
            listed = wants.unit_for(split[i], unit_sim, texts[i], features)
            best = best if listed is None else listed
            unit = Unit(i, best, split[i][best])
            probability = features["learned"] = self.probability(features)
            if features["place_answer"] > 0 and features["answer_type"] > 0:
                # Every slot of the question filled in one sentence (the place asked about,
                # the kind of answer asked for) answers it, however little else the question
                # and the passage share: "Wie lange braucht ein Paket nach Österreich? Ich
                # brauche die Jacke bis Freitag." and "Europa: 4-7 Werktage" scored 0.69.
                probability = max(probability, self.threshold)
            if (
                topic
                and features["answer_type"] > 0
                and features["unknown_content"] <= 0
                and topic in terms_of(split[i][best])
            ):
                # The kind of answer asked for and the very thing asked about, in one sentence:
                # "كم يوم عندي لإرجاعه؟" and "...إرجاع المنتجات ... خلال 30 يومًا", however much the
                # customer's story around the question ("اشتريت حذاء ولم يناسبني") weighs. Not
                # when the question also names what no article mentions ("gratis", "carrito"):
                # its topic may then be only half of what is asked.
                probability = max(probability, self.threshold)
            if (
                features["unknown_content"] >= 1.0
                and features["answer_type"] <= 0
                and features["passage_similarity"] < UNRELATED_SIMILARITY
            ):
                # Everything the question names ("loyalty") is in no article, and the passage
                # means something else: they share everyday words ("points", "program").
                probability = 0.0
            if (
                features["passage_similarity"] < MEANINGLESS_SIMILARITY
                and features["answer_type"] <= 0
            ):
                probability = 0.0
            if features["answer_type"] <= 0 and only_names(
                wanted, texts[i], idf, self.common, place_terms(question)
            ):
                # It shares the product's name with the question, not what is asked about it.
                probability = 0.0
            if features["answer_type"] < 0:
                # It asks for an amount, a duration, a number or hours, and the passage has
                # none: whatever it says, it does not answer this.
                probability = 0.0
            if place < 0:
                # How long or how much to Germany, and the passage gives the figure for the
                # continental US: the right kind of answer, for another place.
                probability = 0.0
            features["place"] = place
            candidates.append(Candidate(unit, probability, features))
        if any(c.features["place"] > 0 for c in candidates):
            # A passage speaks of the place asked about ("Europe: 4-7 business days"): the
            # ones that name no place give a general figure, not the one for that place.
            for candidate in candidates:
                if candidate.features["place"] <= 0:
                    candidate.probability = 0.0
        slots.fill(candidates, wants, self.threshold)
        # Among answers raised to the threshold by a filled slot, the model's own order.
        candidates.sort(key=lambda c: (-c.probability, -c.features["learned"]))
        return candidates

    def names_all(self, question: str, text: str, idf: Callable[[str], float]) -> bool:
        """Whether ``text`` mentions every thing ``question`` names (its words that are not
        everyday words of a language), as the articles spell them. A long word counts as
        mentioned in another form of it ("acceptez", "acceptons"): the index's stemmer is
        light, and forms of one verb do not change what is named."""
        present = terms_of(text)
        forms = {t[:5] for t in present if len(t) >= 6}
        for term, weight in weighted(question, idf, self.common).items():
            if term in present or term in self.common or cjk_noise(term, weight, idf):
                continue
            if len(term) >= 6 and term[:5] in forms:
                continue
            return False
        return True

    def _question_vector(self, question: str) -> np.ndarray:
        """The question's vector; a turn asks for the same one several times (each answer
        candidate, authored responses), so the last few are kept."""
        vector = self._questions.get(question)
        if vector is None:
            vector = self.encode([question])[0]
            self._remember_question(question, vector)
        return vector

    def _remember_question(self, question: str, vector: np.ndarray) -> None:
        if len(self._questions) >= 64:
            self._questions.pop(next(iter(self._questions)))
        self._questions[question] = vector

    def probability(self, features: Mapping[str, float]) -> float:
        x = np.array([features[f] for f in FEATURES])
        return float(1.0 / (1.0 + math.exp(-(x @ self.weights + self.bias))))

    def _units_matrix(self, passage: str, units: list[str]) -> np.ndarray:
        matrix = self._unit_matrices.get(passage)
        if matrix is None:
            matrix = self._vectors_of(units)
            if self._matrix_rows + len(matrix) > self._cache_size:
                self._unit_matrices.clear()
                self._matrix_rows = 0
            self._unit_matrices[passage] = matrix
            self._matrix_rows += len(matrix)
        return matrix

    def _forget(self) -> None:
        self._vectors.clear()
        self._unit_matrices.clear()
        self._matrix_rows = 0

    def _vectors_of(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            if len(self._vectors) + len(missing) > self._cache_size:
                self._forget()  # articles changed a lot: start over
            for text, vector in zip(missing, self.encode(missing), strict=True):
                self._vectors[text] = vector
        return np.array([self._vectors[t] for t in texts])  # np.stack: 4x the time for a few


def passage_features(
    question: str,
    units: Sequence[str],
    passage: str,
    *,
    unit_similarities: Sequence[float],
    passage_similarity: float,
    margin: float,
    idf: Callable[[str], float],
    common: frozenset[str] = frozenset(),
    wanted: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = None,
    position: int = 0,
    coverage_margin: float = 0.0,
) -> tuple[dict[str, float], int]:
    """The features of one passage for ``question`` and the index of its best unit (the
    one the answer is built around). The training script calls this too."""
    wanted = weighted(question, idf) if wanted is None else wanted
    kinds = answer_types(question) if kinds is None else kinds
    # Words no article contains ("hey", "Guadalajara", a typo) can be covered by no passage:
    # they weigh the most yet tell passages apart not at all, and drowned coverage. They
    # count in ``unknown_content``; coverage and the missing slot are over the known words.
    ceiling = idf("\0never-seen\0")
    known = {t: w for t, w in wanted.items() if w < ceiling}
    covered = [coverage(known, u) for u in units]
    typed = [type_match(kinds, u) for u in units]
    fit = [s + c + 0.5 * t for s, c, t in zip(unit_similarities, covered, typed, strict=True)]
    best = max(range(len(units)), key=lambda k: (fit[k], -k))  # earlier units win ties
    features = {
        "passage_similarity": passage_similarity,
        "best_unit_similarity": max(unit_similarities),
        "passage_coverage": coverage(known, passage),
        "best_unit_coverage": max(covered),
        "missing_slot": missing(known, passage, idf, common),
        "unknown_content": unknown(wanted, idf, common, place_terms(question)),
        "answer_type": max(typed),
        "margin": margin,
        # Where retrieval (keywords and embeddings together) put the passage, and how far
        # its coverage of the question leads the other passages': the right passage is
        # usually retrieved (93% of the demo questions), ranking it first is the hard part.
        "retrieval_rank": 1.0 / (1 + position),
        "coverage_margin": coverage_margin,
        # Set by ``Answerability.rank``: one sentence names the place asked about and gives
        # the kind of answer asked for ("Europe and the UK: 4-7 business days" for Germany).
        "place_answer": 0.0,
    }
    return features, best


def _best_others(values: np.ndarray, default: float = 0.0) -> list[float]:
    """For each position, the highest of ``values`` but its own (``default`` when there is
    no other)."""
    if len(values) < 2:
        return [default] * len(values)
    first, second = np.argsort(values)[-1:-3:-1]
    top, runner_up = float(values[first]), float(values[second])
    return [runner_up if i == first else top for i in range(len(values))]


def _better(whole: list[Candidate], part: list[Candidate]) -> list[Candidate]:
    """Per passage, the candidate with the higher probability of the two rankings."""
    best: dict[int, Candidate] = {}
    for candidate in [*whole, *part]:
        kept = best.get(candidate.unit.passage)
        if kept is None or candidate.probability > kept.probability:
            best[candidate.unit.passage] = candidate
    return sorted(best.values(), key=lambda c: -c.probability)


def load_model(path: Path = MODEL_FILE) -> dict[str, object]:
    model: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return model


def _passage_text(passage: Passage) -> str:
    return " ".join(x for x in (passage.title, passage.section or "", passage.text) if x)


# Delivering somewhere, as a question asks whether it is done: "do you ship to", "livrez-vous
# en", "liefert ihr nach", "enviam para", "寄到", "日本に発送", "تشحنون إلى".
_POLAR_PLACE = re.compile(
    r"\b(?:ship\w*|deliver\w*|send\w*|env[ií]a[ns]?|env[ií]os?|mandan|livr\w*|exp[eé]di\w*|"
    r"liefer\w*|versend\w*|schick\w*|sped\w*|consegn\w*|envia\w*|entreg\w*)\b"
    r"|寄|发货|送货|配送|送到|発送|届け|شحن|تشحن|توصيل|ترسلون",
    re.IGNORECASE,
)


def _unit_about(
    where: frozenset[str], units: Sequence[str], similarities: np.ndarray, best: int
) -> int:
    """The unit that names the place asked about ("Europe and UK: 4-7 business days"), the
    most similar one when several do; ``best`` when none does."""
    naming = [j for j, unit in enumerate(units) if place_match(where, unit) > 0]
    return max(naming, key=lambda j: float(similarities[j])) if naming else best
