"""SMS and WhatsApp through Twilio against a local server replaying Twilio's published
formats (tests/messaging_fakes.py): X-Twilio-Signature over the public URL, inbound
messages and status callbacks, replies through the Messages API with quick replies as
numbered options (and a number back), STOP/START/HELP, Twilio's own 21610, WhatsApp's
24-hour window as a Content template, quick replies on WhatsApp as the buttons of a
twilio/quick-reply Content template, long replies split, outages, and the demo's order flow
end to end. Twilio's own servers cannot be reached from here."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from smartsupport import outbox
from smartsupport.channels import contacts
from smartsupport.domain import Author, utcnow
from smartsupport.fanout import conversation_lock
from smartsupport.inbox.changes import post
from tests.messaging_fakes import (
    SMS_FROM,
    TEMPLATE_SID,
    WA_FROM,
    twilio_inbound,
    twilio_signature,
)
from tests.messagingkit import PUBLIC_URL, channel_secrets, running, settle, wait_for  # noqa: F401

NUMBER = "+15551234567"


async def conversation_of(run, channel: str = "sms", number: str = NUMBER) -> str:
    contact = await contacts.find(run.services.store, "demo", channel, number)
    assert contact is not None, "the number has a conversation"
    return contact.conversation_id


async def test_an_sms_is_answered_through_the_messages_api_with_numbered_options(
    tmp_path, database_url
):
    async with running(tmp_path, database_url) as run:
        response = await run.twilio("sms", twilio_inbound("Hello"))
        assert response.status_code == 204, response.text
        await wait_for(lambda: run.fake.sms_to(NUMBER), what="the reply")
        assert run.fake.problems == []
        (reply,) = run.fake.sms_to(NUMBER)
        assert reply["From"] == SMS_FROM
        assert reply["StatusCallback"] == f"{PUBLIC_URL}/api/v1/channels/twilio/demo/status"
        conversation_id = await conversation_of(run)
        conversation = await run.services.store.get_conversation(conversation_id)
        customer = await run.services.store.get_customer(conversation.customer_id)
        assert conversation.channel == "sms" and customer.external_id == f"phone:{NUMBER}"

        async with conversation_lock(run.services, conversation_id):
            await post(run.services, conversation_id, Author.AGENT, "What can I do for you?",
                       meta={"quick_replies": ["Track my order", "Talk to a person"]})  # fmt: skip
        await wait_for(lambda: len(run.fake.sms_to(NUMBER)) == 2, what="the options")
        body = run.fake.sms_to(NUMBER)[-1]["Body"]
        assert "1. Track my order\n2. Talk to a person" in body
        assert body.endswith("Reply with a number.")
        await run.twilio("sms", twilio_inbound("2"))
        assert (await run.customer_texts(conversation_id))[-1] == "Talk to a person"


async def test_a_forged_or_missing_signature_is_refused_and_nothing_is_stored(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    async with running(tmp_path) as run:
        params = twilio_inbound("Hello")
        path = "/api/v1/channels/twilio/demo/sms"
        wrong_token = twilio_signature(PUBLIC_URL + path, params, token="guessed")
        wrong_url = twilio_signature("http://testserver" + path, params)  # not the public URL
        for signature in (wrong_token, wrong_url, None):
            response = await run.twilio("sms", params, signature=signature)
            assert response.status_code == 401
        tampered = {**params, "Body": "Hallo"}
        signed_original = twilio_signature(PUBLIC_URL + path, params)
        assert (await run.twilio("sms", tampered, signature=signed_original)).status_code == 401
        assert await run.services.store.list_conversations("demo") == []
        assert "X-Twilio-Signature" in caplog.text


async def test_without_a_public_url_the_signature_covers_the_url_this_server_saw(tmp_path):
    async with running(tmp_path, public_url="") as run:
        params = twilio_inbound("Hello")
        path = "/api/v1/channels/twilio/demo/sms"
        signature = twilio_signature("http://testserver" + path, params)
        assert (await run.twilio("sms", params, signature=signature)).status_code == 204


async def test_the_same_message_sid_retried_stores_one_message_and_answers_once(
    tmp_path, database_url
):
    async with running(tmp_path, database_url) as run:
        params = twilio_inbound("Do you ship to Norway?")
        assert (await run.twilio("sms", params)).status_code == 204
        assert (await run.twilio("sms", params)).status_code == 204
        conversation_id = await conversation_of(run)
        assert await run.customer_texts(conversation_id) == ["Do you ship to Norway?"]
        await settle(run.services)
        assert len(run.fake.sms_to(NUMBER)) == len(
            {e.payload["message_id"] for e in await outbox.list_entries(run.services.store)}
        )


async def test_a_malformed_webhook_gets_a_4xx_and_a_log_line(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    async with running(tmp_path) as run:
        params = twilio_inbound("Hello")
        del params["MessageSid"]
        response = await run.twilio("sms", params)
        assert response.status_code == 422 and "MessageSid" in caplog.text
        broken = {**twilio_inbound("photo"), "NumMedia": "many"}
        assert (await run.twilio("sms", broken)).status_code == 422
        other_account = {**twilio_inbound("Hello"), "AccountSid": "AC" + "9" * 32}
        assert (await run.twilio("sms", other_account)).status_code == 422
        unknown = await run.http.post("/api/v1/channels/twilio/nope/sms", data=params)
        assert unknown.status_code == 404
        assert await run.services.store.list_conversations("demo") == []


async def test_stop_is_honoured_everywhere_and_twilio_confirms_it_itself(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        await run.twilio("sms", twilio_inbound("Hello"))
        await wait_for(lambda: run.fake.sms_to(NUMBER), what="the reply")
        await settle(run.services)
        sent = len(run.fake.sms_to(NUMBER))
        await run.twilio("sms", twilio_inbound("Stop", OptOutType="STOP"))
        contact = await contacts.find(run.services.store, "demo", "sms", NUMBER)
        assert contact.consent == "out"
        conversation_id = await conversation_of(run)
        async with conversation_lock(run.services, conversation_id):
            await post(run.services, conversation_id, Author.AGENT, "Anything else?")
        await settle(run.services)
        assert len(run.fake.sms_to(NUMBER)) == sent, "Twilio confirms STOP; we send nothing"
        stored = await run.messages(conversation_id)
        assert stored[-2].meta["keyword"] == "stop" and stored[-2].text == "Stop"

        await run.twilio("sms", twilio_inbound("UNSTOP"))
        assert (await contacts.find(run.services.store, "demo", "sms", NUMBER)).consent == "in"
        await run.twilio("sms", twilio_inbound("yes"))  # after START, "yes" is an answer again
        assert (await run.customer_texts(conversation_id))[-1] == "yes"


async def test_an_unsubscribed_recipient_twilio_refuses_is_remembered(tmp_path):
    async with running(tmp_path) as run:
        run.fake.unsubscribed.add(NUMBER)  # opted out with Twilio before we knew
        await run.twilio("sms", twilio_inbound("Hello"))
        await settle(run.services)
        entries = await outbox.list_entries(run.services.store)
        assert entries and all(e.result == {"skipped": "opted_out"} for e in entries)
        assert (await contacts.find(run.services.store, "demo", "sms", NUMBER)).consent == "out"


async def test_status_callbacks_become_read_receipts(tmp_path):
    async with running(tmp_path) as run:
        await run.twilio("sms", twilio_inbound("Hello"))
        await wait_for(lambda: run.fake.sms_to(NUMBER), what="the reply")
        await settle(run.services)
        entries = await outbox.list_entries(run.services.store)
        (done, *_) = [e for e in entries if e.status == "done"]
        for status in ("sent", "delivered"):
            callback = {"MessageSid": done.result["sid"], "MessageStatus": status,
                        "AccountSid": twilio_inbound("")["AccountSid"], "From": SMS_FROM,
                        "To": NUMBER, "ApiVersion": "2010-04-01"}  # fmt: skip
            assert (await run.twilio("status", callback)).status_code == 204
        messages = await run.messages(await conversation_of(run))
        (message,) = [m for m in messages if m.id == done.payload["message_id"]]
        assert message.meta["delivery"]["status"] == "delivered"


async def test_an_outage_delays_the_reply_and_loses_nothing(tmp_path):
    async with running(tmp_path, outbox_poll_seconds=60) as run:
        run.fake.fail(503, path_prefix="/2010-04-01")
        await run.twilio("sms", twilio_inbound("When will I get my refund?"))
        now = utcnow()
        for minute in range(0, 30, 3):
            await outbox.run_due(run.services, now=now + timedelta(minutes=minute))
        entries = await outbox.list_entries(run.services.store)
        assert entries and all(e.status == "pending" and e.attempts >= 2 for e in entries)
        run.fake.recover()
        await outbox.run_due(run.services, now=now + timedelta(hours=2))
        entries = await outbox.list_entries(run.services.store)
        assert all(e.status == "done" for e in entries)
        assert len(run.fake.sms_to(NUMBER)) == len(entries), "each part sent once"


async def test_a_long_reply_is_split_into_parts_twilio_accepts(tmp_path):
    async with running(tmp_path) as run:
        await run.twilio("sms", twilio_inbound("Hello"))
        conversation_id = await conversation_of(run)
        await wait_for(lambda: run.fake.sms_to(NUMBER), what="the reply")
        await settle(run.services)  # the answer to "Hello" (one message or more) is out
        before = len(run.fake.sms_to(NUMBER))
        long_text = "\n".join(f"Line {i}: " + "words " * 30 for i in range(20))
        async with conversation_lock(run.services, conversation_id):
            await post(run.services, conversation_id, Author.AGENT, long_text)

        def parts() -> list[str]:
            return [m["Body"] for m in run.fake.sms_to(NUMBER)[before:]]

        await wait_for(lambda: len(" ".join(parts())) >= len(long_text) - 20, what="the parts")
        sent = parts()
        assert all(len(p) <= 1600 for p in sent) and len(sent) >= 2
        assert " ".join(sent).split() == long_text.split()
        assert run.fake.problems == []


async def test_whatsapp_through_twilio_uses_its_prefix_and_a_template_after_24_hours(tmp_path):
    async with running(tmp_path) as run:
        params = twilio_inbound("Hello", whatsapp=True)
        assert (await run.twilio("whatsapp", params)).status_code == 204
        await wait_for(lambda: run.fake.sms_to(f"whatsapp:{NUMBER}"), what="the reply")
        (reply,) = run.fake.sms_to(f"whatsapp:{NUMBER}")
        assert reply["From"] == WA_FROM and reply["Body"]
        conversation_id = await conversation_of(run, "twilio_whatsapp")
        customer = await run.services.store.get_customer(
            (await run.services.store.get_conversation(conversation_id)).customer_id
        )
        assert customer.name == "Maria" and customer.external_id == f"phone:{NUMBER}"

        await run.services.store.execute(
            "UPDATE channel_contacts SET last_inbound_at = ?", utcnow() - timedelta(days=2)
        )
        async with conversation_lock(run.services, conversation_id):
            await post(run.services, conversation_id, Author.AGENT, "Your refund was issued.")
        await wait_for(lambda: len(run.fake.sms_to(f"whatsapp:{NUMBER}")) == 2, what="template")
        template = run.fake.sms_to(f"whatsapp:{NUMBER}")[-1]
        assert "Body" not in template and template["ContentSid"] == TEMPLATE_SID
        assert json.loads(template["ContentVariables"]) == {"1": "Your refund was issued."}
        # On WhatsApp "cancel" is an answer, not an opt-out (the demo flows ask for it).
        await run.twilio("whatsapp", twilio_inbound("cancel", whatsapp=True))
        contact = await contacts.find(run.services.store, "demo", "twilio_whatsapp", NUMBER)
        assert contact.consent == "unknown"
        assert run.fake.problems == []


async def test_the_demo_order_tracking_flow_runs_end_to_end_over_sms(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        await run.twilio("sms", twilio_inbound("I want to track ORD-10234"))
        await wait_for(
            lambda: any("email" in m["Body"] for m in run.fake.sms_to(NUMBER)),
            what="the question for the email address",
        )
        await run.twilio("sms", twilio_inbound("maria@example.com"))
        await wait_for(
            lambda: any("shipped with UPS" in m["Body"] for m in run.fake.sms_to(NUMBER)),
            what="the tracking answer",
        )
        answer = next(m["Body"] for m in run.fake.sms_to(NUMBER) if "shipped with UPS" in m["Body"])
        assert "1Z999AA10123456784" in answer
        assert run.fake.problems == []


BUTTON_SIDS = {2: "HX" + "3" * 32, 3: "HX" + "4" * 32}


def quick_reply(count: int) -> dict[str, Any]:
    """A twilio/quick-reply template as the docs show one (twilio.com/docs/content/twilio-
    quick-reply): the body and each button's title and id are variables."""
    actions = [{"title": f"{{{{{n}}}}}", "id": f"{{{{{n}}}}}"} for n in range(2, count + 2)]
    return {"twilio/quick-reply": {"body": "{{1}}", "actions": actions}}


