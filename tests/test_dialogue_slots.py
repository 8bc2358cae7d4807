"""Slot filling: entities and the flow's own patterns fill several slots at once, free text
fills only the slot just asked, values are normalised and validated, and the small
vocabularies of a dialogue (yes, no, never mind) are recognised."""

from __future__ import annotations

import pytest

from smartsupport.dialogue.loading import load_flows
from smartsupport.dialogue.slots import candidates, is_cancel, yes_or_no
from smartsupport.domain import Entity, Understanding
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

FLOWS = load_flows(load_workspace_dir(DEMO_DIR).section("flows")).flows
PHRASES = ["never mind", "forget it", "cancel", "stop", "no thanks"]


def found(flow, text, asking=None, entities=()):
    understanding = Understanding(entities=list(entities))
    return {
        c.slot: (c.value, c.valid) for c in candidates(FLOWS[flow], text, understanding, asking)
    }


def test_one_message_fills_several_slots():
    assert found("return_item", "return ORD-10238, it doesn't fit") == {
        "order_id": ("ORD-10238", True),
        "reason": ("doesn't fit", True),
    }


def test_entities_come_first_and_are_normalised():
    entity = Entity("order_id", "ord10235", 10, 18, "ord10235")
    assert found("track_order", "the one: ord10235", entities=[entity]) == {
        "order_id": ("ORD-10235", True)
    }


def test_invalid_values_are_reported_as_invalid():
    assert found("track_order", "ORD-12") == {"order_id": ("ORD-12", False)}
    assert found("stock_check", "trail runner size 99.5")["size"] == ("99.5", True)


def test_free_text_only_fills_the_slot_being_asked():
    address = "77 Beacon Street, Boston"
    assert "address" not in found("change_address", address)
    assert found("change_address", address, asking="address")["address"] == (address, True)
    assert found("change_address", "next door", asking="address")["address"] == ("next door", False)


def test_sizes_need_upper_case_letters_or_the_word_size():
    assert "size" not in found("stock_check", "I'm looking for socks")
    assert found("stock_check", "socks in size m")["size"] == ("M", True)
    assert found("stock_check", "socks in M")["size"] == ("M", True)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes", "yes"),
        ("Yes, cancel it", "yes"),
        ("yep!", "yes"),
        ("ok", "yes"),
        ("No, keep it", "no"),
        ("nope", "no"),
        ("no thanks", "no"),
        ("hmm what?", None),
        ("yes but not now", None),
    ],
)
def test_yes_or_no(text, answer):
    assert yes_or_no(text, Understanding()) == answer


def test_yes_or_no_from_intents():
    assert yes_or_no("absolutely right", Understanding(intent="affirm")) == "yes"
    assert yes_or_no("don't", Understanding(intent="deny")) == "no"


@pytest.mark.parametrize(
    ("text", "cancel"),
    [
        ("never mind", True),
        ("Never mind, thanks!", True),
        ("forget it", True),
        ("cancel", True),
        ("stop.", True),
        ("cancel my order", False),
        ("stop sending emails", False),
        ("I never mind waiting", False),
    ],
)
def test_cancellation_phrases(text, cancel):
    assert is_cancel(text, PHRASES) is cancel
