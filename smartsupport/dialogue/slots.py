"""Slot filling: what a customer's message says about the values a flow needs.

Several slots can be filled from one message ("return ORD-10234, size 42 doesn't fit"), any
slot already filled can be corrected by naming a new value ("no, the order is ORD-10235"),
and free-text slots (an address) take the whole answer only when they were just asked.
Values come from the NLU entities first, then from the slot's own ``extract`` expression, so
a flow works with the simple keyword policy too. Also here: the small vocabularies of a
dialogue (yes, no, never mind).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from smartsupport.dialogue.schema import FlowSpec, SlotSpec
from smartsupport.domain import Understanding

YES = {
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "correct",
    "confirm",
    "confirmed",
    "right",
    "that's right",
    "yes please",
    "please do",
    "do it",
    "go ahead",
    "absolutely",
    "of course",
    "si",
    "sí",
    "oui",
    "ja",
    "sim",
    "yes do it",
    "yes cancel it",
    "👍",
}
NO = {
    "no",
    "n",
    "nope",
    "nah",
    "no thanks",
    "no thank you",
    "don't",
    "do not",
    "not now",
    "keep it",
    "no don't",
    "wait no",
    "non",
    "nein",
    "não",
    "nao",
    "👎",
}
AFFIRM_INTENTS = {"affirm", "yes", "confirm"}
DENY_INTENTS = {"deny", "no"}


def plain(text: str) -> str:
    """Case-folded, accents kept, punctuation at the ends and repeated spaces removed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" .!?,;:")


def yes_or_no(text: str, understanding: Understanding) -> str | None:
    """'yes', 'no' or None for an answer to a confirmation question."""
    norm = plain(text)
    first = re.split(r"[ ,.!]", norm, maxsplit=1)[0] if norm else ""
    if norm in YES or (first in {"yes", "yeah", "yep", "sure", "ok", "okay"} and "not" not in norm):
        return "yes"
    if norm in NO or first in {"no", "nope", "nah"}:
        return "no"
    if understanding.intent in AFFIRM_INTENTS:
        return "yes"
    if understanding.intent in DENY_INTENTS:
        return "no"
    return None


def is_cancel(text: str, phrases: list[str]) -> bool:
    """'never mind', 'cancel', 'stop' ... said on their own (or leading the message, as in
    'never mind, thanks'); 'cancel my order' is a request, not a cancellation."""
    norm = plain(text)
    for phrase in phrases:
        phrase = plain(phrase)
        if norm == phrase:
            return True
        polite = r"\b[ ,.!]*(thanks?|thank you|please|then)?$"
        if len(phrase.split()) > 1 and re.match(re.escape(phrase) + polite, norm):
            return True
    return False


@dataclass
class Candidate:
    slot: str
    value: str
    valid: bool
    free_text: bool = False  # the whole answer, not a recognised value


def normalize(slot: SlotSpec, raw: Any) -> str:
    value = str(raw)
    for step in slot.normalize:
        if step == "strip":
            value = value.strip().strip(".,;!?").strip()
        elif step == "upper":
            value = value.upper()
        elif step == "lower":
            value = value.lower()
        elif step == "title":
            value = value.title()
        elif step == "collapse_spaces":
            value = re.sub(r"\s+", " ", value).strip()
        elif step == "no_spaces":
            value = re.sub(r"\s+", "", value)
    if slot.rewrite is not None:
        value = re.sub(slot.rewrite[0], slot.rewrite[1], value)
    if slot.choices:
        for choice in slot.choices:
            if value.casefold() == choice.casefold():
                return choice
    return value


def valid(slot: SlotSpec, value: str) -> bool:
    if not slot.min_length <= len(value) <= slot.max_length:
        return False
    if slot.pattern is not None and not re.fullmatch(slot.pattern, value):
        return False
    if slot.choices and value not in slot.choices:
        return False
    return True


def _raw_values(
    slot: SlotSpec, text: str, understanding: Understanding, asked: bool
) -> tuple[list[str], bool]:
    found: list[str] = []
    if slot.entity:
        for entity in understanding.entities:
            if entity.type == slot.entity:
                found.append(
                    str(
                        entity.value if isinstance(entity.value, str | int | float) else entity.text
                    )
                )
    if slot.extract and not found:
        for match in re.finditer(slot.extract, text):
            groups = [g for g in match.groups() if g]
            found.append(groups[0] if groups else match.group(0))
    if slot.choices and not found:
        norm = plain(text)
        for choice in slot.choices:
            if re.search(r"(?<!\w)" + re.escape(choice.casefold()) + r"(?!\w)", norm):
                found.append(choice)
    if slot.from_text and asked and not found:
        return [text], True
    return found, False


def candidates(
    flow: FlowSpec, text: str, understanding: Understanding, asking: str | None
) -> list[Candidate]:
    """Every slot value the message offers, in the flow's slot order, validated.

    A value offered for two slots of the same kind goes to the one being asked, else to
    the first; a slot gets the first valid value the message offers for it."""
    taken: set[str] = set()
    result: list[Candidate] = []
    order = sorted(flow.slots, key=lambda name: name != asking)  # the asked slot first
    for name in order:
        slot = flow.slots[name]
        raw_values, free_text = _raw_values(slot, text, understanding, asked=name == asking)
        values = [v for v in (normalize(slot, raw) for raw in raw_values) if v not in taken]
        if not values:
            continue
        good = [v for v in values if valid(slot, v)]
        chosen = good[0] if good else values[0]
        taken.add(chosen)
        result.append(Candidate(name, chosen, bool(good), free_text))
    return result
