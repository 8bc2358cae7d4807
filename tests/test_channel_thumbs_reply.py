"""Thumbs by reply on SMS and WhatsApp through Twilio (docs/channels.md "Thumbs on answers"),
against the local server replaying Twilio's published formats (tests/messaging_fakes.py):
a knowledge answer ends with "Reply 1 for yes, 2 for no" when the workspace asks for it, and
the exact reply right after it is recorded through the widget's code path with its channel,
never as a turn; every other message stays the customer's turn."""

from __future__ import annotations

from datetime import timedelta

import pytest

from smartsupport.channels import contacts, thumbs, thumbs_reply
from smartsupport.domain import Author, Message, utcnow
from smartsupport.errors import ConfigurationError
from smartsupport.fanout import conversation_lock
from smartsupport.feedback import ratings_of
from smartsupport.inbox.changes import post
from smartsupport.workspaces import WorkspaceConfig
from tests.messaging_fakes import TEMPLATE_SID, twilio_inbound
from tests.messagingkit import channel_secrets, running, settle, wait_for  # noqa: F401

NUMBER = "+15551234567"
QUESTION = "Wie lange dauert der Versand nach Deutschland?"  # answered from the articles
LINE_DE = "Hat Ihnen diese Antwort geholfen? Antworten Sie 1 für ja, 2 für nein."
SMS_ON = {"answer_feedback": {"sms": True}}
# GSM 03.38's basic set: an SMS of these characters only is 160 a segment, else 70.
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


async def conversation_of(run, channel: str = "sms", number: str = NUMBER) -> str:
    contact = await contacts.find(run.services.store, "demo", channel, number)
    assert contact is not None, "the number has a conversation"
    return contact.conversation_id


async def asked(run, channel: str = "sms", to: str = NUMBER) -> tuple[str, dict, Message]:
    """QUESTION sent and answered: (conversation id, the answer's last part as Twilio got
    it, the stored answer)."""
    kind, whatsapp = ("whatsapp", True) if channel == "twilio_whatsapp" else ("sms", False)
    response = await run.twilio(kind, twilio_inbound(QUESTION, whatsapp=whatsapp))
    assert response.status_code == 204, response.text
    await wait_for(
        lambda: any("Werktage" in m.get("Body", "") for m in run.fake.sms_to(to)),
        what="the answer",
    )
    await settle(run.services)
    conversation_id = await conversation_of(run, channel)
    (answer,) = [m for m in await run.messages(conversation_id) if m.meta.get("citations")]
    sent = [m for m in run.fake.sms_to(to) if "Werktage" in m.get("Body", "")][-1]
    return conversation_id, sent, answer


async def test_an_sms_answer_offers_1_or_2_and_the_reply_is_its_rating_not_a_turn(
    tmp_path, database_url
):
    async with running(tmp_path, database_url, SMS_ON) as run:
        conversation_id, sent, answer = await asked(run)
        assert sent["Body"].endswith("\n\n" + LINE_DE)
        assert answer.meta[thumbs_reply.OFFER] == {"channel": "sms", "language": "de"}
        assert run.fake.problems == []
        before, texts = await run.messages(conversation_id), len(run.fake.sms_to(NUMBER))

        yes = twilio_inbound("1")
        for _ in range(2):  # Twilio sends a webhook again when it misses our answer
            assert (await run.twilio("sms", yes)).status_code == 204
        await settle(run.services)
        assert await run.messages(conversation_id) == before, "no turn, nothing stored"
        assert len(run.fake.sms_to(NUMBER)) == texts, "nothing sent back (each SMS costs)"
        (rating,) = await ratings_of(run.services, conversation_id)
        assert (rating.message_id, rating.rating, rating.source, rating.channel) == (
            answer.id, 1, "customer", "sms",
        )  # fmt: skip

        # Changing one's mind replaces the vote (" 2. " is still exactly "2").
        assert (await run.twilio("sms", twilio_inbound(" 2. "))).status_code == 204
        (rating,) = await ratings_of(run.services, conversation_id)
        assert rating.rating == -1 and rating.channel == "sms"
        assert await run.messages(conversation_id) == before


