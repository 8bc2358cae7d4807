"""The decision order on the demo, through the real conversation path (``wiring.assemble`` +
``handle_message``): look-up flows start on questions, policy questions get the policy,
authored responses only answer what they answer, a "yes" to the offer of a person hands
over, and a bare "yes" is never taken for a greeting."""

from __future__ import annotations

import pytest
import pytest_asyncio

from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import ConversationStatus, IncomingMessage
from smartsupport.settings import Settings
from smartsupport.wiring import assemble

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def services(tmp_path_factory):
    running = await assemble(
        Settings(data_dir=tmp_path_factory.mktemp("decisions"), secret_key="k" * 32)
    )
    yield running
    await running.close()


async def chat(services, *texts, locale="en"):
    conversation, _ = await start_conversation(services, "demo", locale=locale)
    results = [await handle_message(services, IncomingMessage(conversation.id, t)) for t in texts]
    return conversation, results


def steps(result):
    return [r.meta.get("decision") for r in result.replies]


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("do you have the trail runner shoes in a 43?", "en"),
        ("Avete ancora la giacca Rain shell in taglia L?", "it"),
        ("Trail Runner 41码还有货吗？", "zh"),
    ],
)
async def test_a_look_up_asked_as_a_question_starts_its_flow(services, text, locale):
    _, [result] = await chat(services, text, locale=locale)
    assert steps(result)[0] == "flow"
    # The product and the size were in the question: the answer is the stock, not a question.
    assert not result.replies[-1].text.rstrip().endswith(("?", "？"))


async def test_a_policy_question_about_a_look_up_gets_the_policy(services):
    _, [result] = await chat(
        services, "Once you get my return, how long until the money is back on my card?"
    )
    assert steps(result)[0] == "knowledge"
    assert "3-10 business days" in result.replies[0].text or "5 business days" in (
        result.replies[0].text
    )


@pytest.mark.parametrize(
    ("text", "locale", "fact"),
    [
        ("Le suivi dit que mon colis est livré depuis hier mais je n'ai rien, que faire ?", "fr",
         "3 jours ouvrés"),
    ],
)  # fmt: skip
async def test_a_question_about_an_order_that_the_articles_answer_gets_the_answer(
    services, text, locale, fact
):
    """It is about an order (the tracking flow's intent) and names none: the articles'
    answer, with the look-up one button away, not "What is your order number?"."""
    _, [result] = await chat(services, text, locale=locale)
    assert steps(result)[0] == "knowledge"
    assert fact in result.replies[0].text
    assert result.replies[-1].meta.get("quick_replies")  # the offer to look the order up


async def test_an_authored_response_that_does_not_answer_is_not_given(services):
    # The account intent's response explains password resets; this asks something else.
    _, [result] = await chat(
        services, "Wie ändere ich die E-Mail-Adresse in meinem Kundenkonto?", locale="de"
    )
    assert "Passwort vergessen" not in " ".join(r.text for r in result.replies)


async def test_yes_to_the_offer_of_a_person_hands_over(services):
    conversation, [first, second] = await chat(
        services, "Do you sell surfboards and wetsuits for kids?", "yes please"
    )
    assert first.replies[-1].meta.get("decision") == "no_answer"
    assert second.conversation.status in (ConversationStatus.WAITING, ConversationStatus.WITH_AGENT)


@pytest.mark.parametrize(("text", "locale"), [("oui", "fr"), ("はい", "ja"), ("yes", "en")])
async def test_a_bare_yes_is_not_a_greeting(services, text, locale):
    _, [result] = await chat(services, text, locale=locale)
    assert "small_talk" not in steps(result)


async def test_a_reason_that_sounds_like_another_topic_is_the_reason_asked_for(services):
    # Asked "Quelle est la raison du retour ?", "elle est trop petite" is the reason, though
    # the intent model hears a sizing question in it.
    _, results = await chat(
        services,
        "Je voudrais retourner la veste de la commande ORD-10238",
        "maria@example.com",
        "elle est trop petite",
        locale="fr",
    )
    confirm = results[-1].replies[-1].text
    assert "trop petite" in confirm and "ORD-10238" in confirm


async def test_answers_to_a_flows_questions_are_not_counted_as_not_understood(services):
    # An e-mail address and a reason carry no intent; counted as "not understood twice", they
    # put a person button on the confirmation, and its "sim" then went to a person.
    conversation, results = await chat(
        services,
        "Quero devolver a jaqueta do pedido ORD-10238",
        "maria@example.com",
        "ficou pequena",
        "sim",
        locale="pt",
    )
    assert results[-1].conversation.status is ConversationStatus.BOT
    assert "flow" in steps(results[-1])


async def test_an_order_number_does_not_override_what_the_model_mostly_believes(services):
    # An order number makes the message in scope; the model, short of its out-of-scope bar,
    # still puts most of its belief on one intent: that intent, not the rule's order status.
    _, [result] = await chat(
        services, "Devolví unas zapatillas y todavía nada del dinero, pedido ORD-10240", locale="es"
    )
    assert result.message.meta["nlu"]["intent"] == "refund_status"
