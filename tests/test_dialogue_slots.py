"""Slot filling: entities and the flow's own patterns fill several slots at once, free text
fills only the slot just asked, values are normalised and validated, and the small words of
a dialogue (yes, no, never mind, "the second one", "the other one", "neither") are understood
in the nine languages, negation included, also through the real flow engine."""

from __future__ import annotations

import pytest

from smartsupport.context import ConversationContext
from smartsupport.dialogue import small_words
from smartsupport.dialogue.loading import load_flows
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.dialogue.slots import Offers, candidates, is_cancel, offers_for, yes_or_no
from smartsupport.domain import Author, Conversation, Entity, Message, Understanding
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

DEMO = load_workspace_dir(DEMO_DIR)
FLOWS = load_flows(DEMO.section("flows")).flows
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


# -- the small words in the nine languages ------------------------------------------------

# (language, yes, no, unclear): what customers answer to "Cancel order ORD-10235?".
ANSWERS = [
    ("en", ["yes", "yes please", "sure, go ahead", "of course", "yep 👍"],
     ["no, I'll keep it", "nah leave it", "of course not", "not yes", "I don't think so"],
     ["not sure", "yes but not now", "is that right?", "hmm what do you mean"]),
    ("es", ["sí", "claro que sí", "sí, por favor", "vale"],
     ["no, gracias", "claro que no", "mejor no", "no, me lo quedo"],
     ["no sé", "sí, pero no ahora"]),
    ("fr", ["oui", "bien sûr", "d'accord", "oui, merci"],
     ["non merci", "non, je le garde", "bien sûr que non", "pas du tout"],
     ["je ne sais pas", "peut-être"]),
    ("de", ["ja", "ja, bitte", "na klar", "genau"],
     ["nein danke, behalten", "natürlich nicht", "lieber nicht", "nein"],
     ["weiß nicht", "keine Ahnung"]),
    ("it", ["sì", "certo", "va bene", "sì, grazie"],
     ["no grazie", "meglio di no", "certo che no", "no, lo tengo"],
     ["non lo so", "forse"]),
    ("pt", ["sim", "claro", "pode ser", "sim, pode cancelar"],
     ["não, obrigado", "de jeito nenhum", "claro que não", "não"],
     ["não sei", "talvez"]),
    ("zh", ["好的", "是的", "可以", "嗯"],
     ["不用了", "不要", "不好", "不用了，谢谢"],
     ["不知道", "是不是", "是我的订单吗"]),
    ("ja", ["はい", "はい、お願いします", "ええ", "もちろん"],
     ["いいえ、結構です", "いいえ", "そのままで", "キャンセルしないで"],
     ["わかりません", "たぶん"]),
    ("ar", ["نعم", "أجل من فضلك", "طبعا", "تمام"],
     ["لا شكرا", "لا", "طبعا لا", "كلا"],
     ["لا أعرف", "ربما"]),
]  # fmt: skip


def _table(column: int) -> list[tuple[str, str]]:
    return [(row[0], text) for row in ANSWERS for text in row[column]]


@pytest.mark.parametrize(("language", "text"), _table(1))
def test_yes_in_every_language(language, text):
    # The NLU often reads a bare answer as small talk ("好的" as a greeting, "oui, merci"
    # as thanks): the words decide, not the intent.
    assert yes_or_no(text, Understanding(intent="thanks", confidence=0.97)) == "yes"


@pytest.mark.parametrize(("language", "text"), _table(2))
def test_no_in_every_language_with_negation_understood(language, text):
    assert yes_or_no(text, Understanding(intent="thanks", confidence=0.97)) == "no"


@pytest.mark.parametrize(("language", "text"), _table(3))
def test_unsure_or_mixed_answers_are_neither_yes_nor_no(language, text):
    # Not even an "affirm" intent turns them into a yes: the words said "unsure".
    understanding = Understanding(intent="affirm", confidence=0.9)
    if small_words.read(text) is None:
        understanding = Understanding()  # no answer words at all: nothing to go by
    assert yes_or_no(text, understanding) is None


def test_a_yes_inside_a_sentence_is_not_an_answer():
    for text in (
        "can you tell me if it's ok?",
        "是我的订单",
        "I want the right size",
        "ok what now",
    ):
        assert yes_or_no(text, Understanding()) is None, text
    # A later clause is the customer's own business; the answer leads.
    assert yes_or_no("yes, I don't need a receipt", Understanding()) == "yes"
    assert yes_or_no("no, but thanks for asking", Understanding()) == "no"


@pytest.mark.parametrize(
    "text",
    ["olvídalo", "laisse tomber", "vergiss es", "lascia perdere", "esquece", "算了", "もういいです",
     "انسى الموضوع", "neither", "ninguno", "aucun des deux", "keiner davon", "nessuno dei due",
     "nenhum dos dois", "都不是", "どちらでもない", "ولا واحد", "non merci", "لا شكرا",
     "nein danke", "不用了，谢谢"],
)  # fmt: skip
def test_never_mind_and_polite_refusals_in_every_language(text):
    assert is_cancel(text, PHRASES)


