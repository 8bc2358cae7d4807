"""A flow schedules a proactive message: the demo's return flow reminds the customer the day
before the return label expires, on the conversation's channel, in the flow's language. The
reminder is written with the turn (deciding stays pure), is one message however often the turn
is replayed, waits durably for its time, and an address that opted out gets nothing, with the
reason recorded. A wrong step in flows.yaml stops loading with the fix named."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smartsupport import outbox, wire
from smartsupport.context import ConversationContext
from smartsupport.dialogue import scheduling
from smartsupport.dialogue.loading import load_flows
from smartsupport.dialogue.schema import ScheduleStep
from smartsupport.domain import Author, Conversation, Message, Understanding, utcnow
from smartsupport.errors import ConfigurationError
from smartsupport.proactive_request import KIND
from smartsupport.turn import Turn
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir
from tests.appkit import say, start
from tests.messaging_fakes import twilio_inbound
from tests.messagingkit import channel_secrets, running, settle, wait_for  # noqa: F401

NUMBER = "+15551234567"  # twilio_inbound's sender
REMINDER = "Reminder: the return label for order ORD-10238"


async def reminders(services: Any) -> list[outbox.Entry]:
    return [e for e in await outbox.list_entries(services.store, limit=500) if e.kind == KIND]


async def return_over_the_web(http: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The demo return flow in the widget, up to the confirmation; returns the conversation
    and the confirming turn's request body."""
    conversation = await start(http)
    asked = await say(http, conversation, "I want to return my shoes, order ORD-10238", "c1")
    assert "email" in asked.json()["replies"][-1]["text"], asked.json()
    await say(http, conversation, "maria@example.com", "c2")
    confirm = await say(http, conversation, "Damaged", "c3")
    assert confirm.json()["replies"][-1]["text"].startswith("Start a return for order ORD-10238")
    return conversation, {"text": "Yes, start the return", "client_id": "c4"}


async def test_a_return_in_the_widget_schedules_one_reminder_for_the_day_before_the_label_expires(
    tmp_path, database_url
):
    async with running(tmp_path, database_url) as run:
        conversation, yes = await return_over_the_web(run.http)
        before = utcnow()
        done = await say(run.http, conversation, yes["text"], yes["client_id"])
        assert "Your return is registered" in done.json()["replies"][-1]["text"]
        # The same turn again (a retry after a lost response): nothing new is scheduled.
        again = await say(run.http, conversation, yes["text"], yes["client_id"])
        assert again.headers.get("Idempotent-Replay") == "true"
        (entry,) = await reminders(run.services)
        assert entry.payload["conversation_id"] == conversation["id"]
        assert (
            entry.payload["text"].startswith(REMINDER)
            and "expires tomorrow" in entry.payload["text"]
        )
        # Due the day before the label expires (the shop issues it for 14 days).
        due = entry.next_attempt_at
        assert before + timedelta(days=13) - timedelta(minutes=1) <= due
        assert due <= utcnow() + timedelta(days=13)
        # Dated from its due time: the outbox's give-up age starts then, not at the turn.
        assert entry.created_at == due
        events = await run.services.store.list_events("demo", conversation_id=conversation["id"])
        assert [e.data["message"] for e in events if e.type == "flow.scheduled"] == [
            "label_reminder"
        ]

        # Not before its time; then it reaches the widget: stored and published.
        await outbox.run_due(run.services, now=due - timedelta(hours=1))
        assert (await reminders(run.services))[0].status == "pending"
        live = await run.services.backplane.subscribe(wire.conversation_channel(conversation["id"]))
        try:
            await outbox.run_due(run.services, now=due + timedelta(seconds=1))
            async with asyncio.timeout(5):
                published = await anext(aiter(live))
        finally:
            await live.close()
        assert REMINDER in str(published)
        (sent,) = await reminders(run.services)
        assert sent.status == "done" and "message_id" in (sent.result or {})
        stored = await run.services.store.list_messages(conversation["id"])
        proactive = [m for m in stored if m.meta.get("step") == "proactive"]
        assert len(proactive) == 1 and proactive[0].author is Author.BOT
        assert proactive[0].text.startswith(REMINDER)


async def sms_return(run: Any, sender: str = NUMBER) -> None:
    """The demo return flow over SMS, to the registered return."""
    steps = [
        ("I want to return my shoes, order ORD-10238", "email"),
        ("maria@example.com", "reason"),
        ("Damaged", "Start a return"),
        ("Yes, start the return", "Your return is registered"),
    ]
    for text, expected in steps:
        await run.twilio("sms", twilio_inbound(text, sender=sender))
        await wait_for(
            lambda expected=expected: any(expected in m["Body"] for m in run.fake.sms_to(sender)),
            what=f"the answer containing {expected!r}",
        )


