"""Proactive messages: the business's systems send a notification or reminder on the
customer's channel through the API; opt-out and opt-in are respected at send time,
WhatsApp's 24-hour window is answered with an approved template, scheduled sends survive a
restart, and one idempotency key is one message."""

from __future__ import annotations

from datetime import timedelta

from smartsupport import outbox
from smartsupport.channels import contacts
from smartsupport.domain import Author, utcnow
from tests.messaging_fakes import twilio_inbound, wa_text, whatsapp_webhook
from tests.messagingkit import channel_secrets, running, settle, wait_for  # noqa: F401

URL = "/api/v1/workspaces/demo/proactive"
WA_ID = "16505551234"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_notification_reaches_a_new_customer_on_whatsapp_as_a_template(
    tmp_path, database_url
):
    async with running(tmp_path, database_url) as run:
        key = await run.api_key()
        body = {
            "channel": "whatsapp",
            "to": f"+{WA_ID}",
            "text": "Your order ORD-10234 has shipped.",
            "template": {"name": "order_shipped", "language": "en_US",
                         "parameters": ["ORD-10234", "UPS"]},
            "idempotency_key": "ship-ORD-10234",
        }  # fmt: skip
        response = await run.http.post(URL, json=body, headers=bearer(key))
        assert response.status_code == 202, response.text
        scheduled = response.json()
        assert scheduled["status"] in ("scheduled", "sent")
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the notification")
        (sent,) = run.fake.texts_to(WA_ID)
        # Never written to us: outside the 24-hour window, only the template may go.
        assert sent["type"] == "template" and sent["template"]["name"] == "order_shipped"
        parameters = sent["template"]["components"][0]["parameters"]
        assert [p["text"] for p in parameters] == ["ORD-10234", "UPS"]
        assert run.fake.problems == []

        again = await run.http.post(URL, json=body, headers=bearer(key))
        assert again.json()["id"] == scheduled["id"], "one key, one message"
        await settle(run.services)
        status = await run.http.get(f"{URL}/{scheduled['id']}", headers=bearer(key))
        assert status.json()["status"] == "sent"
        stored = await run.messages(status.json()["conversation_id"])
        proactive = [m for m in stored if m.meta.get("step") == "proactive"]
        assert len(proactive) == 1 and proactive[0].author is Author.BOT
        assert len(run.fake.texts_to(WA_ID)) == 1


async def test_inside_the_window_the_text_itself_goes_out(tmp_path):
    async with running(tmp_path) as run:
        await run.whatsapp(whatsapp_webhook([wa_text("Hello")]))
        await wait_for(lambda: run.fake.texts_to(WA_ID), what="the reply")
        await settle(run.services)
        before = len(run.fake.texts_to(WA_ID))
        key = await run.api_key()
        body = {"channel": "whatsapp", "to": f"+{WA_ID}", "text": "Your label expires tomorrow."}
        await run.http.post(URL, json=body, headers=bearer(key))
        await wait_for(lambda: len(run.fake.texts_to(WA_ID)) > before, what="the reminder")
        sent = run.fake.texts_to(WA_ID)[-1]
        assert sent["type"] == "text" and sent["text"]["body"] == "Your label expires tomorrow."


async def test_opted_out_customers_get_nothing_and_opt_in_is_required_when_asked(tmp_path):
    async with running(tmp_path) as run:
        key = await run.api_key()
        number = "+15551234567"
        await run.twilio("sms", twilio_inbound("STOP"))
        await settle(run.services)
        sent_before = len(run.fake.sms_to(number))
        notice = {"channel": "sms", "to": number, "text": "Your order shipped."}
        skipped = (await run.http.post(URL, json=notice, headers=bearer(key))).json()
        marketing = {"channel": "sms", "to": "+15559876543", "text": "20% off this weekend",
                     "require_opt_in": True}  # fmt: skip
        no_opt_in = (await run.http.post(URL, json=marketing, headers=bearer(key))).json()
        await settle(run.services)
        for scheduled, why in ((skipped, "opted_out"), (no_opt_in, "no_opt_in")):
            status = (await run.http.get(f"{URL}/{scheduled['id']}", headers=bearer(key))).json()
            assert status["status"] == "skipped" and status["detail"] == why
        assert len(run.fake.sms_to(number)) == sent_before
        assert run.fake.sms_to("+15559876543") == []

        # The business recorded an opt-in at checkout: now the offer may go.
        consent = await run.http.put(
            "/api/v1/workspaces/demo/contacts/sms/+15559876543/consent",
            json={"consent": "in"},
            headers=bearer(key),
        )
        assert consent.status_code == 200, consent.text
        await run.http.post(URL, json=marketing, headers=bearer(key))
        await wait_for(lambda: run.fake.sms_to("+15559876543"), what="the offer")