async def test_only_an_exact_reply_right_after_the_offer_is_a_vote(tmp_path):
    async with running(tmp_path / "words", workspace=SMS_ON) as run:
        conversation_id, _, _ = await asked(run)
        # Not exactly a rating word: the customer's turn, answered like any message.
        for text in ("2 Pakete", "12", "1?", "ja"):
            assert (await run.twilio("sms", twilio_inbound(text))).status_code == 204
            assert (await run.customer_texts(conversation_id))[-1] == text
            await settle(run.services)
        assert await ratings_of(run.services, conversation_id) == []

    async with running(tmp_path / "agent", workspace=SMS_ON) as run:
        conversation_id, _, _ = await asked(run)
        # An agent asked something since: "1" answers the agent.
        async with conversation_lock(run.services, conversation_id):
            await post(run.services, conversation_id, Author.AGENT, "Wie viele Pakete?")
        assert (await run.twilio("sms", twilio_inbound("1"))).status_code == 204
        assert (await run.customer_texts(conversation_id))[-1] == "1"
        assert await ratings_of(run.services, conversation_id) == []


async def test_another_numbers_reply_cannot_rate_this_answer(tmp_path):
    async with running(tmp_path, workspace=SMS_ON) as run:
        conversation_id, _, _ = await asked(run)
        other = "+15559990000"
        # A stranger's first message "1" starts their own conversation as an ordinary turn
        # (the greeting's first numbered option, as any "1" there).
        stranger = twilio_inbound("1", sender=other)
        assert (await run.twilio("sms", stranger)).status_code == 204
        theirs = await conversation_of(run, number=other)
        assert len(await run.customer_texts(theirs)) == 1
        assert await ratings_of(run.services, conversation_id) == []
        assert await ratings_of(run.services, theirs) == []


async def test_without_the_setting_an_sms_answer_has_no_line_and_1_is_a_turn(tmp_path):
    async with running(tmp_path) as run:
        conversation_id, sent, answer = await asked(run)
        assert "1 für ja" not in sent["Body"] and thumbs_reply.OFFER not in answer.meta
        assert (await run.twilio("sms", twilio_inbound("1"))).status_code == 204
        assert (await run.customer_texts(conversation_id))[-1] == "1"
        assert await ratings_of(run.services, conversation_id) == []


async def test_whatsapp_through_twilio_offers_thumbs_and_a_thumb_rates(tmp_path, database_url):
    workspace = {"answer_feedback": {"twilio_whatsapp": True}}
    async with running(tmp_path, database_url, workspace) as run:
        to = f"whatsapp:{NUMBER}"
        conversation_id, sent, answer = await asked(run, "twilio_whatsapp", to)
        assert sent["Body"].endswith("Antworten Sie mit 👍 oder 👎")
        before = await run.messages(conversation_id)
        thumb = twilio_inbound("👎🏽", whatsapp=True)  # a skin tone is still the thumb
        assert (await run.twilio("whatsapp", thumb)).status_code == 204
        (rating,) = await ratings_of(run.services, conversation_id)
        assert (rating.message_id, rating.rating, rating.channel) == (
            answer.id, -1, "twilio_whatsapp",
        )  # fmt: skip
        assert await run.messages(conversation_id) == before
        # SMS kept its own switch (off): the same workspace's SMS answer has no line.
        _, sms, _ = await asked(run)
        assert "1 für ja" not in sms["Body"]

        # Outside the 24-hour window the approved template goes, text only: no line, no offer.
        await run.services.store.execute(
            "UPDATE channel_contacts SET last_inbound_at = ?", utcnow() - timedelta(days=2)
        )
        cited = {"citations": [{"title": "Versand", "url": "https://example.com/versand"}]}
        sent = len(run.fake.sms_to(to))
        async with conversation_lock(run.services, conversation_id):
            late = await post(run.services, conversation_id, Author.BOT, "Versand: 2 Werktage.",
                              meta=cited)  # fmt: skip
        await wait_for(lambda: len(run.fake.sms_to(to)) > sent, what="the template")
        await settle(run.services)
        assert run.fake.sms_to(to)[-1]["ContentSid"] == TEMPLATE_SID
        (stored,) = [m for m in await run.messages(conversation_id) if m.id == late.id]
        assert thumbs_reply.OFFER not in stored.meta
        assert run.fake.problems == []