async def test_the_reminder_goes_out_over_sms_when_due_even_after_a_restart(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        await sms_return(run)
        (entry,) = await reminders(run.services)
        due = entry.next_attempt_at
        assert not [m for m in run.fake.sms_to(NUMBER) if m["Body"].startswith(REMINDER)]
    async with running(tmp_path, database_url) as run:  # a restarted process, same database
        await outbox.run_due(run.services, now=due + timedelta(seconds=1))
        await wait_for(lambda: run.fake.sms_to(NUMBER), what="the reminder")
        (sent,) = run.fake.sms_to(NUMBER)
        assert sent["Body"].startswith(REMINDER)
        assert len(await reminders(run.services)) == 1
        assert run.fake.problems == []


async def test_an_opted_out_customer_gets_no_reminder_and_the_reason_is_recorded(
    tmp_path, database_url
):
    async with running(tmp_path, database_url) as run:
        await sms_return(run)
        await run.twilio("sms", twilio_inbound("STOP"))
        await settle(run.services)
        sent_before = len(run.fake.sms_to(NUMBER))
        (entry,) = await reminders(run.services)
        await outbox.run_due(run.services, now=entry.next_attempt_at + timedelta(seconds=1))
        await settle(run.services)
        assert len(run.fake.sms_to(NUMBER)) == sent_before
        (skipped,) = await reminders(run.services)
        assert skipped.status == "done" and skipped.result == {"skipped": "opted_out"}
        conversation_id = entry.payload["conversation_id"]
        events = await run.services.store.list_events("demo", conversation_id=conversation_id)
        (why,) = [e.data for e in events if e.type == "proactive.skipped"]
        assert why["reason"] == "opted_out" and why["channel"] == "sms"
        stored = await run.services.store.list_messages(conversation_id)
        assert not [m for m in stored if m.meta.get("step") == "proactive"]


# -- the step itself -----------------------------------------------------------------------


def demo_turn(conversation_id: str = "conv-1", channel: str = "web") -> Turn:
    workspace = load_workspace_dir(DEMO_DIR)
    conversation = Conversation(conversation_id, workspace.id, "cust-1", channel=channel)
    message = Message("m1", conversation_id, 1, Author.CUSTOMER, "yes")

    async def stream(_: str) -> None:
        return None

    context = ConversationContext(conversation_id)
    return Turn(workspace, conversation, message, context, Understanding(language="en"), stream)


def test_the_same_step_on_the_same_data_is_the_same_message():
    step = ScheduleStep.model_validate(
        {"schedule_message": "label_reminder", "at": "created.expires", "offset": "-1d",
         "say": "Your label expires tomorrow."}
    )  # fmt: skip
    scope = {"created": {"expires": "2026-12-20T10:00:00+01:00"}}
    first = scheduling.plan(step, "return_item", "Your label expires tomorrow.", scope, utcnow())
    later = scheduling.plan(step, "return_item", "Your label expires tomorrow.", scope, utcnow())
    assert first.send_at == datetime(2026, 12, 19, 9, 0, tzinfo=UTC) == later.send_at
    [one], _ = scheduling.outbox_items(demo_turn(), [first])
    [two], _ = scheduling.outbox_items(demo_turn(), [later])
    assert one.idempotency_key == two.idempotency_key  # a replay writes nothing new
    [other], _ = scheduling.outbox_items(demo_turn("conv-2"), [first])
    assert other.idempotency_key != one.idempotency_key  # another customer's is their own
    # A date alone is its midnight, UTC; `after` counts from now.
    dated = step.model_copy(update={"offset": None})
    assert scheduling.send_time(dated, {"created": {"expires": "2026-12-20"}}, utcnow()) == (
        datetime(2026, 12, 20, tzinfo=UTC)
    )
    now = utcnow()
    later_step = ScheduleStep.model_validate(
        {"schedule_message": "nudge", "after": "2h30m", "say": "x"}
    )
    assert scheduling.send_time(later_step, {}, now) == now + timedelta(hours=2, minutes=30)


def test_a_channel_that_takes_no_proactive_messages_is_recorded_not_scheduled():
    step = ScheduleStep.model_validate({"schedule_message": "nudge", "after": "1d", "say": "x"})
    planned = scheduling.plan(step, "return_item", "x", {}, utcnow())
    items, events = scheduling.outbox_items(demo_turn(channel="email"), [planned])
    assert items == []
    assert events[0][0] == "flow.not_scheduled" and "email" in events[0][1]["error"]


def flows_with(step: dict[str, Any]) -> dict[str, Any]:
    return {"flows": {"remind": {"intents": ["remind"], "steps": [step, {"end": "completed"}]}}}


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"schedule_message": "r", "after": "tomorrow", "say": "x"},
         "'tomorrow' is not a duration; write a duration such as 30m, 12h, 13d"),
        ({"schedule_message": "r", "say": "x"}, "give `after` (a delay from now"),
        ({"schedule_message": "r", "after": "1d", "at": "order.eta", "say": "x"}, "exactly one"),
        ({"schedule_message": "r", "after": "1d", "offset": "-1d", "say": "x"},
         "`offset` moves `at`"),
        ({"schedule_message": "r", "after": "-1d", "say": "x"}, "`at` with a negative `offset`"),
        ({"schedule_message": "Label Reminder", "after": "1d", "say": "x"},
         "name the message in lower case"),
        ({"schedule_message": "r", "at": "order.eta +", "say": "x"}, "steps[0].at"),
        ({"schedule_message": "r", "after": "1d"}, "say: Field required"),
        ({"schedule_message": "r", "after": "1d", "say": "x", "send_at": "1d"},
         "send_at: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_a_wrong_schedule_message_step_stops_loading_with_the_fix_named(step, words):
    with pytest.raises(ConfigurationError) as raised:
        load_flows(flows_with(step), "acme/flows.yaml", default_language="en")
    message = str(raised.value)
    assert "acme/flows.yaml" in message and "flow 'remind', steps[0]" in message
    assert words in message, message


def test_data_without_a_time_skips_the_reminder_and_says_why():
    step = ScheduleStep.model_validate(
        {"schedule_message": "r", "at": "created.expires", "say": "x"}
    )
    with pytest.raises(scheduling.ScheduleError, match="not a date or time"):
        scheduling.plan(step, "f", "x", {"created": {}}, utcnow())
    with pytest.raises(scheduling.ScheduleError, match="not an ISO 8601"):
        scheduling.plan(step, "f", "x", {"created": {"expires": "soon"}}, utcnow())
