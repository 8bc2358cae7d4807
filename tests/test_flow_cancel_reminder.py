"""A flow calls back a message it scheduled: the demo's refund flow, finding the refund of a
return issued (the parcel reached the warehouse), cancels the label reminder the return flow
scheduled. The pending outbox row is finished unrun in the turn's own transaction (deciding
stays pure: the Decision carries the call-back), on SQLite and PostgreSQL; a row a worker
holds, another workspace's, or one already sent is never touched; a wrong step stops loading
with the fix named. A reminder marked ``unless_handed_over`` is skipped when it falls due
while a person holds the conversation."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from smartsupport import outbox, proactive_api
from smartsupport.conversation import set_status
from smartsupport.dialogue import scheduling
from smartsupport.dialogue.engine import Engine, RunResult, new_frame
from smartsupport.dialogue.loading import load_flows
from smartsupport.dialogue.schema import CancelStep, ScheduleStep
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    OutboxCancel,
    OutboxItem,
    Workspace,
    utcnow,
)
from smartsupport.errors import ConfigurationError, NotFound
from smartsupport.ids import new_id
from smartsupport.storage import open_store
from tests.appkit import say
from tests.messagingkit import Running, channel_secrets, running  # noqa: F401 - secrets fixture
from tests.test_flow_proactive import REMINDER, demo_turn, reminders, return_over_the_web

# -- the demo, end to end ------------------------------------------------------------------


def issue_refund(run: Running, order_id: str) -> None:
    """What the warehouse does when the returned parcel arrives: the shop issues the refund.
    (The flows' shop is the one of the workspace's directory.)"""
    workspace = run.services.workspace("demo")
    order = run.app.state.shops.get(Path(workspace.source_dir or ".") / "shop.json").orders[
        order_id
    ]
    order["refund"] = {**order["refund"], "status": "issued", "issued": date.today().isoformat()}


async def test_a_refund_issued_for_the_return_calls_back_its_label_reminder(tmp_path, database_url):
    async with running(tmp_path, database_url) as run:
        conversation, yes = await return_over_the_web(run.http)
        done = await say(run.http, conversation, yes["text"], yes["client_id"])
        assert "Your return is registered" in done.json()["replies"][-1]["text"]
        (entry,) = await reminders(run.services)
        assert entry.status == "pending"

        issue_refund(run, "ORD-10238")
        asked = await say(run.http, conversation, "Where is my refund for order ORD-10238?", "c5")
        assert "was issued" in asked.json()["replies"][-1]["text"], asked.json()

        (cancelled,) = await reminders(run.services)
        assert cancelled.id == entry.id and cancelled.status == "done"
        assert cancelled.result == {
            "cancelled": "flow refund_status: cancel_message label_reminder"
        }
        assert proactive_api._out(cancelled)["status"] == "cancelled"  # as the API shows it
        events = await run.services.store.list_events("demo", conversation_id=conversation["id"])
        (unscheduled,) = [e.data for e in events if e.type == "flow.unscheduled"]
        assert unscheduled["message"] == "label_reminder"
        assert unscheduled["key"] == f"flow:{conversation['id']}:return-label-ORD-10238"

        # Its time comes: nothing is sent or stored, and asking again changes nothing.
        await outbox.run_due(run.services, now=entry.next_attempt_at + timedelta(seconds=1))
        stored = await run.services.store.list_messages(conversation["id"])
        assert not [m for m in stored if m.meta.get("step") == "proactive"]
        assert not [m for m in stored if m.text.startswith(REMINDER)]
        await say(run.http, conversation, "Where is my refund for order ORD-10238?", "c6")
        assert [e.status for e in await reminders(run.services)] == ["done"]


async def test_a_reminder_due_while_a_person_holds_the_conversation_is_skipped(tmp_path):
    async with running(tmp_path) as run:
        conversation, yes = await return_over_the_web(run.http)
        await say(run.http, conversation, yes["text"], yes["client_id"])
        (entry,) = await reminders(run.services)
        assert entry.payload["unless_handed_over"] is True  # the demo's label reminder
        await set_status(
            run.services, conversation["id"], ConversationStatus.WITH_AGENT, "an agent took it"
        )
        await outbox.run_due(run.services, now=entry.next_attempt_at + timedelta(seconds=1))
        (skipped,) = await reminders(run.services)
        assert skipped.status == "done" and skipped.result == {"skipped": "handed_over"}
        events = await run.services.store.list_events("demo", conversation_id=conversation["id"])
        (why,) = [e.data for e in events if e.type == "proactive.skipped"]
        assert why["reason"] == "handed_over"
        stored = await run.services.store.list_messages(conversation["id"])
        assert not [m for m in stored if m.meta.get("step") == "proactive"]


# -- the store: one transaction ------------------------------------------------------------


@pytest.fixture
async def store(database_url):
    store = open_store(database_url)
    await store.connect()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def new_conversation(store: Any, workspace: str) -> Conversation:
    await store.upsert_workspace(Workspace(id=workspace, name=workspace))
    customer = await store.create_customer(Customer(id=new_id(), workspace_id=workspace))
    return await store.create_conversation(
        Conversation(id=new_id(), workspace_id=workspace, customer_id=customer.id)
    )


def reminder(key: str) -> OutboxItem:
    later = utcnow() + timedelta(days=3)
    return OutboxItem("proactive.send", {"conversation_id": "c", "text": "x"}, key, later)


async def statuses(store: Any) -> dict[str, tuple[str, Any]]:
    entries = await outbox.list_entries(store, limit=100)
    return {e.idempotency_key: (e.status, e.result) for e in entries}


async def test_record_turn_calls_back_pending_rows_by_key_or_prefix_with_the_turn(store):
    conversation = await new_conversation(store, "acme")
    other = await new_conversation(store, "other")
    for key in ("k:exact", "k:pre:1", "k:pre:2", "k:prelude", "k:held", "k:sent"):
        await outbox.enqueue(store, "acme", reminder(key))
    await outbox.enqueue(store, "other", reminder("k:pre:other"))  # another workspace's
    far = utcnow() + timedelta(minutes=5)
    await store.execute(
        "UPDATE outbox SET locked_until = ? WHERE idempotency_key = ?", far, "k:held"
    )
    await store.execute("UPDATE outbox SET status = 'done' WHERE idempotency_key = 'k:sent'")
    why = {"cancelled": "test"}
    cancel = [
        OutboxCancel("proactive.send", "k:exact", result=why),
        OutboxCancel("proactive.send", "k:pre:", prefix=True, result=why),
        OutboxCancel("proactive.send", "k:held", result=why),  # a worker is sending it
        OutboxCancel("proactive.send", "k:sent", result=why),
        OutboxCancel("notify.slack", "k:prelude", result=why),  # the kind must match too
    ]
    said = Message(new_id(), conversation.id, 0, Author.CUSTOMER, "the parcel arrived")
    await store.record_turn(conversation.id, [said], outbox=[reminder("k:new")], cancel=cancel)
    found = await statuses(store)
    assert found["k:exact"] == found["k:pre:1"] == found["k:pre:2"] == ("done", why)
    assert found["k:prelude"] == found["k:held"] == found["k:pre:other"] == ("pending", None)
    assert found["k:sent"] == ("done", None) and found["k:new"] == ("pending", None)
    assert [m.text for m in await store.list_messages(conversation.id)] == ["the parcel arrived"]
    assert other.workspace_id == "other"

    # A turn that cannot be stored calls nothing back.
    await outbox.enqueue(store, "acme", reminder("k:kept"))
    with pytest.raises(NotFound):
        await store.record_turn("no-such-conversation", [], cancel=[
            OutboxCancel("proactive.send", "k:kept", result=why)
        ])  # fmt: skip
    assert (await statuses(store))["k:kept"] == ("pending", None)


# -- the step ------------------------------------------------------------------------------

SCHEDULE = {"schedule_message": "label_reminder", "after": "13d", "say": "Your label expires."}


def test_the_call_back_names_the_very_key_the_schedule_step_wrote():
    turn = demo_turn("conv-7")
    keyed = ScheduleStep.model_validate({**SCHEDULE, "key": "return-{{ r }}"})
    planned = scheduling.plan(keyed, "return_item", "Your label expires.", {"r": 5}, utcnow())
    [item], _ = scheduling.outbox_items(turn, [planned])
    step = CancelStep.model_validate({"cancel_message": "label_reminder", "key": "return-{{ r }}"})
    called_back = scheduling.unplan(step, "refund_status", {"r": 5})
    [cancel], events = scheduling.cancellations(turn, [called_back])
    assert cancel.key == item.idempotency_key and not cancel.prefix
    assert cancel.kind == item.kind == "proactive.send"
    assert events == [("flow.unscheduled", {
        "flow": "refund_status", "message": "label_reminder", "key": "flow:conv-7:return-5",
    })]  # fmt: skip
    # Without a key (its schedule step has none): every pending message of that name.
    plain = ScheduleStep.model_validate(SCHEDULE)
    planned = scheduling.plan(plain, "return_item", "Your label expires.", {}, utcnow())
    [item], _ = scheduling.outbox_items(turn, [planned])
    nameless = scheduling.unplan(CancelStep(cancel_message="label_reminder"), "f", {})
    [cancel], _ = scheduling.cancellations(turn, [nameless])
    assert cancel.prefix and item.idempotency_key.startswith(cancel.key)
    [other], _ = scheduling.cancellations(demo_turn("conv-8"), [nameless])
    assert not item.idempotency_key.startswith(other.key)  # another conversation's is its own
    with pytest.raises(scheduling.ScheduleError, match="rendered empty"):
        scheduling.unplan(step.model_copy(update={"key": "{{ r }}"}), "f", {"r": " "})


def flows(*steps: dict[str, Any], scheduled: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "flows": {
            "remind": {
                "intents": ["remind"],
                "steps": [scheduled or SCHEDULE, {"end": "completed"}],
            },
            "arrived": {"intents": ["arrived"], "steps": [*steps, {"end": "completed"}]},
        }
    }


@pytest.mark.parametrize(
    ("step", "scheduled", "words"),
    [
        ({"cancel_message": "label_remind"}, None,
         "steps[0].cancel_message: no schedule_message step is named 'label_remind' "
         "(known: label_reminder)"),
        ({"cancel_message": "label_reminder", "key": "x"}, None,
         "steps[0].key: the schedule_message step 'label_reminder' has no key; leave it out"),
        ({"cancel_message": "label_reminder"}, {**SCHEDULE, "key": "r-{{ r }}"},
         "has a key; give the same key here"),
        ({"cancel_message": "Label"}, None, "name the message in lower case"),
        ({"cancel_message": "label_reminder", "say": "x"}, None,
         "say: Extra inputs are not permitted"),
        ({"cancel_message": "label_reminder", "key": "{{ r + }}"}, {**SCHEDULE, "key": "r"},
         "steps[0].key: cannot parse"),
    ],
)  # fmt: skip
def test_a_wrong_cancel_message_step_stops_loading_with_the_fix_named(step, scheduled, words):
    with pytest.raises(ConfigurationError) as raised:
        load_flows(flows(step, scheduled=scheduled), "acme/flows.yaml", default_language="en")
    message = str(raised.value)
    assert "acme/flows.yaml" in message and "flow 'arrived', steps[0]" in message
    assert words in message, message


async def test_a_message_scheduled_and_called_back_in_one_turn_is_never_written():
    config = load_flows(
        {"flows": {"both": {"intents": ["both"], "steps": [
            {**SCHEDULE, "key": "k"},
            {"cancel_message": "label_reminder", "key": "k"},
            {**SCHEDULE, "schedule_message": "nudge", "after": "1d"},
            {"end": "completed"},
        ]}}},
        "acme/flows.yaml",
        default_language="en",
    )  # fmt: skip
    engine = Engine(config, {}, demo_turn().workspace)
    out = RunResult("waiting")
    await engine.run(new_frame("both", "en"), None, None, out)
    assert [s.name for s in out.scheduled] == ["nudge"]
    assert [(c.name, c.key) for c in out.cancelled] == [("label_reminder", "k")]