async def test_quick_replies_on_whatsapp_through_twilio_are_buttons_to_tap(tmp_path):
    options = {"whatsapp_button_sids": BUTTON_SIDS}
    async with running(tmp_path, workspace={"twilio": options}) as run:
        for count, sid in BUTTON_SIDS.items():
            run.fake.content(quick_reply(count), sid=sid)
        to = f"whatsapp:{NUMBER}"
        hello = twilio_inbound("Hello", whatsapp=True)
        assert (await run.twilio("whatsapp", hello)).status_code == 204
        await wait_for(lambda: run.fake.sms_to(to), what="the greeting")
        conversation_id = await conversation_of(run, "twilio_whatsapp")

        async def offer(text: str, replies: list[str]) -> dict[str, Any]:
            sent = len(run.fake.sms_to(to))
            async with conversation_lock(run.services, conversation_id):
                await post(run.services, conversation_id, Author.AGENT, text,
                           meta={"quick_replies": replies})  # fmt: skip
            await wait_for(lambda: len(run.fake.sms_to(to)) > sent, what="the offer")
            return run.fake.sms_to(to)[-1]

        # More than three, a title WhatsApp would cut, or no template for the count: the
        # numbered text stands, as on SMS.
        for replies in (["A", "B", "C", "D"], ["Yes, start the return", "No"], ["Only one"]):
            numbered = await offer("Pick one.", replies)
            assert "ContentSid" not in numbered and f"1. {replies[0]}" in numbered["Body"]
        sent = await offer("What can I do for you?", ["Track my order", "Talk to a person"])
        assert "Body" not in sent and sent["ContentSid"] == BUTTON_SIDS[2]
        assert json.loads(sent["ContentVariables"]) == {
            "1": "What can I do for you?", "2": "Track my order", "3": "Talk to a person",
        }  # fmt: skip
        assert sent["Content"] == {
            "body": "What can I do for you?",
            "buttons": [{"title": "Track my order", "id": "Track my order"},
                        {"title": "Talk to a person", "id": "Talk to a person"}],
        }  # fmt: skip  # as the customer's WhatsApp shows it
        # A tap comes back as the button's title (ButtonText) and id (ButtonPayload).
        tap = twilio_inbound(
            "Talk to a person", whatsapp=True,
            ButtonText="Talk to a person", ButtonPayload="Talk to a person",
        )  # fmt: skip
        assert (await run.twilio("whatsapp", tap)).status_code == 204
        assert (await run.customer_texts(conversation_id))[-1] == "Talk to a person"
        # Outside the 24-hour window only the approved template goes, never buttons.
        await run.services.store.execute(
            "UPDATE channel_contacts SET last_inbound_at = ?", utcnow() - timedelta(days=2)
        )
        late = await offer("Still there?", ["Yes", "No"])
        assert late["ContentSid"] == TEMPLATE_SID
        assert run.fake.problems == []
