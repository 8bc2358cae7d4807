"""Slot filling: what a customer's message says about the values a flow needs.

Several slots can be filled from one message ("return ORD-10234, size 42 doesn't fit"), any
slot already filled can be corrected by naming a new value ("no, the order is ORD-10235"),
and free-text slots (an address) take the whole answer only when they were just asked.
Values come from the NLU entities first, then from the slot's own ``extract`` expression, so
a flow works with the keyword bot too. A value can also be pointed at among the options the
customer was shown ("the second one", "no, the other one": ``Offers``).

Also here: what the small words of a dialogue (``small_words``: yes, no, never mind, in nine
languages) mean to a flow.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from smartsupport.dialogue import small_words, templates
from smartsupport.dialogue.schema import FlowSpec, SlotSpec
from smartsupport.domain import Understanding

AFFIRM_INTENTS = {"affirm", "yes", "confirm"}
DENY_INTENTS = {"deny", "no"}


def plain(text: str) -> str:
    """Case-folded, accents kept, punctuation at the ends and repeated spaces removed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" .!?,;:")


def yes_or_no(text: str, understanding: Understanding) -> str | None:
    """'yes', 'no' or None for an answer to a confirmation question, in any of the nine
    languages (``small_words``); the NLU's affirm/deny intents when the words say nothing."""
    reading = small_words.read(text)
    if reading in (small_words.YES, small_words.NO):
        return reading
    if reading is None:  # no answer words: what did the NLU make of it?
        if understanding.intent in AFFIRM_INTENTS:
            return "yes"
        if understanding.intent in DENY_INTENTS:
            return "no"
    return None


def is_cancel(text: str, phrases: list[str]) -> bool:
    """'never mind', 'cancel', 'stop' ... said on their own (or leading the message, as in
    'never mind, thanks'); 'cancel my order' is a request, not a cancellation. ``phrases``
    are the workspace's; the built-in ones of every language count too ('olvídalo', '算了',
    'neither', 'non merci')."""
    if small_words.never_mind(text):
        return True
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


@dataclass
class Offers:
    """What the customer could pick from when they answered, so "the second one" and "the
    other one" can be read: per slot, the options shown (the quick replies of the question
    just asked; for a filled slot, its suggestions), the values so far and which of them the
    flow guessed from the profile (``prefilled``)."""

    shown: dict[str, list[str]] = field(default_factory=dict)
    current: dict[str, Any] = field(default_factory=dict)
    prefilled: list[str] = field(default_factory=list)


def options(slot: SlotSpec, scope: dict[str, Any]) -> list[str]:
    """The quick replies a question for ``slot`` shows: its own, then its suggestions."""
    quick = list(slot.quick_replies)
    if slot.suggest:
        try:
            suggested = templates.evaluate(slot.suggest, scope)
        except templates.TemplateError:
            suggested = None
        if isinstance(suggested, list):
            quick += [str(s) for s in suggested if s and len(str(s)) <= 80]
    return quick[:6]


def offers_for(flow: FlowSpec, frame: dict[str, Any], scope: dict[str, Any]) -> Offers:
    """The ``Offers`` of a running flow's frame (``engine.new_frame``) in ``scope``."""
    shown = {}
    for name in frame["slots"]:
        if name in flow.slots:
            found = options(flow.slots[name], scope)
            if found:
                shown[name] = found
    asking, question = frame.get("asking"), frame.get("question") or {}
    if asking and question.get("quick_replies"):
        shown[asking] = list(question["quick_replies"])
    return Offers(shown, dict(frame["slots"]), list(frame.get("prefilled") or []))


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
    if slot.from_text and asked and not found and small_words.reference(text) is None:
        return [text], True  # "the second one" / "neither" is not an address or a reason
    return found, False


def _pointed(flow: FlowSpec, text: str, asking: str | None, offers: Offers) -> tuple[str, str]:
    """(slot, value) when the message points at an offered option: "the second one" at a
    question with buttons; "no, the other one" at a confirmation, about the one filled slot
    whose value was one of its options (a guess from the profile first)."""
    if small_words.reference(text) is None:
        return "", ""
    if asking is not None:
        slot = flow.slots[asking]
        static = slot.choices or ([] if slot.suggest else slot.quick_replies)
        shown = offers.shown.get(asking) or list(static)
        value = small_words.pick(text, shown, offers.current.get(asking))
        return (asking, value) if value else ("", "")
    chosen = [n for n, shown in offers.shown.items() if offers.current.get(n) in shown]
    guessed = [n for n in chosen if n in offers.prefilled]
    targets = guessed or chosen
    if len(targets) != 1:
        return "", ""
    name = targets[0]
    value = small_words.pick(text, offers.shown[name], offers.current.get(name))
    return (name, value) if value else ("", "")


def candidates(
    flow: FlowSpec,
    text: str,
    understanding: Understanding,
    asking: str | None,
    offers: Offers | None = None,
) -> list[Candidate]:
    """Every slot value the message offers, in the flow's slot order, validated.

    A value offered for two slots of the same kind goes to the one being asked, else to
    the first; a slot gets the first valid value the message offers for it. A value named
    wins over one pointed at ("the second one": ``offers``)."""
    taken: set[str] = set()
    result: list[Candidate] = []
    pointed_slot, pointed_value = _pointed(flow, text, asking, offers or Offers())
    order = sorted(flow.slots, key=lambda name: name != asking)  # the asked slot first
    for name in order:
        slot = flow.slots[name]
        raw_values, free_text = _raw_values(slot, text, understanding, asked=name == asking)
        if name == pointed_slot and (free_text or not raw_values):
            raw_values, free_text = [pointed_value], False
        values = [v for v in (normalize(slot, raw) for raw in raw_values) if v not in taken]
        if not values:
            continue
        good = [v for v in values if valid(slot, v)]
        chosen = good[0] if good else values[0]
        taken.add(chosen)
        result.append(Candidate(name, chosen, bool(good), free_text))
    return result


def fill_at_start(
    flow: FlowSpec,
    frame: dict[str, Any],
    scope: dict[str, Any] | None,
    carried: dict[str, Any],
    text: str,
    understanding: Understanding,
) -> list[Candidate]:
    """Fill a new flow's slots, weakest evidence first: the identified customer's profile
    (``prefill``, when ``scope`` has one), the same-named slots the previous flow ended with
    ("where is ORD-10235?" then "cancel this order"), then the message itself. Returns the
    message's invalid values (the flow says why each is refused)."""
    slots, prefilled = frame["slots"], frame["prefilled"]
    for name, slot in flow.slots.items():
        if slot.prefill and scope is not None:
            value = templates.evaluate(slot.prefill, scope)
            if value not in (None, ""):
                value = normalize(slot, value)
                if valid(slot, value):
                    slots[name] = value
                    prefilled.append(name)

    def told(name: str, value: Any) -> None:
        slots[name] = value
        if name in prefilled:
            prefilled.remove(name)

    for name, value in carried.items():
        if name in flow.slots and valid(flow.slots[name], str(value)):
            told(name, value)
    invalid = []
    for cand in candidates(flow, text, understanding, None):
        if cand.valid:
            told(cand.slot, cand.value)
        else:
            invalid.append(cand)
    return invalid
