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
