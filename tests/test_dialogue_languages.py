"""Flows in every language: a flow speaks the language it started in, renders its own text in
that language (else the workspace's default language), the product's texts (yes/no buttons,
"please answer yes or no", corrections) come from the message catalog, and ``money`` and
``date`` write amounts and dates the way the language does (Babel, CLDR)."""

from __future__ import annotations

import pytest

from smartsupport import messages
from smartsupport.context import ConversationContext
from smartsupport.dialogue.loading import load_flows
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.dialogue.servers import ShopServer
from smartsupport.dialogue.templates import TemplateError, check_template, render
from smartsupport.domain import Author, Conversation, Entity, Message, Understanding
from smartsupport.errors import ConfigurationError
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import DEMO_DIR, WorkspaceConfig, load_workspace_dir

TOKEN = "shop-key-languages"

# -- money and dates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "usd", "eur", "day"),
    [
        ("en", "$1,234.50", "€89.00", "March 14, 2026"),
        ("es", "1.234,50\xa0US$", "89,00\xa0€", "14 de marzo de 2026"),
        ("fr", "1\u202f234,50\xa0$US", "89,00\xa0€", "14 mars 2026"),
        ("de", "1.234,50\xa0$", "89,00\xa0€", "14. März 2026"),
        ("it", "1.234,50\xa0USD", "89,00\xa0€", "14 marzo 2026"),
        ("pt", "US$\xa01.234,50", "€\xa089,00", "14 de março de 2026"),
        ("zh", "US$1,234.50", "€89.00", "2026年3月14日"),
        ("ja", "$1,234.50", "€89.00", "2026年3月14日"),
        ("ar", "\u200f1,234.50\xa0US$", "\u200f89.00\xa0€", "14 مارس 2026"),
    ],
)
def test_money_and_dates_are_written_for_the_language(language, usd, eur, day):
    scope = {"language": language, "order": {"total": 1234.5, "eta": "2026-03-14"}}
    assert render("{{ money(order.total, 'USD') }}", scope) == usd
    assert render("{{ money(89, 'eur') }}", scope) == eur
    assert render("{{ date(order.eta) }}", scope) == day


def test_money_and_dates_take_what_the_data_gives():
    scope = {"language": "de", "when": "2026-03-14T09:30:00+00:00"}
    assert render("{{ date(when, 'short') }}", scope) == "14.03.26"
    assert render("{{ date('in a few days') }}|{{ date(none) }}", scope) == "in a few days|"
    assert render("{{ money('12.5', none) }}|{{ money('n/a') }}", scope) == "12,50|"
    assert render("{{ money(5) }}", {}) == "$5.00"  # no language in scope: English
    assert render("{{ money(5, 'USD') }}", {"language": "xx-unknown"}) == "$5.00"
    with pytest.raises(TemplateError):
        check_template("{{ format_date(order.eta) }}")


# -- a flow in the customer's language ---------------------------------------------------


@pytest.fixture
async def shop(monkeypatch):
    monkeypatch.setenv("DEMO_SHOP_TOKEN", TOKEN)
    async with ShopServer(DEMO_DIR / "shop.json", api_key=TOKEN) as server:
        yield server


class Chat:
    """A conversation through the dialogue seam with a pinned understanding per turn."""

    def __init__(self, shop: ShopServer, workspace: WorkspaceConfig | None = None) -> None:
        self.workspace = workspace or load_workspace_dir(DEMO_DIR)
        self.manager = DialogueManager(
            {self.workspace.id: self.workspace}, None, None, backend_urls={"shop": shop.url}
        )
        self.conversation = Conversation("conv-1", self.workspace.id, "cust-1")
        self.context = ConversationContext("conv-1")
        self.seq = 0

    async def say(
        self, text: str, language: str = "en", intent: str | None = None, **entities: str
    ) -> Decision:
        self.seq += 1
        found = [Entity(k, v, 0, len(v), v) for k, v in entities.items()]
        understanding = Understanding(
            language=language, intent=intent, confidence=0.95 if intent else 0.0, entities=found
        )
        message = Message(f"m{self.seq}", "conv-1", self.seq, Author.CUSTOMER, text)

        async def stream(_: str) -> None:
            return None

        turn = Turn(self.workspace, self.conversation, message, self.context, understanding, stream)
        decision = await self.manager.handle(turn)
        self.context = ConversationContext.from_json(self.context.to_json())
        assert decision is not None, f"no flow took {text!r}"
        return decision


async def test_a_spanish_flow_stays_spanish_through_numbers_and_addresses(shop):
    chat = Chat(shop)
    asked = await chat.say("Quiero devolver un artículo", "es", "return_item")
    assert asked.replies[-1].text.startswith("¿Qué pedido quieres devolver?")
    # "ORD-10238" shows no language (the NLU reports the default): still Spanish.
    reason = await chat.say("ORD-10238", "en", order_id="ORD-10238")
    assert reason.replies[-1].text == "Para proteger los datos de tu pedido: ¿qué dirección de " \
        "correo electrónico usaste al hacerlo?"  # fmt: skip
    why = await chat.say("maria@example.com", "en", email="maria@example.com")
    assert why.replies[-1].text == "¿Cuál es el motivo de la devolución?"
    assert why.replies[-1].quick_replies == [
        "No me queda bien", "Dañado", "He cambiado de opinión", "No es como se describía"
    ]  # fmt: skip
    confirm = await chat.say("Dañado", "es")
    text = confirm.replies[-1].text
    assert text.startswith("¿Inicio una devolución del pedido ORD-10238") and "«Dañado»" in text
    assert "149,00\xa0US$" in text and "5 días hábiles" in text
    assert confirm.replies[-1].quick_replies == ["Sí, inicia la devolución", "No"]
    done = await chat.say("Sí, inicia la devolución", "es")  # the button, not a typed "sí"
    assert done.replies[-1].text.startswith("Tu devolución está registrada: número de devolución")
    assert "14 días" in done.replies[-1].text and "VIP" not in done.replies[-1].text
    await chat.manager.aclose()


