"""Questions whose answer is a list or a table's row: which ways to pay the shop takes, which
countries it delivers to, a size in another sizing system. The sentence holding the list (or
the row) answers such a question whatever else it shares with it, including when the
customer's own way or country is not on the list (they learn it is not).

    ways to pay       "Geht bei euch auch PayPal?", "可以用支付宝吗？", "Can I pay in
                      instalments?": the sentence listing the ways taken (or, when none does,
                      naming the one asked about; or saying whether there are instalments)
    destinations      "Do you ship to Brazil?" when no article names Brazil: the sentence
                      naming three or more countries; a passage naming only other places
                      ("Alaska and Hawaii by standard shipping") is not an answer
    size conversion   "I wear a UK 8, what is it in EU?" (two sizing systems named and a
                      number): the size table's row with a cell holding that number

    carriers          "Which shipping companies do you use?": the sentence naming two or more
    customs duties    the sentence for the place asked about, or about "other countries"

``Answerability.rank`` reads the question once (``Asked.of``), builds each passage's answer
around the unit ``Asked.unit_for`` picks, then lets ``fill`` raise the filled slots to the
threshold and drop the passages they outrank.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from smartsupport.knowledge.answer_types import lists_payment
from smartsupport.knowledge.places import place_match, places_in, speaks_of_elsewhere
from smartsupport.knowledge.units import units_of

DESTINATIONS = 3  # places one sentence names to be a list of where the shop delivers


class Scored(Protocol):
    probability: float
    features: dict[str, float]


@dataclass(frozen=True, slots=True)
class Asked:
    """The list or row a question asks for, read once per question (``of``); then, per
    passage, ``unit_for`` finds the unit holding it and ``fill`` ranks the candidates."""

    question: str
    payment: bool = False  # a way to pay, or instalments
    carriers: bool = False  # who delivers
    sizes: frozenset[str] = frozenset()  # the numbers of a size to convert
    whether: frozenset[str] = frozenset()  # the places "do you ship to ...?" names
    customs: frozenset[str] = frozenset()  # the places a customs question is asked for

    @classmethod
    def of(
        cls,
        question: str,
        kinds: Sequence[str],
        whether: frozenset[str] = frozenset(),
        places: frozenset[str] = frozenset(),
    ) -> Asked:
        """``whether``: the places of a yes-or-no delivery question; ``places``: every place
        the question is asked about (its message's too)."""
        plain = not kinds
        return cls(
            question,
            payment="payment" in kinds,
            carriers=plain and bool(_ASKS_CARRIER.search(question)),
            sizes=_numbers(question) if plain and _converts(question) else frozenset(),
            whether=whether,
            customs=places if _CUSTOMS.search(question) else frozenset(),
        )

    def unit_for(
        self,
        units: Sequence[str],
        similarities: np.ndarray,
        passage: str,
        features: dict[str, float],
    ) -> int | None:
        """The unit of a passage holding what is asked, the most similar when several do
        (None when there is none); records ``customs``, ``destinations``, ``elsewhere``,
        ``table_row``, ``carriers`` and ``pays`` in ``features`` for ``fill``."""
        found: list[int] = []
        features["customs"] = 0.0
        if self.customs:
            about = [j for j, u in enumerate(units) if _CUSTOMS.search(u)]
            naming = [j for j in about if place_match(self.customs, units[j]) > 0]
            # "For other countries, import duties ... are paid by the recipient": for a place
            # the passage names nowhere else.
            other = [j for j in about if speaks_of_elsewhere(units[j]) and j not in naming]
            found = naming or other
            features["customs"] = 2.0 if naming else 1.0 if other else 0.0
        listing = []
        if self.whether and features["place_answer"] <= 0:
            listing = [j for j, u in enumerate(units) if len(places_in(u)) >= DESTINATIONS]
            found = listing or found
        features["destinations"] = 1.0 if listing else 0.0
        features["elsewhere"] = (
            1.0 if self.whether and place_match(self.whether, passage) < 0 else 0.0
        )
        rows = _rows_holding(self.sizes, units) if self.sizes else []
        features["table_row"] = 1.0 if rows else 0.0
        carrying = [j for j, u in enumerate(units) if _carriers(u)] if self.carriers else []
        features["carriers"] = 1.0 if carrying else 0.0
        pays = [lists_payment(self.question, u) for u in units] if self.payment else [0]
        paying = [j for j, fill in enumerate(pays) if fill == max(pays) > 0]
        features["pays"] = float(max(pays))
        found = paying or carrying or rows or found
        return max(found, key=lambda j: float(similarities[j])) if found else None

    def holds_list(self, text: str) -> bool:
        """Whether a sentence of ``text`` holds the list of ways to pay or of carriers asked
        for (retrieval judges such a passage even when it ranks low)."""
        if self.payment:
            return any(lists_payment(self.question, u) == 2 for u in units_of(text))
        return self.carriers and any(_carriers(u) for u in units_of(text))


# Customs duties and import taxes, by name in the nine languages (not VAT alone: "a VAT
# invoice", "增值税专用发票", asks for a document, not what is paid at the border).
_CUSTOMS = re.compile(
    r"\b(?:customs|dut(?:y|ies)|import tax\w*|aduanas?|aranceles?|douanes?|z[oö]ll\w*|"
    r"einfuhr\w*|dogana|dazi|alf[aâ]ndega|impostos? de importa[cç][aã]o)\b"
    r"|关税|进口税|関税|輸入税|جمارك|جمركية|رسوم الاستيراد",
    re.IGNORECASE,
)


# Asking who delivers ("which carriers", "shipping company", "transportista", "快递公司"), and
# the carriers a sentence names.
_ASKS_CARRIER = re.compile(
    r"\b(?:carriers?|couriers?|shipping compan(?:y|ies)|delivery compan(?:y|ies)|who delivers|"
    r"transportistas?|paqueter[ií]as?|transporteurs?|soci[eé]t[eé]s? de livraison|"
    r"versanddienstleister\w*|paketdienste?|zusteller|corrier[ei]|transportadoras?)\b"
    r"|快递公司|物流公司|哪家快递|承运|配送業者|運送会社|宅配業者|どこの配送|"
    r"شركة الشحن|شركات الشحن",
    re.IGNORECASE,
)
_CARRIER = re.compile(
    r"\b(?:ups|fedex|dhl|usps|royal mail|dpd|gls|hermes|evri|correos|la poste|colissimo|"
    r"chronopost|poste italiane|ctt|postnl|canada post|purolator|australia post|aramex|tnt|"
    r"sf express|yodel|ontrac)\b|顺丰|中通|圆通|ヤマト|佐川|日本郵便"
)

# Sizing systems, by name or abbreviation ("US", "européen", "欧码", "UKサイズ"): a question
# naming two asks to convert a size from one into the other.
_SYSTEMS = {
    "EU": re.compile(r"(?<![A-Za-z])EU(?![A-Za-z])|europ|欧码|欧洲|ヨーロッパ|أوروب", re.I),
    "US": re.compile(r"(?<![A-Za-z])USA?(?![A-Za-z])|americ|améric|美码|美国|アメリカ|أمريك"),
    "UK": re.compile(r"(?<![A-Za-z])UK(?![A-Za-z])|brit|英码|英国|イギリス|بريطان", re.I),
}


def _converts(question: str) -> bool:
    return sum(1 for system in _SYSTEMS.values() if system.search(question)) >= 2


_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:[.,]\d)?(?![\d])")