@pytest.mark.parametrize("text", ["no", "nein", "いいえ", "olvídalo mi pedido no", "算了解"])
def test_a_plain_no_is_an_answer_not_a_cancellation(text):
    assert not is_cancel(text, PHRASES)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("the second one", "second"), ("la segunda", "second"), ("la deuxième", "second"),
     ("die zweite", "second"), ("la seconda", "second"), ("a segunda", "second"),
     ("第二个", "second"), ("二つ目", "second"), ("الثاني", "second"),
     ("the first one please", "first"), ("the last one", "last"), ("el último", "last"),
     ("no, the other one", "other_one"), ("no, la otra", "other_one"),
     ("non, l'autre", "other_one"), ("nein, die andere", "other_one"),
     ("no, l'altro", "other_one"), ("não, o outro", "other_one"), ("不，另一个", "other_one"),
     ("いいえ、もう一つの方", "other_one"), ("لا، الآخر", "other_one"),
     ("neither", "neither"), ("どちらでもない", "neither"),
     ("wait a second", None), ("sí, pero primero dime el precio", None),
     ("which one is the first?", None)],
)  # fmt: skip
def test_pointing_at_an_option_in_every_language(text, kind):
    assert small_words.reference(text) == kind


def test_a_pointed_option_fills_the_slot_being_asked():
    orders = ["ORD-10235", "ORD-10244", "ORD-10234"]
    offers = Offers(shown={"order_id": orders})
    picked = candidates(
        FLOWS["cancel_order"], "the second one", Understanding(), "order_id", offers
    )
    assert [(c.slot, c.value, c.valid) for c in picked] == [("order_id", "ORD-10244", True)]
    # A named value wins over a pointed one; "neither" is no value (and no free text).
    named = candidates(
        FLOWS["cancel_order"], "the second, ORD-10234", Understanding(), "order_id", offers
    )
    assert [c.value for c in named] == ["ORD-10234"]
    assert found("return_item", "none of these", asking="reason") == {}
    # Static quick replies need no offers: the reason's buttons.
    assert found("return_item", "la segunda", asking="reason") == {"reason": ("Damaged", True)}


def test_the_other_one_at_a_confirmation_corrects_the_guessed_slot():
    offers = Offers(
        shown={"order_id": ["ORD-10238", "ORD-10243"], "reason": ["Doesn't fit", "Damaged"]},
        current={"order_id": "ORD-10238", "reason": "Damaged"},
        prefilled=["order_id"],
    )
    flow = FLOWS["return_item"]
    for text in ("no, the other one", "non, l'autre", "不，另一个", "لا، الآخر"):
        picked = candidates(flow, text, Understanding(), None, offers)
        assert [(c.slot, c.value) for c in picked] == [("order_id", "ORD-10243")], text
    # Three options: "the other one" points at nothing.
    offers.shown["order_id"].append("ORD-10240")
    assert candidates(flow, "the other one", Understanding(), None, offers) == []


# -- through the real flow engine ---------------------------------------------------------


class Flow:
    """One conversation through the dialogue manager and the bundled demo shop, with the
    understanding given per turn (as the NLU would give it)."""

    def __init__(self, identity: str = "cust-maria") -> None:
        self.workspace = DEMO
        self.manager = DialogueManager({"demo": DEMO}, None, None)  # a fresh shop each
        self.conversation = Conversation(
            "conv-1", "demo", "cust-1", metadata={"identity": {"user_id": identity}}
        )
        self.context = ConversationContext("conv-1")
        self.seq = 0

    async def say(self, text: str, understanding: Understanding | None = None) -> Decision:
        self.seq += 1
        message = Message(f"m{self.seq}", "conv-1", self.seq, Author.CUSTOMER, text)

        async def stream(_: str) -> None:
            return None

        turn = Turn(
            self.workspace,
            self.conversation,
            message,
            self.context,
            understanding or Understanding(intent="thanks", confidence=0.97),
            stream,
        )
        decision = await self.manager.handle(turn) or Decision()
        self.context = ConversationContext.from_json(self.context.to_json())
        return decision

    async def cancel(self, order: str = "ORD-10235") -> Decision:
        entity = Entity("order_id", order, 7, 7 + len(order), order)
        return await self.say(
            f"cancel {order}",
            Understanding(intent="cancel_order", confidence=0.95, entities=[entity]),
        )

    @property
    def dialogue(self) -> dict:
        return self.context.data["dialogue"]


def _events(decision: Decision) -> list[str]:
    return [
        kind if kind != "action.called" else f"action:{data['action']}"
        for kind, data in decision.events
    ]


@pytest.mark.parametrize(("language", "text"), [(row[0], row[1][0]) for row in ANSWERS])
async def test_a_yes_at_a_confirmation_runs_the_action_in_every_language(language, text):
    flow = Flow()
    asked = await flow.cancel()
    assert "Cancel order ORD-10235" in asked.replies[-1].text
    done = await flow.say(text)
    assert _events(done) == ["action:cancel_order", "flow.completed"], text
    assert "ORD-10235 is cancelled" in done.replies[-1].text
    await flow.manager.aclose()


