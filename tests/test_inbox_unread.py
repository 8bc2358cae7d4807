"""Unread counts kept by the server (issue 16, docs/inbox.md "Working faster") on SQLite and
PostgreSQL: each conversation of an agent's "mine" list counts the customer's messages after
that agent's read mark (``InboxStore.mark_read``, migration 0038), in the list's one query;
each card of the queue too, in the queue's own query (no query per card); marks are per
agent, only move forward, and go with an erased conversation."""

from __future__ import annotations

from smartsupport import customer_data
from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, ConversationStatus, utcnow
from smartsupport.inbox.api import queue_for
from smartsupport.inbox.store import InboxStore
from smartsupport.staff.models import StaffUser
from tests.inboxkit import services_on_each_engine  # noqa: F401 - the fixture

ANA = StaffUser("agent-ana", "ana@example.com", "Ana", "agent", ["acme"])
BO = StaffUser("agent-bo", "bo@example.com", "Bo", "agent", ["acme"])


async def held_by(services, agent: StaffUser):
    conv, _ = await start_conversation(services, "acme")
    await services.store.set_status(conv.id, ConversationStatus.WITH_AGENT)
    await InboxStore(services.store).update(
        conv.id, "acme", agent_id=agent.id, assigned_at=utcnow()
    )
    return conv


async def say(services, conversation_id: str, *texts: str, author=Author.CUSTOMER) -> int:
    for text in texts:
        message = await services.store.append_message(conversation_id, author, text)
    return message.seq


async def unread(services, agent: StaffUser) -> dict[str, int]:
    return {m["conversation_id"]: m["unread"] for m in (await queue_for(services, agent))["mine"]}


async def waiting(services, *texts: str):
    conv, _ = await start_conversation(services, "acme")
    if texts:
        conv.last_seq = await say(services, conv.id, *texts)
    await services.store.set_status(conv.id, ConversationStatus.WAITING)
    return conv


async def queued(services, agent: StaffUser) -> dict[str, int]:
    return {e["conversation_id"]: e["unread"] for e in (await queue_for(services, agent))["queue"]}


class Counted:
    """Counts the statements the store runs (the inbox's queries all go through these)."""

    def __init__(self, monkeypatch, store) -> None:
        self.count = 0
        for name in ("fetch", "fetchrow", "execute"):
            real = getattr(store, name)

            async def counted(*args, _real=real, **kwargs):
                self.count += 1
                return await _real(*args, **kwargs)

            monkeypatch.setattr(store, name, counted)


async def test_unread_counts_the_customers_messages_after_the_agents_read_mark(services):
    inbox = InboxStore(services.store)
    first, second = await held_by(services, ANA), await held_by(services, ANA)
    assert await unread(services, ANA) == {first.id: 0, second.id: 0}  # the greeting is not

    await say(services, first.id, "hello?", "it's about ORD-10234")
    seen = await say(services, second.id, "where is my parcel?")
    assert await unread(services, ANA) == {first.id: 2, second.id: 1}

    assert await inbox.mark_read(ANA.id, second.id, seen) == seen
    await say(services, second.id, "Looking now", author=Author.AGENT)  # not the customer's
    assert await unread(services, ANA) == {first.id: 2, second.id: 0}
    await say(services, second.id, "thanks!")
    assert await unread(services, ANA) == {first.id: 2, second.id: 1}

    # A late mark from another device never unreads.
    assert await inbox.mark_read(ANA.id, second.id, 1) == seen
    assert await unread(services, ANA) == {first.id: 2, second.id: 1}


async def test_read_marks_are_per_agent(services):
    inbox = InboxStore(services.store)
    conv = await held_by(services, ANA)
    last = await say(services, conv.id, "one", "two", "three")
    await inbox.mark_read(ANA.id, conv.id, last)
    await inbox.mark_read(BO.id, conv.id, last - 1)  # Bo read it before the last message
    assert await unread(services, ANA) == {conv.id: 0}
    # Transferred to Bo: his own mark counts, not Ana's.
    await inbox.update(conv.id, "acme", agent_id=BO.id)
    assert await unread(services, BO) == {conv.id: 1}
    assert await unread(services, ANA) == {}


async def test_erasing_the_customer_removes_the_read_marks(services):
    inbox = InboxStore(services.store)
    conv = await held_by(services, ANA)
    kept = await held_by(services, ANA)
    for c in (conv, kept):
        await inbox.mark_read(ANA.id, c.id, await say(services, c.id, "hi"))
    await inbox.mark_read(BO.id, conv.id, 1)

    await customer_data.erase_customer(services, conv.customer_id, actor="test")
    rows = await services.store.fetch("SELECT conversation_id FROM inbox_reads")
    assert [r["conversation_id"] for r in rows] == [kept.id]
    assert await unread(services, ANA) == {kept.id: 0}


async def test_the_queues_cards_count_what_each_agent_has_not_read(services):
    inbox = InboxStore(services.store)
    asking = await waiting(services, "hello?", "I want a person")
    quiet = await waiting(services)  # only the greeting: nothing from the customer
    assert await queued(services, ANA) == {asking.id: 2, quiet.id: 0}

    await inbox.mark_read(ANA.id, asking.id, asking.last_seq)  # Ana opened it from the queue
    await say(services, asking.id, "Looking now", author=Author.BOT)
    assert await queued(services, ANA) == {asking.id: 0, quiet.id: 0}
    assert await queued(services, BO) == {asking.id: 2, quiet.id: 0}  # Bo's own marks
    await say(services, asking.id, "anyone there?")
    assert await queued(services, ANA) == {asking.id: 1, quiet.id: 0}
    assert await queued(services, BO) == {asking.id: 3, quiet.id: 0}

    # Claimed: it leaves the queue and "mine" counts it the same way.
    await services.store.set_status(asking.id, ConversationStatus.WITH_AGENT)
    await inbox.update(asking.id, "acme", agent_id=ANA.id, assigned_at=utcnow())
    assert await queued(services, ANA) == {quiet.id: 0}
    assert await unread(services, ANA) == {asking.id: 1}


async def test_the_queues_counts_take_one_query_however_long_the_queue(services, monkeypatch):
    """No query per card: the lists cost the same number of statements for 2 or 8 waiting."""
    counted = Counted(monkeypatch, services.store)

    async def statements() -> int:
        counted.count = 0
        await queue_for(services, ANA)
        return counted.count

    for _ in range(2):
        await waiting(services, "a person please")
    few = await statements()
    for _ in range(6):
        await waiting(services, "a person please", "hello?")
    assert len(await queued(services, ANA)) == 8
    assert await statements() == few