def _numbers(question: str) -> frozenset[str]:
    return frozenset(n.replace(",", ".") for n in _NUMBER.findall(question))


def _rows_holding(numbers: frozenset[str], units: Sequence[str]) -> list[int]:
    """The table rows with a cell that is one of ``numbers`` ("I wear a US 10": "44 | 10 |
    11.5 | 9.5 | 27.5 cm")."""
    return [
        j
        for j, unit in enumerate(units)
        if unit.count("|") >= 2
        and numbers & {cell.strip().replace(",", ".") for cell in unit.strip("| ").split("|")}
    ]


def _carriers(unit: str) -> bool:
    return len(set(_CARRIER.findall(unit.lower()))) >= 2


def fill(candidates: Sequence[Scored], asked: Asked, threshold: float) -> None:
    """Raise the passages that fill a slot to ``threshold``; drop those they outrank."""
    if asked.whether and not any(c.features["place_answer"] > 0 for c in candidates):
        # "Do you ship to Brazil?", and no article names Brazil: the sentence listing where
        # the shop delivers answers it (the customer's country is not among them).
        listed = any(c.features["destinations"] > 0 for c in candidates)
        for candidate in candidates:
            if candidate.features["destinations"] > 0:
                candidate.probability = max(candidate.probability, threshold)
            elif listed and candidate.features["elsewhere"] > 0:
                # Alaska and Hawaii by standard shipping only: other places, not an answer.
                candidate.probability = 0.0
    # "I wear a UK 8, what is that in EU?": the row of the size table holding the 8 answers it;
    # a sentence about sizes that holds no figure of the table does not.
    _only(candidates, "table_row", threshold)
    named_duties = max((c.features["customs"] for c in candidates), default=0.0)
    for candidate in candidates if named_duties > 0 else []:
        if candidate.features["customs"] == named_duties:
            # Customs for Germany: the sentence about EU orders; for Japan, the one about
            # "other countries" (the passage names Japan nowhere).
            candidate.probability = max(candidate.probability, threshold)
    # "Which shipping companies do you use?": the sentence naming the carriers answers it, not
    # "Delivered: the carrier marked the parcel as delivered".
    _only(candidates, "carriers", threshold)
    fullest = max((c.features["pays"] for c in candidates), default=0.0)
    for candidate in candidates if fullest > 0 else []:
        if candidate.features["pays"] == fullest:
            # The ways taken listed, however few other words the sentence shares with the
            # question ("Geht bei euch auch PayPal? Hab keine Kreditkarte." and "Wir
            # akzeptieren Visa, ..., PayPal").
            candidate.probability = max(candidate.probability, threshold)
        elif candidate.features["pays"] == 0:
            # One about paying later shares the question's words, not its answer.
            candidate.probability = 0.0
        # One naming PayPal for the rest of a gift card's order keeps what it scored: it
        # answers "can I use two gift cards?" better than the list does.


def _only(candidates: Sequence[Scored], slot: str, threshold: float) -> None:
    """When a passage fills ``slot``, it answers and the others do not."""
    if any(c.features[slot] > 0 for c in candidates):
        for candidate in candidates:
            filled = candidate.features[slot] > 0
            candidate.probability = max(candidate.probability, threshold) if filled else 0.0