async def test_a_scheduled_send_waits_for_its_time_and_survives_a_restart(tmp_path, database_url):
    send_at = utcnow() + timedelta(days=1)
    async with running(tmp_path, database_url) as run:
        key = await run.api_key()
        body = {"channel": "sms", "to": "+15551112222", "text": "Your return label expires today.",
                "send_at": send_at.isoformat()}  # fmt: skip
        scheduled = (await run.http.post(URL, json=body, headers=bearer(key))).json()
        assert scheduled["status"] == "scheduled"
        await settle(run.services)
        assert run.fake.sms_to("+15551112222") == []
    async with running(tmp_path, database_url) as run:  # a restarted process, same database
        await outbox.run_due(run.services, now=send_at + timedelta(seconds=1))
        await settle(run.services)
        (entry,) = [
            e for e in await outbox.list_entries(run.services.store) if e.kind == "twilio.send"
        ]
        await outbox.run_due(run.services, now=send_at + timedelta(seconds=2))
        await wait_for(lambda: run.fake.sms_to("+15551112222"), what="the reminder")
        assert run.fake.sms_to("+15551112222")[0]["Body"] == "Your return label expires today."
        assert entry.payload["text"] == "Your return label expires today."


async def test_a_scheduled_send_can_be_cancelled_until_it_goes_out(tmp_path, database_url):
    send_at = utcnow() + timedelta(hours=2)
    async with running(tmp_path, database_url) as run:
        key = await run.api_key()
        body = {"channel": "sms", "to": "+15553334444", "text": "See you at 3 pm tomorrow.",
                "send_at": send_at.isoformat()}  # fmt: skip
        scheduled = (await run.http.post(URL, json=body, headers=bearer(key))).json()
        cancelled = await run.http.delete(f"{URL}/{scheduled['id']}", headers=bearer(key))
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        # Its time comes and nothing goes out; asked again, it stays cancelled.
        await outbox.run_due(run.services, now=send_at + timedelta(seconds=1))
        await settle(run.services)
        assert run.fake.sms_to("+15553334444") == []
        again = await run.http.delete(f"{URL}/{scheduled['id']}", headers=bearer(key))
        assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"
        state = await run.http.get(f"{URL}/{scheduled['id']}", headers=bearer(key))
        assert state.json()["status"] == "cancelled"
        # A sent message cannot be called back.
        now = (await run.http.post(URL, json={**body, "send_at": None}, headers=bearer(key))).json()
        await wait_for(lambda: run.fake.sms_to("+15553334444"), what="the immediate send")
        late = await run.http.delete(f"{URL}/{now['id']}", headers=bearer(key))
        assert late.status_code == 409
        unknown = await run.http.delete(f"{URL}/nope", headers=bearer(key))
        assert unknown.status_code == 404


async def test_bad_requests_are_refused_with_the_fix_named(tmp_path):
    async with running(tmp_path, workspace={"twilio": None}) as run:
        key = await run.api_key()
        for body, words in (
            ({"channel": "sms", "to": "+15551234567", "text": "x"}, "no sms channel"),
            ({"channel": "whatsapp", "to": "0151-123", "text": "x"}, "E.164"),
        ):
            response = await run.http.post(URL, json=body, headers=bearer(key))
            assert response.status_code == 422 and words in response.json()["error"]["message"]
        other = await run.http.post(
            "/api/v1/workspaces/other/proactive",
            json={"channel": "api", "to": "u", "text": "x"},
            headers=bearer(key),
        )
        assert other.status_code == 403
        assert await contacts.find(run.services.store, "demo", "sms", "+15551234567") is None