async def test_the_default_buttons_and_prompts_come_from_the_catalog(shop):
    """change_address's confirmation has no buttons of its own: the catalog's yes and no;
    an unclear answer gets the catalog's "please answer yes or no" in the flow's language."""
    chat = Chat(shop)
    await chat.say("住所を変更したい", "ja", "change_address", order_id="ORD-10235")
    await chat.say("maria@example.com", "en", email="maria@example.com")
    confirm = await chat.say("1-2-3 Shibuya, Tokyo 150-0002", "en")
    assert confirm.replies[-1].text.startswith("ご注文 ORD-10235 のお届け先を")
    assert confirm.replies[-1].quick_replies == ["はい", "いいえ"]
    unclear = await chat.say("えーと", "ja")
    assert unclear.replies[0].text == messages.catalog("ja")["flow.yes_or_no"]
    denied = await chat.say("いいえ", "ja")  # the catalog's "no" button
    assert denied.replies[-1].text == messages.catalog("ja")["flow.denied"]
    await chat.manager.aclose()


async def test_corrections_and_cancelling_speak_the_flows_language(shop):
    chat = Chat(shop)
    await chat.say("أريد إلغاء طلبي ORD-10235", "ar", "cancel_order", order_id="ORD-10235")
    await chat.say("maria@example.com", "en", email="maria@example.com")
    corrected = await chat.say("ORD-10244", "en", order_id="ORD-10244")
    assert corrected.replies[0].text == messages.text(
        None, "flow.corrected", "ar", values="ORD-10244"
    )
    assert "ORD-10244" in corrected.replies[-1].text and "36.00" in corrected.replies[-1].text
    stopped = await chat.say("cancel", "en")
    assert stopped.replies[-1].text == messages.catalog("ar")["flow.cancelled"]
    await chat.manager.aclose()


async def test_dates_in_a_flow_follow_its_language(shop):
    chat = Chat(shop)
    await chat.say("Wo ist meine Bestellung?", "de", "order_status", order_id="ORD-10237")
    answer = await chat.say("jonas@example.com", "en", email="jonas@example.com")
    delivered = shop.app.state.shop.orders["ORD-10237"]["delivered"]
    expected = render("{{ date(d) }}", {"language": "de", "d": delivered})
    assert f"wurde am {expected} von DHL" in answer.replies[-1].text
    assert answer.replies[-1].quick_replies == ["Artikel zurücksenden"]
    await chat.manager.aclose()


FLOWS = {
    "backends": {"shop": {"base_url": "http://shop.example"}},
    "actions": {"get_order": {"backend": "shop", "path": "/orders/{{ slots.order_id }}"}},
    "flows": {
        "where": {
            "intents": ["order_status"],
            "slots": {
                "order_id": {
                    "entity": "order_id",
                    "ask": {"de": "Ihre Bestellnummer?", "fr": "Votre numéro de commande ?"},
                }
            },
            "steps": [
                {"say": "Bestellung {{ slots.order_id }} ({{ language }}).", "quick_replies": []},
                {"end": "completed"},
            ],
        }
    },
}


async def test_a_flow_text_is_in_the_customers_language_else_the_workspace_default():
    workspace = WorkspaceConfig(id="acme", name="Acme", default_locale="de", flows=FLOWS)
    manager = DialogueManager({"acme": workspace}, None, None)
    engine = manager.engines["acme"]
    frame = {"flow": "where", "language": "fr", "slots": {"order_id": "ORD-1"}}
    slot = engine.config.flows["where"].slots["order_id"]
    assert engine.words(frame, slot.ask, None, {}) == "Votre numéro de commande ?"
    frame["language"] = "ja"  # not written in Japanese: German, the default; never French
    assert engine.words(frame, slot.ask, None, {}) == "Ihre Bestellnummer?"
    say = engine.programs["where"][0].text
    # A plain string is the default language's, and renders with that language.
    assert engine.words(frame, say, None, {"slots": frame["slots"]}) == "Bestellung ORD-1 (de)."
    # Left out by the flow: the catalog's text in the customer's language.
    assert engine.words(frame, None, "flow.resume", {}) == messages.catalog("ja")["flow.resume"]
    del frame["language"]  # a frame saved before flows had a language: the default's
    assert engine.words(frame, slot.ask, None, {}) == "Ihre Bestellnummer?"
    await manager.aclose()


def test_a_text_written_per_language_must_include_the_default_language():
    broken = {**FLOWS, "flows": {"where": {**FLOWS["flows"]["where"]}}}
    with pytest.raises(ConfigurationError) as error:
        load_flows(broken, "acme/flows.yaml", default_language="en")
    assert "flows.where.slots.order_id.ask" in str(error.value)
    assert "'en' version" in str(error.value)
    load_flows(broken, "acme/flows.yaml", default_language="de-AT")  # has de


def test_a_per_language_text_needs_language_codes():
    bad = {**FLOWS, "flows": {"where": {**FLOWS["flows"]["where"], "steps": [
        {"say": {"german": "Hallo"}}]}}}  # fmt: skip
    with pytest.raises(ConfigurationError, match="'german' is not a language code"):
        load_flows(bad, "acme/flows.yaml")
