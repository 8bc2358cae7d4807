"""The WhatsApp Cloud API channel against a local server replaying Meta's published formats
(tests/messaging_fakes.py): the webhook handshake, X-Hub-Signature-256, messages, button
and list replies, media and locations in, statuses as read receipts, replies out as text,
reply buttons and lists, the 24-hour window, STOP/START/HELP, outages, and the demo's order
flow end to end. Meta's own servers cannot be reached from here."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from smartsupport import outbox
from smartsupport.channels import contacts
from smartsupport.domain import Author, utcnow
from smartsupport.fanout import conversation_lock
from smartsupport.inbox.changes import post
from tests.messaging_fakes import (
    APP_SECRET,
    VERIFY_TOKEN,
    meta_signature,
    wa_message,
    wa_status,
    wa_text,
    whatsapp_webhook,
)
from tests.messagingkit import channel_secrets, running, settle, wait_for  # noqa: F401

WA_ID = "16505551234"


async def conversation_of(run, wa_id: str = WA_ID) -> str:
    contact = await contacts.find(run.services.store, "demo", "whatsapp", wa_id)
    assert contact is not None, "the address has a conversation"
    return contact.conversation_id


async def test_the_verification_handshake_answers_the_challenge_only_for_our_token(tmp_path):
    async with running(tmp_path) as run:
        query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
        ok = await run.http.get(
            "/api/v1/channels/whatsapp/demo", params={**query, "hub.verify_token": VERIFY_TOKEN}
        )
        assert ok.status_code == 200 and ok.text == "1158201444"
        wrong = await run.http.get(
            "/api/v1/channels/whatsapp/demo", params={**query, "hub.verify_token": "guess"}
        )
        assert wrong.status_code == 403
        unknown = await run.http.get("/api/v1/channels/whatsapp/nope", params=query)
        assert unknown.status_code == 404


async def test_a_message_is_answered_on_whatsapp_in_the_shapes_meta_accepts(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        response = await run.whatsapp(whatsapp_webhook([wa_text("Hello")]))
        assert response.status_code == 200, response.text
        assert response.json() == {"received": 1, "duplicates": 0, "statuses": 0}
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the reply")
        assert run.fake.problems == []
        conversation_id = await conversation_of(run)
        conversation = await run.services.store.get_conversation(conversation_id)
        assert conversation.channel == "whatsapp"
        customer = await run.services.store.get_customer(conversation.customer_id)
        assert customer.external_id == f"phone:+{WA_ID}" and customer.name == "Maria Lopez"
        assert await run.customer_texts(conversation_id) == ["Hello"]
        (entry,) = [e for e in await outbox.list_entries(run.services.store)]
        assert entry.kind == "whatsapp.send"
        await wait_for(lambda: run.fake.texts_to(WA_ID) and True, what="sent")


async def test_a_forged_or_missing_signature_is_refused_and_nothing_is_stored(tmp_path, caplog):
    async with running(tmp_path) as run:
        body = whatsapp_webhook([wa_text("Hello")])
        forged = await run.whatsapp(body, signature=meta_signature(body, "not-the-secret"))
        missing = await run.whatsapp(body, signature=None)
        tampered = await run.whatsapp(
            body.replace(b"Hello", b"Hallo"), signature=meta_signature(body, APP_SECRET)
        )
        for response in (forged, missing, tampered):
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"
        assert await run.services.store.list_conversations("demo") == []
        assert "bad or missing signature" in caplog.text


async def test_the_same_webhook_delivered_twice_stores_and_answers_one_message(
    tmp_path, database_url
):
    async with running(tmp_path, database_url) as run:
        body = whatsapp_webhook([wa_text("Do you ship to Norway?")])
        first = await run.whatsapp(body)
        again = await run.whatsapp(body)
        assert first.json()["received"] == 1
        assert again.json() == {"received": 0, "duplicates": 1, "statuses": 0}
        conversation_id = await conversation_of(run)
        assert await run.customer_texts(conversation_id) == ["Do you ship to Norway?"]
        await settle(run.services)
        entries = await outbox.list_entries(run.services.store)
        assert len({e.payload["message_id"] for e in entries}) == len(
            [m for m in await run.messages(conversation_id) if m.author is Author.BOT and m.seq > 1]
        )


async def test_a_malformed_payload_gets_a_4xx_and_a_log_line_never_a_500(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    async with running(tmp_path) as run:
        not_json = b"{not json"
        response = await run.whatsapp(not_json)
        assert response.status_code == 400 and "not JSON" in caplog.text
        for shape in (
            {"object": "page"},
            {"object": "whatsapp_business_account", "entry": "x"},
            {"object": "whatsapp_business_account", "entry": [{"changes": 1}]},
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": {
                    "metadata": {"phone_number_id": "106540352242922"},
                    "messages": [{"type": "text"}],
                }}]}],
            },
        ):  # fmt: skip
            caplog.clear()
            response = await run.whatsapp(json.dumps(shape).encode())
            assert response.status_code == 422, shape
            assert response.json()["error"]["code"] == "invalid_input"
            assert "refused" in caplog.text
        assert await run.services.store.list_conversations("demo") == []


async def test_quick_replies_become_reply_buttons_or_a_list_and_a_choice_comes_back(tmp_path):
    async with running(tmp_path) as run:
        await run.whatsapp(whatsapp_webhook([wa_text("Hi")]))
        conversation_id = await conversation_of(run)
        three = ["Track order", "Returns", "Talk to a person"]
        many = ["Where is my order?", "Shipping costs", "Return an item", "Talk to a person"]
        async with conversation_lock(run.services, conversation_id):
            await post(run.services, conversation_id, Author.AGENT, "Pick one",
                       meta={"quick_replies": three})  # fmt: skip
            await post(run.services, conversation_id, Author.AGENT, "Or one of these",
                       meta={"quick_replies": many})  # fmt: skip
        await wait_for(lambda: len(run.fake.texts_to(WA_ID)) >= 3, what="three messages")
        sent = {
            m["interactive"]["body"]["text"]: m
            for m in run.fake.texts_to(WA_ID)
            if m["type"] == "interactive"
        }
        buttons = sent["Pick one"]["interactive"]
        assert buttons["type"] == "button"
        assert [b["reply"]["title"] for b in buttons["action"]["buttons"]] == three
        listed = sent["Or one of these"]["interactive"]
        assert listed["type"] == "list"
        assert [r["title"] for r in listed["action"]["sections"][0]["rows"]] == many
        assert run.fake.problems == []

        row = listed["action"]["sections"][0]["rows"][1]
        reply = {"type": "list_reply", "list_reply": {"id": row["id"], "title": row["title"]}}
        await run.whatsapp(whatsapp_webhook([wa_message("interactive", reply)]))
        button = buttons["action"]["buttons"][2]["reply"]
        pressed = {"type": "button_reply", "button_reply": button}
        await run.whatsapp(whatsapp_webhook([wa_message("interactive", pressed)]))
        texts = await run.customer_texts(conversation_id)
        assert texts[-2:] == ["Shipping costs", "Talk to a person"]


async def test_media_and_locations_are_passed_on_with_their_ids(tmp_path):
    async with running(tmp_path) as run:
        image = wa_message(
            "image",
            {"caption": "My parcel arrived broken", "mime_type": "image/jpeg",
             "sha256": "abc=", "id": "1003383421387256"},
        )  # fmt: skip
        voice = wa_message(
            "audio", {"mime_type": "audio/ogg; codecs=opus", "id": "2003", "voice": True}
        )
        place = wa_message(
            "location",
            {"latitude": 52.52, "longitude": 13.405, "name": "Home", "address": "Berlin"},
        )
        response = await run.whatsapp(whatsapp_webhook([image, voice, place]))
        assert response.json()["received"] == 3
        stored = [
            m for m in await run.messages(await conversation_of(run)) if m.author is Author.CUSTOMER
        ]
        assert [m.text for m in stored][:2] == ["My parcel arrived broken", "[voice message]"]
        assert stored[0].meta["media"] == [
            {"kind": "image", "id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "abc="}
        ]
        assert stored[1].meta["media"][0]["voice"] is True
        assert stored[2].text.startswith("📍 Home, Berlin")
        assert stored[2].meta["location"]["latitude"] == 52.52


async def test_delivery_statuses_become_read_receipts_and_never_go_backwards(
    tmp_path, database_url
):
    async with running(tmp_path, database_url) as run:
        await run.whatsapp(whatsapp_webhook([wa_text("Hello")]))
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the reply")
        await settle(run.services)
        done = [e for e in await outbox.list_entries(run.services.store) if e.status == "done"]
        wamid, message_id = done[0].result["wamid"], done[0].payload["message_id"]
        for status in ("delivered", "read", "sent"):  # the late "sent" must not win
            response = await run.whatsapp(whatsapp_webhook(statuses=[wa_status(wamid, status)]))
            assert response.status_code == 200
        (message,) = [
            m for m in await run.messages(await conversation_of(run)) if m.id == message_id
        ]
        assert message.meta["delivery"]["status"] == "read"
        failed = wa_status(
            wamid, "failed", errors=[{"code": 131026, "title": "Message undeliverable"}]
        )
        response = await run.whatsapp(whatsapp_webhook(statuses=[failed]))
        assert response.json()["statuses"] == 1


async def test_a_graph_outage_or_rate_limit_delays_the_reply_and_loses_nothing(tmp_path):
    async with running(tmp_path, outbox_poll_seconds=60) as run:
        run.fake.fail(500, times=None, path_prefix="/v21.0")
        await run.whatsapp(whatsapp_webhook([wa_text("When will I get my refund?")]))
        now = utcnow()
        for minute in range(0, 30, 3):
            await outbox.run_due(run.services, now=now + timedelta(minutes=minute))
        entries = await outbox.list_entries(run.services.store)
        assert entries and all(e.status == "pending" and e.attempts >= 2 for e in entries)
        assert run.fake.whatsapp_sent == []

        run.fake.recover()
        rate_limited = {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                                  "code": 130429, "fbtrace_id": "x"}}  # fmt: skip
        run.fake.fail(400, times=1, path_prefix="/v21.0", body=rate_limited)
        await outbox.run_due(run.services, now=now + timedelta(hours=1))
        await outbox.run_due(run.services, now=now + timedelta(hours=2))
        entries = await outbox.list_entries(run.services.store)
        assert all(e.status == "done" for e in entries), [(e.status, e.last_error) for e in entries]
        assert len(run.fake.texts_to(WA_ID)) == len(entries), "each reply sent once"


async def test_outside_the_24_hour_window_only_the_approved_template_goes_out(tmp_path):
    async with running(tmp_path) as run:
        await run.whatsapp(whatsapp_webhook([wa_text("Hello")]))
        conversation_id = await conversation_of(run)
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the reply")
        await run.services.store.execute(  # the customer last wrote two days ago
            "UPDATE channel_contacts SET last_inbound_at = ?", utcnow() - timedelta(days=2)
        )
        before = len(run.fake.whatsapp_sent)
        async with conversation_lock(run.services, conversation_id):
            await post(
                run.services, conversation_id, Author.AGENT, "Your refund was issued.\nSorry!"
            )
        await wait_for(lambda: len(run.fake.whatsapp_sent) > before, what="the template")
        template = run.fake.whatsapp_sent[-1]
        assert template["type"] == "template"
        assert template["template"]["name"] == "support_follow_up"
        (parameter,) = template["template"]["components"][0]["parameters"]
        assert parameter["text"] == "Your refund was issued. Sorry!"
        assert run.fake.problems == []


async def test_without_a_template_a_late_reply_is_a_dead_letter_that_says_why(tmp_path):
    async with running(tmp_path, workspace={"whatsapp": {"template": None}}) as run:
        await run.whatsapp(whatsapp_webhook([wa_text("Hello")]))
        conversation_id = await conversation_of(run)
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the reply")
        await run.services.store.execute(
            "UPDATE channel_contacts SET last_inbound_at = ?", utcnow() - timedelta(days=2)
        )
        async with conversation_lock(run.services, conversation_id):
            await post(run.services, conversation_id, Author.AGENT, "Late answer")
        await settle(run.services)
        (dead,) = await outbox.list_entries(run.services.store, status="dead")
        assert "24 hours" in dead.last_error and "whatsapp.template" in dead.last_error


async def test_stop_start_and_help_are_honoured_and_stored(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        await run.whatsapp(whatsapp_webhook([wa_text("Hello")]))
        conversation_id = await conversation_of(run)
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the greeting reply")
        await settle(run.services)
        before = len(run.fake.texts_to(WA_ID))

        await run.whatsapp(whatsapp_webhook([wa_text("STOP")]))
        contact = await contacts.find(run.services.store, "demo", "whatsapp", WA_ID)
        assert contact.consent == "out"
        await wait_for(lambda: len(run.fake.texts_to(WA_ID)) == before + 1, what="the confirmation")
        assert "START" in run.fake.texts_to(WA_ID)[-1]["text"]["body"]
        async with conversation_lock(run.services, conversation_id):
            await post(run.services, conversation_id, Author.AGENT, "Are you still there?")
        await settle(run.services)
        assert len(run.fake.texts_to(WA_ID)) == before + 1, "nothing after STOP"
        skipped = [
            e
            for e in await outbox.list_entries(run.services.store)
            if (e.result or {}).get("skipped")
        ]
        assert skipped and skipped[0].result["skipped"] == "opted_out"

        await run.whatsapp(whatsapp_webhook([wa_text("start")]))
        assert (await contacts.find(run.services.store, "demo", "whatsapp", WA_ID)).consent == "in"
        await run.whatsapp(whatsapp_webhook([wa_text("HELP")]))
        await wait_for(
            lambda: len(run.fake.texts_to(WA_ID)) == before + 3, what="START and HELP answers"
        )
        assert "Northwind" in run.fake.texts_to(WA_ID)[-1]["text"]["body"]
        stored = await run.messages(conversation_id)
        keywords = [m.meta.get("keyword") for m in stored if m.author is Author.CUSTOMER]
        assert keywords[-3:] == ["stop", "start", "help"]
        # "stop" inside a sentence is a question for the assistant, not a keyword
        await run.whatsapp(whatsapp_webhook([wa_text("please stop my order")]))
        assert (await contacts.find(run.services.store, "demo", "whatsapp", WA_ID)).consent == "in"


async def test_the_demo_order_tracking_flow_runs_end_to_end_on_whatsapp(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        await run.whatsapp(whatsapp_webhook([wa_text("I want to track ORD-10234")]))
        await wait_for(
            lambda: any("email" in json.dumps(m) for m in run.fake.texts_to(WA_ID)),
            what="the question for the email address",
        )
        await run.whatsapp(whatsapp_webhook([wa_text("maria@example.com")]))
        await wait_for(
            lambda: any("shipped with UPS" in json.dumps(m) for m in run.fake.texts_to(WA_ID)),
            what="the tracking answer",
        )
        answer = next(m for m in run.fake.texts_to(WA_ID) if "shipped with UPS" in json.dumps(m))
        assert "1Z999AA10123456784" in json.dumps(answer)
        assert run.fake.problems == []
