"""The inbox's lists (``/inbox``, its lists fragment, ``GET /api/v1/inbox/queue``) on SQLite
and PostgreSQL: the conversations an agent holds come from one query (``InboxStore.held_rows``,
bench/inbox_scale.py) with the customer's name, the last message, its author and the
next-response clock, exactly as when each was read on its own."""

from __future__ import annotations

from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, ConversationStatus, utcnow
from smartsupport.inbox.api import queue_for
from smartsupport.staff.models import StaffUser
from tests.inboxkit import services_on_each_engine  # noqa: F401 - the fixture

AGENT = StaffUser("agent-7", "agent7@example.com", "Agent 7", "agent", ["acme"])


async def held(services, texts, *, name=None, agent="agent-7"):
    conv, _ = await start_conversation(services, "acme", customer={"name": name} if name else None)
    for text in texts:
        await services.store.append_message(conv.id, Author.CUSTOMER, text)
    await services.store.set_status(conv.id, ConversationStatus.WITH_AGENT)
    await services.store.execute(
        "INSERT INTO inbox_conversations (conversation_id, workspace_id, agent_id, assigned_at, "
        "updated_at) VALUES (?, 'acme', ?, ?, ?)",
        conv.id,
        agent,
        utcnow(),
        utcnow(),
    )
    return conv


async def test_the_held_list_shows_each_conversations_customer_and_last_message(services):
    first = await held(services, ["where is my parcel?"], name="Mia Müller")
    second = await held(services, [])  # only the greeting said, no name
    await held(services, ["not mine"], agent="agent-8")
    resolved = await held(services, ["done"])
    await services.store.set_status(resolved.id, ConversationStatus.RESOLVED)
    await services.store.append_message(first.id, Author.AGENT, "Looking now")

    mine = (await queue_for(services, AGENT))["mine"]
    assert [m["conversation_id"] for m in mine] == [first.id, second.id]  # by assignment
    assert mine[0] == {
        "conversation_id": first.id,
        "workspace": "acme",
        "customer_name": "Mia Müller",
        "last_message": "Looking now",
        "last_author": "agent",
        "channel": "web",
        "sla": None,  # answered: no clock
        "unread": 1,  # no read mark yet (tests/test_inbox_unread.py)
        "last_seq": 3,  # greeting, question, reply: where the count stops (live: unread.py)
    }
    assert (mine[1]["customer_name"], mine[1]["last_author"]) == (None, "bot")

    await services.store.append_message(first.id, Author.CUSTOMER, "thanks, and the refund?")
    [now, _] = (await queue_for(services, AGENT))["mine"]
    assert (now["last_message"], now["last_author"]) == ("thanks, and the refund?", "customer")
    assert now["sla"]["kind"] == "next_response" and now["sla"]["state"] == "ok"
