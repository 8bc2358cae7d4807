"""The conversation path's promises, on the embedded backends and on PostgreSQL + Redis:
a turn's writes are one transaction made before anything is published, and the customer's
message is stored before its echo acknowledges it, also when the answer streams or fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from smartsupport.backplane import open_backplane
from smartsupport.backplane.base import Subscription
from smartsupport.context import ContextStore
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import (
    Author,
    ConversationStatus,
    IncomingMessage,
    OutboxItem,
    Reply,
    Understanding,
    Workspace,
)
from smartsupport.errors import BackendUnavailable
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.storage import open_store
from smartsupport.turn import Decision, Turn
from smartsupport.wire import conversation_channel
from smartsupport.workspaces import WorkspaceConfig


class ScriptedAssistant:
    """Understands everything as ``thanks``; ``decide`` runs the test's script."""

    def __init__(self) -> None:
        self.script = None

    async def understand(self, workspace, text, context) -> Understanding:
        return Understanding(intent="thanks", confidence=0.9)

    def recorded(self, workspace, message, understanding) -> None:  # type: ignore[no-untyped-def]
        pass

    async def decide(self, turn: Turn) -> Decision:
        assert self.script is not None
        return await self.script(turn)

    async def close(self) -> None:
        pass


@pytest.fixture(params=["embedded", "scaled-out"])
def urls(request, tmp_path) -> tuple[str, str]:
    """(database URL, backplane URL) of each backend pair."""
    if request.param == "embedded":
        return f"sqlite:///{tmp_path / 'db.sqlite'}", ""
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_url")


@pytest.fixture
async def services(urls, tmp_path) -> AsyncIterator[Services]:
    store, backplane = open_store(urls[0]), open_backplane(urls[1])
    await store.connect()
    await backplane.connect()
    await store.migrate()
    workspace = WorkspaceConfig(id="acme", name="Acme")
    await store.upsert_workspace(Workspace(id="acme", name="Acme"))
    services = Services(
        settings=Settings(data_dir=tmp_path, secret_key="k" * 32),
        store=store,
        backplane=backplane,
        contexts=ContextStore(backplane),
        secret_key=b"k" * 32,
        workspaces={"acme": workspace},
        assistant=ScriptedAssistant(),  # type: ignore[arg-type]
    )
    try:
        yield services
    finally:
        await backplane.close()
        await store.close()


async def frames(sub: Subscription, count: int) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(5):
        async for frame in sub:
            got.append(frame)
            if len(got) == count:
                return got
    return got


def summary(frame: dict) -> tuple:
    if frame["type"] == "message":
        return ("message", frame["message"]["author"], frame["message"]["seq"])
    return (frame["type"], frame.get("text") or frame.get("status"))


async def test_a_turn_is_stored_in_one_write_then_published(services: Services):
    conversation, _ = await start_conversation(services, "acme")
    sub = await services.backplane.subscribe(conversation_channel(conversation.id))
    writes = []
    record_turn = services.store.record_turn

    async def counted(*args, **kwargs):
        writes.append(args)
        return await record_turn(*args, **kwargs)

    services.store.record_turn = counted  # type: ignore[method-assign]

    async def hand_over(turn: Turn) -> Decision:
        turn.context.bump("handovers")
        return Decision(
            [Reply("You're welcome"), Reply("A person will join", quick_replies=["OK"])],
            status=ConversationStatus.WAITING,
            reason="asked",
            events=[("custom", {"n": 1})],
        )

    services.assistant.script = hand_over  # type: ignore[union-attr]
    result = await handle_message(services, IncomingMessage(conversation.id, "thanks", "c1"))
    assert len(writes) == 1
    assert [m.seq for m in (result.message, *result.replies)] == [2, 3, 4]
    assert result.conversation.status is ConversationStatus.WAITING
    assert result.message.meta["nlu"]["intent"] == "thanks"
    stored = await services.store.list_messages(conversation.id, after=1)
    assert stored == [result.message, *result.replies]
    assert stored[2].meta["quick_replies"] == ["OK"]
    events = await services.store.list_events("acme", conversation_id=conversation.id)
    assert [e.type for e in events] == [
        "conversation.started",
        "conversation.status",
        "custom",
        "turn",
    ]
    assert (await services.contexts.load(conversation.id)).counters == {"handovers": 1}
    assert [summary(f) for f in await frames(sub, 4)] == [
        ("message", "customer", 2),
        ("message", "bot", 3),
        ("message", "bot", 4),
        ("status", "waiting_for_agent"),
    ]
    # The same client_id again replays the turn and stores nothing.
    again = await handle_message(services, IncomingMessage(conversation.id, "thanks", "c1"))
    assert again.duplicate and again.message == result.message and again.replies == result.replies
    assert len(writes) == 1
    await sub.close()