@pytest.mark.parametrize(("language", "text"), _table(2))
async def test_a_no_at_a_confirmation_leaves_the_order_alone_in_every_language(language, text):
    flow = Flow()
    await flow.cancel()
    kept = await flow.say(text)
    assert _events(kept) == ["flow.cancelled"], text  # no action called
    assert flow.dialogue["active"] is None
    # The order is still there to cancel: the shop did not cancel it.
    await flow.cancel()
    done = await flow.say("yes")
    assert "ORD-10235 is cancelled" in done.replies[-1].text
    await flow.manager.aclose()


@pytest.mark.parametrize(("language", "text"), _table(3))
async def test_an_unsure_answer_is_asked_again_in_every_language(language, text):
    flow = Flow()
    await flow.cancel()
    again = await flow.say(text, Understanding())
    assert "action:cancel_order" not in _events(again), text
    assert flow.dialogue["active"]["flow"] == "cancel_order"
    assert "Cancel order ORD-10235" in again.replies[-1].text
    await flow.manager.aclose()


async def test_neither_at_a_choice_stops_the_flow():
    flow = Flow()
    asked = await flow.say(
        "I want to cancel an order", Understanding(intent="cancel_order", confidence=0.95)
    )
    assert asked.replies[-1].quick_replies == ["ORD-10235", "ORD-10244", "ORD-10234"]
    stopped = await flow.say("ninguno de los dos")
    assert _events(stopped) == ["flow.cancelled"] and flow.dialogue["active"] is None
    await flow.manager.aclose()


@pytest.mark.parametrize("text", ["the second one", "la segunda", "第二个", "二つ目", "الثاني"])
async def test_the_second_button_is_picked_at_a_question_with_buttons(text):
    flow = Flow()
    entity = Entity("order_id", "ORD-10238", 7, 16, "ORD-10238")
    asked = await flow.say(
        "return ORD-10238", Understanding(intent="return_item", confidence=0.95, entities=[entity])
    )
    assert asked.replies[-1].quick_replies[:2] == ["Doesn't fit", "Damaged"]
    confirm = await flow.say(text)
    assert flow.dialogue["active"]["slots"]["reason"] == "Damaged"
    assert 'reason "Damaged"' in confirm.replies[-1].text
    await flow.manager.aclose()


async def test_offers_come_from_the_running_flow():
    """What ``offers_for`` gives the manager: the buttons of the question just asked, and
    for a slot the flow guessed, its other suggestions."""
    flow = Flow()
    await flow.say(
        "I want to cancel an order", Understanding(intent="cancel_order", confidence=0.95)
    )
    engine = flow.manager.engines["demo"]
    frame = flow.dialogue["active"]
    scope = engine.scope(frame, flow.dialogue.get("profile"), None)
    offers = offers_for(FLOWS["cancel_order"], frame, scope)
    assert offers.shown == {"order_id": ["ORD-10235", "ORD-10244", "ORD-10234"]}
    picked = candidates(FLOWS["cancel_order"], "la segunda", Understanding(), "order_id", offers)
    assert [c.value for c in picked] == ["ORD-10244"]

    flow = Flow()
    await flow.say("I want to return an item", Understanding(intent="return_item", confidence=0.95))
    await flow.say("it's too small")  # the reason; the order was guessed: ORD-10238
    frame = flow.dialogue["active"]
    assert frame["prefilled"] == ["order_id"] and frame["confirming"] is not None
    offers = offers_for(
        FLOWS["return_item"], frame, engine.scope(frame, flow.dialogue["profile"], None)
    )
    assert offers.shown["order_id"] == ["ORD-10238", "ORD-10243"]
    picked = candidates(FLOWS["return_item"], "no, the other one", Understanding(), None, offers)
    assert [(c.slot, c.value) for c in picked] == [("order_id", "ORD-10243")]
    await flow.manager.aclose()


# PENDING the dialogue manager (dialogue/manager.py, not this module): ``_continue`` must pass
# ``slotting.offers_for(flow, frame, engine.scope(frame, profile, segment))`` to
# ``slotting.candidates``; until then only static buttons can be pointed at. Remove the
# marker when it does (strict: it fails loudly once it passes).
async def test_pointing_at_suggested_orders_through_the_manager():
    flow = Flow()
    await flow.say(
        "I want to cancel an order", Understanding(intent="cancel_order", confidence=0.95)
    )
    confirm = await flow.say("the second one")
    assert "Cancel order ORD-10244" in confirm.replies[-1].text

    flow = Flow()
    await flow.say("I want to return an item", Understanding(intent="return_item", confidence=0.95))
    asked = await flow.say("it's too small")
    assert "Start a return for order ORD-10238" in asked.replies[-1].text
    corrected = await flow.say("no, the other one")  # her other delivered order
    assert ("flow.corrected", {"flow": "return_item", "slots": ["order_id"]}) in corrected.events
    assert "ORD-10243" in corrected.replies[-1].text  # (already returned, says the shop)
    await flow.manager.aclose()
