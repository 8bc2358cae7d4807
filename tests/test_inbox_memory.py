"""Customer memory (issue 16, item 1, the agent's side): a verified customer's finished
conversations are summarised extractively and embedded; the side panel recalls the same
customer's, most relevant first; an unverified customer's are never remembered or recalled;
erasure takes the memories with it. A customer coming back days later is the script."""

from __future__ import annotations

from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, ConversationStatus
from smartsupport.inbox import memory
from tests.inboxkit import inbox_app, services_on_each_engine  # noqa: F401


async def finished(services, user_id, lines):
    customer = {"external_id": user_id, "name": "Ana"} if user_id else {"name": "Anon"}
    conv, _ = await start_conversation(services, "acme", customer=customer, identity=user_id)
    for author, text in lines:
        await services.store.append_message(conv.id, author, text)
    await services.store.set_status(conv.id, ConversationStatus.RESOLVED)
    return conv


async def test_a_verified_customer_coming_back_days_later_is_remembered(services):
    order = await finished(
        services,
        "user-7",
        [
            (Author.CUSTOMER, "My parcel has not arrived"),
            (Author.CUSTOMER, "The order is ORD-10234"),
            (Author.AGENT, "I re-sent ORD-10234 with express shipping, it arrives Friday."),
        ],
    )
    await finished(
        services,
        "user-7",
        [(Author.CUSTOMER, "How do I change my password?"), (Author.BOT, "Use Settings.")],
    )
    stranger = await finished(
        services, None, [(Author.CUSTOMER, "My parcel ORD-55555 is lost"), (Author.BOT, "Sorry")]
    )
    assert await memory.catch_up(services.store) == 2  # the unverified one is not kept
    assert await memory.catch_up(services.store) == 0

    back, _ = await start_conversation(
        services, "acme", customer={"external_id": "user-7"}, identity="user-7"
    )
    await services.store.append_message(back.id, Author.CUSTOMER, "is my parcel coming?")
    recalled = await memory.recall(services.store, back)
    assert [m.conversation_id for m in recalled][0] == order.id  # the relevant one first
    assert "ORD-10234" in recalled[0].summary and "arrives Friday" in recalled[0].summary
    assert all("ORD-55555" not in m.summary for m in recalled)  # never another customer's

    anonymous, _ = await start_conversation(services, "acme", customer={"name": "Anon"})
    assert await memory.recall(services.store, anonymous) == []
    assert await memory.recall(services.store, stranger) == []

    customer_id = order.customer_id
    await services.store.execute("DELETE FROM customers WHERE id = ?", customer_id)  # erasure
    rows = await services.store.fetch(
        "SELECT conversation_id FROM customer_memories WHERE customer_id = ?", customer_id
    )
    assert rows == []


async def test_the_agents_side_panel_shows_the_verified_customers_memory(sqlite_url):
    async with inbox_app(sqlite_url) as h:
        agent = await h.staff("ana@example.com")
        before, _ = await start_conversation(
            h.services, "demo", customer={"external_id": "u-9", "name": "Li"}, identity="u-9"
        )
        await h.services.store.append_message(before.id, Author.CUSTOMER, "Refund for ORD-777?")
        await h.services.store.append_message(before.id, Author.AGENT, "Refunded today.")
        await h.services.store.set_status(before.id, ConversationStatus.RESOLVED)
        await memory.catch_up(h.services.store)
        now, _ = await start_conversation(
            h.services, "demo", customer={"external_id": "u-9"}, identity="u-9"
        )
        page = await agent.get(f"/inbox/conversations/{now.id}")
        assert page.status_code == 200
        assert 'id="customer-memory"' in page.text and "ORD-777" in page.text
        assert "Refunded today." in page.text