async def test_a_streamed_answer_shows_the_customer_message_before_its_first_piece(
    services: Services,
):
    conversation, _ = await start_conversation(services, "acme")
    sub = await services.backplane.subscribe(conversation_channel(conversation.id))

    async def stream(turn: Turn) -> Decision:
        await turn.stream("You're ")
        await turn.stream("welcome")
        return Decision([Reply("You're welcome")])

    services.assistant.script = stream  # type: ignore[union-attr]
    result = await handle_message(services, IncomingMessage(conversation.id, "thanks", "c1"))
    assert [summary(f) for f in await frames(sub, 4)] == [
        ("message", "customer", 2),
        ("delta", "You're "),
        ("delta", "welcome"),
        ("message", "bot", 3),
    ]
    stored = await services.store.list_messages(conversation.id, after=1)
    assert stored == [result.message, *result.replies]  # the customer's message once
    assert [e.type for e in await services.store.list_events("acme")][-1] == "turn"
    await sub.close()


async def test_a_failed_decision_keeps_and_acknowledges_the_customer_message(
    services: Services,
):
    conversation, _ = await start_conversation(services, "acme")
    sub = await services.backplane.subscribe(conversation_channel(conversation.id))

    async def fail(turn: Turn) -> Decision:
        raise RuntimeError("the model fell over")

    services.assistant.script = fail  # type: ignore[union-attr]
    with pytest.raises(RuntimeError):
        await handle_message(services, IncomingMessage(conversation.id, "thanks", "c1"))
    (kept,) = await services.store.list_messages(conversation.id, after=1)
    assert (kept.author, kept.client_id, kept.meta["nlu"]["intent"]) == (
        Author.CUSTOMER,
        "c1",
        "thanks",
    )
    assert [summary(f) for f in await frames(sub, 1)] == [("message", "customer", 2)]
    # Retrying the same send finds it stored and stores nothing twice.
    retried = await handle_message(services, IncomingMessage(conversation.id, "thanks", "c1"))
    assert retried.duplicate and retried.message == kept and retried.replies == []
    async with services.backplane.lock(f"lock:{conversation.id}", timeout=1):
        pass  # the failed turn released its lock
    await sub.close()


async def test_a_decisions_effects_are_recorded_in_the_turns_one_write(services: Services):
    """Priority, usage and notices are data in the Decision, written with the messages."""
    conversation, _ = await start_conversation(services, "acme")
    writes = []
    record_turn = services.store.record_turn

    async def counted(*args, **kwargs):
        writes.append(kwargs)
        return await record_turn(*args, **kwargs)

    services.store.record_turn = counted  # type: ignore[method-assign]

    async def escalate(turn: Turn) -> Decision:
        return Decision(
            [Reply("Connecting you")],
            status=ConversationStatus.WAITING,
            metadata={"priority": "urgent", "llm_usage": {"calls": 1}},
            outbox=[OutboxItem("notify.slack", {"conversation_id": turn.conversation.id}, "k1")],
        )

    services.assistant.script = escalate  # type: ignore[union-attr]
    result = await handle_message(services, IncomingMessage(conversation.id, "help", "c1"))
    assert len(writes) == 1
    assert result.conversation.metadata["priority"] == "urgent"
    stored = await services.store.get_conversation(conversation.id)
    assert stored.metadata["priority"] == "urgent"
    assert stored.metadata["llm_usage"] == {"calls": 1}
    assert stored.metadata["locale"]  # merged, not replaced
    rows = await services.store.fetch("SELECT kind, idempotency_key, status FROM outbox")  # type: ignore[attr-defined]
    assert rows == [{"kind": "notify.slack", "idempotency_key": "k1", "status": "pending"}]
    assert services.outbox_due.is_set()


async def test_a_turn_that_fails_to_store_leaves_no_priority_and_no_notice(services: Services):
    conversation, _ = await start_conversation(services, "acme")
    record_turn = services.store.record_turn

    async def refused(conversation_id, messages, **kwargs):
        if kwargs.get("outbox"):
            raise BackendUnavailable("the database went away mid-turn")
        return await record_turn(conversation_id, messages, **kwargs)

    services.store.record_turn = refused  # type: ignore[method-assign]

    async def escalate(turn: Turn) -> Decision:
        return Decision(
            [Reply("Connecting you")],
            status=ConversationStatus.WAITING,
            metadata={"priority": "urgent"},
            outbox=[OutboxItem("notify.slack", {"conversation_id": turn.conversation.id}, "k1")],
        )

    services.assistant.script = escalate  # type: ignore[union-attr]
    with pytest.raises(BackendUnavailable):
        await handle_message(services, IncomingMessage(conversation.id, "help", "c1"))
    stored = await services.store.get_conversation(conversation.id)
    assert "priority" not in stored.metadata
    assert stored.status is ConversationStatus.BOT
    assert await services.store.fetch("SELECT id FROM outbox") == []  # type: ignore[attr-defined]
