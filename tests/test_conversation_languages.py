"""The demo answers in the customer's language through the real conversation path
(``wiring.assemble`` + ``start_conversation(locale=...)`` + ``handle_message``, the NLU and
the demo shop included): the greeting, a request for a person, a flow's questions, its
confirmation with the amount written for the locale, and its result."""

from __future__ import annotations

import pytest
import pytest_asyncio

from smartsupport import messages
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import ConversationStatus, IncomingMessage
from smartsupport.nlu.language import detect_language
from smartsupport.settings import Settings
from smartsupport.wiring import assemble

pytestmark = pytest.mark.asyncio(loop_scope="module")

# (locale the widget sends, "I want to cancel my order", an open order of the demo shop and
#  its email, its total as CLDR writes it for the locale, the flow's "yes" button, "I want to
#  talk to a person", a question the demo cannot answer)
CUSTOMERS = {
    "es-MX": (
        "Quiero cancelar mi pedido", "ORD-10235", "maria@example.com", "128,00\xa0US$",
        "Sí, cancélalo", "Quiero hablar con una persona", "¿Qué tiempo hará mañana en Madrid?",
    ),
    "ar": (
        "أريد إلغاء طلبي", "ORD-10241", "aisha@example.com", "\u200f54.00\xa0UK£",
        "نعم، ألغِه", "أريد التحدث مع موظف", "ما هو الطقس غدا في القاهرة؟",
    ),
    "ja-JP": (
        "注文をキャンセルしたい", "ORD-10244", "maria@example.com", "$36.00",
        "はい、キャンセルします", "オペレーターと話したいです", "明日の東京の天気はどうですか？",
    ),
}  # fmt: skip


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def services(tmp_path_factory):
    running = await assemble(
        Settings(data_dir=tmp_path_factory.mktemp("languages"), secret_key="k" * 32)
    )
    yield running
    await running.close()


async def say(services, conversation, text):
    result = await handle_message(services, IncomingMessage(conversation.id, text))
    return result.replies


@pytest.mark.parametrize("locale", CUSTOMERS)
async def test_the_greeting_and_its_buttons_are_in_the_visitors_locale(services, locale):
    demo = services.workspace("demo")
    language = messages.normalise(locale)
    _, [greeting] = await start_conversation(services, "demo", locale=locale)
    assert greeting.text == messages.text(demo, "greeting", language)
    assert "Northwind" in greeting.text and detect_language(greeting.text).language == language
    assert greeting.meta["quick_replies"] == messages.quick_replies(demo, language)


@pytest.mark.parametrize("locale", CUSTOMERS)
async def test_asking_for_a_person_is_answered_in_the_customers_language(services, locale):
    demo = services.workspace("demo")
    language = messages.normalise(locale)
    conversation, _ = await start_conversation(services, "demo", locale=locale)
    [handoff] = await say(services, conversation, CUSTOMERS[locale][5])
    assert handoff.text == messages.text(demo, "handoff.message", language)
    stored = await services.store.get_conversation(conversation.id)
    assert stored.status is ConversationStatus.WAITING
    assert stored.metadata["language"] == language  # for the overflow form, the ticket, ...


@pytest.mark.parametrize("locale", CUSTOMERS)
async def test_pressing_the_person_button_hands_over_in_every_language(services, locale):
    demo = services.workspace("demo")
    language = messages.normalise(locale)
    conversation, _ = await start_conversation(services, "demo", locale=locale)
    button = messages.text(demo, "handoff.offer_button", language)
    [handoff] = await say(services, conversation, button)
    assert handoff.text == messages.text(demo, "handoff.message", language)


@pytest.mark.parametrize("locale", ["es-MX", "ar", "ja-JP"])
async def test_a_question_nobody_can_answer_is_answered_in_the_customers_language(services, locale):
    conversation, _ = await start_conversation(services, "demo", locale=locale)
    replies = await say(services, conversation, CUSTOMERS[locale][6])
    assert detect_language(replies[0].text).language == messages.normalise(locale)


@pytest.mark.parametrize("locale", CUSTOMERS)
async def test_a_flow_asks_confirms_and_answers_in_the_customers_language(services, locale):
    """Answers such as an order number or an email address show no language: the flow
    keeps the one it started in. Amounts are written the locale's way."""
    demo = services.workspace("demo")
    language = messages.normalise(locale)
    request, order, email, total, yes, _, _ = CUSTOMERS[locale]
    conversation, _ = await start_conversation(services, "demo", locale=locale)
    [question] = await say(services, conversation, request)
    assert question.meta["flow"] == "cancel_order" and question.meta["slot"] == "order_id"
    assert detect_language(question.text).language == language
    [asked] = await say(services, conversation, order)
    assert asked.meta["slot"] == "email" and detect_language(asked.text).language == language
    [confirmation] = await say(services, conversation, email)
    assert order in confirmation.text and total in confirmation.text
    assert detect_language(confirmation.text).language == language
    assert confirmation.meta["quick_replies"][0] == yes
    [done] = await say(services, conversation, yes)  # the button, in the customer's language
    assert order in done.text and total in done.text
    assert detect_language(done.text).language == language
    assert str(demo.facts["paypal_refund_hours"]) in done.text  # the refund time: a fact