async def test_the_line_goes_only_where_it_fits_and_cannot_be_mistaken(tmp_path):
    async with running(tmp_path, workspace=SMS_ON) as run:
        conversation_id, _, _ = await asked(run)
        cited = {"citations": [{"title": "Versand", "url": "https://example.com/versand"}]}

        async def answer(text: str, **meta: object) -> tuple[str, Message]:
            sent = len(run.fake.sms_to(NUMBER))
            async with conversation_lock(run.services, conversation_id):
                stored = await post(run.services, conversation_id, Author.BOT, text,
                                    meta={**cited, **meta})  # fmt: skip
            await wait_for(lambda: len(run.fake.sms_to(NUMBER)) > sent, what="the answer")
            await settle(run.services)
            (found,) = [m for m in await run.messages(conversation_id) if m.id == stored.id]
            return run.fake.sms_to(NUMBER)[-1]["Body"], found

        # As long as one part may be: the line would pass Twilio's 1600, so none is added.
        body, stored = await answer("Versand. " + "x" * 1585)
        assert LINE_DE not in body and thumbs_reply.OFFER not in stored.meta
        # Numbered options of its own: "1" answers those, so no line either.
        body, stored = await answer("Wohin?", quick_replies=["Deutschland", "Österreich"])
        assert LINE_DE not in body and thumbs_reply.OFFER not in stored.meta
        assert (await run.twilio("sms", twilio_inbound("1"))).status_code == 204
        assert (await run.customer_texts(conversation_id))[-1] == "Deutschland"
        assert await ratings_of(run.services, conversation_id) == []
        assert run.fake.problems == []


# -- the words ---------------------------------------------------------------------------------
def test_the_rating_words_are_exact():
    for text, rating in (("1", 1), ("2", -1), (" 1. ", 1), ("１", 1), ("٢", -1), ("👍", 1),
                         ("👍🏿", 1), ("👎️", -1)):  # fmt: skip
        assert thumbs_reply.vote(text) == rating, text
    for text in ("3", "0", "12", "1?", "1 2", "yes", "ja", "👍👍", "thanks 👍", "", "1.5"):
        assert thumbs_reply.vote(text) is None, text


def test_the_sms_line_keeps_an_answer_in_gsm_7_where_the_language_allows():
    from smartsupport import messages as catalog

    for language in ("en", "de", "fr", "it"):
        line = catalog.text(None, "feedback.reply_digits", language)
        assert set(line) <= GSM7, (language, set(line) - GSM7)
        assert len(line) <= 80


def test_both_lines_are_off_by_default_and_a_wrong_value_names_the_key():
    defaults = thumbs.settings(WorkspaceConfig(id="acme", name="Acme"))
    assert (defaults.sms, defaults.twilio_whatsapp) == (False, False)
    wrong = WorkspaceConfig(id="acme", name="Acme", answer_feedback={"sms": "maybe"})
    with pytest.raises(ConfigurationError, match="answer_feedback: sms"):
        thumbs_reply.enabled("sms", wrong)
    on = WorkspaceConfig(id="acme", name="Acme", answer_feedback={"twilio_whatsapp": True})
    assert thumbs_reply.enabled("twilio_whatsapp", on) and not thumbs_reply.enabled("sms", on)
