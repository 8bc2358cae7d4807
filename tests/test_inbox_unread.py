"""Unread counts kept by the server (issue 16, docs/inbox.md "Working faster") on SQLite and
PostgreSQL: each conversation of an agent's "mine" list counts the customer's messages after
that agent's read mark (``InboxStore.mark_read``, migration 0038), in the list's one query;
marks are per agent, only move forward, and go with an erased conversation."""

from __future__ import annotations

import pytest

from smartsupport import customer_data
from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, ConversationStatus, utcnow
from smartsupport.inbox.api import queue_for
from smartsupport.inbox.store import InboxStore
from smartsupport.staff.models import StaffUser
from tests.helpdesk_fakes import open_test_services

ANA = StaffUser("agent-ana", "ana@example.com", "Ana", "agent", ["acme"])
BO = StaffUser("agent-bo", "bo@example.com", "Bo", "agent", ["acme"])


@pytest.fixture(params=["sqlite", "postgresql"])
async def services(request, tmp_path, sqlite_url, postgres_url):
    url = sqlite_url if request.param == "sqlite" else postgres_url
    running = await open_test_services(tmp_path, url, {})
    try:
        yield running
    finally:
        await running.close()


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
