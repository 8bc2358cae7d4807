"""Customer memory in the bot's context (issue 16, item 1): a verified customer who comes back
is greeted by name by a flow and their last order is pre-filled from what they said in an
earlier conversation, through the real conversation path on SQLite and PostgreSQL; an
unverified customer, or an identity that names another record, brings back nothing."""

from __future__ import annotations

import yaml

from smartsupport import customer_memory
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.dialogue.templates import evaluate
from smartsupport.domain import Author, ConversationStatus, IncomingMessage
from smartsupport.inbox import memory
from tests.helpdesk_fakes import open_test_services, workspace_dir

# A flow that greets a returning customer by name and takes the order they talked about
# last time; nothing here calls a backend.
FLOWS = {
    "flows": {
        "track": {
            "intents": ["order_status"],
            "on_question": "start",  # "where is my order?" asks for the look-up
            "slots": {
                "order_id": {
                    "extract": r"(?i)\bORD[- ]?\d{1,8}\b",
                    "normalize": ["strip", "upper"],
                    "pattern": r"ORD-\d{5}",
                    "prefill": "only(customer.open_orders) or first(remembered.references)",
                    "ask": "{{ 'Welcome back, ' + remembered.name + '! ' "
                    "if remembered.returning else '' }}Which order is it?",
                }
            },
            "steps": [
                {
                    "say": "{{ 'Welcome back, ' + remembered.name + '! ' "
                    "if remembered.returning else '' }}"
                    "{{ 'Your last order, ' + slots.order_id + ',' "
                    "if prefilled.order_id else 'Order ' + slots.order_id }} is on its way."
                }
            ],
        }
    }
}


def with_flows(tmp_path) -> None:
    workspaces = workspace_dir(tmp_path, {})
    (workspaces / "acme" / "flows.yaml").write_text(yaml.safe_dump(FLOWS), encoding="utf-8")


async def finished(services, customer, identity, lines):
    conv, _ = await start_conversation(services, "acme", customer=customer, identity=identity)
    for author, text in lines:
        await services.store.append_message(conv.id, author, text)
    await services.store.set_status(conv.id, ConversationStatus.RESOLVED)
    return conv


async def bot_says(services, conversation_id: str, text: str) -> str:
    result = await handle_message(services, IncomingMessage(conversation_id, text))
    return " ".join(r.text for r in result.replies)


PAST = [
    (Author.CUSTOMER, "My parcel has not arrived"),
    (Author.CUSTOMER, "The order is ORD-10234"),
    (Author.AGENT, "I re-sent ORD-10234 with express shipping, it arrives Friday."),
]


async def test_a_returning_verified_customer_is_greeted_and_their_order_prefilled(
    tmp_path, database_url
):
    with_flows(tmp_path)
    services = await open_test_services(tmp_path, database_url, {})
    try:
        ana = {"external_id": "user-7", "name": "Ana Lima"}
        await finished(services, ana, "user-7", PAST)
        await finished(services, {"name": "Ana Lima"}, None, PAST)  # a look-alike, unverified
        assert await memory.catch_up(services.store) == 1

        back, _ = await start_conversation(services, "acme", customer=ana, identity="user-7")
        facts = await customer_memory.remembered(services.store, back)
        assert facts is not None
        assert (facts["name"], facts["returning"], facts["references"]) == (
            "Ana Lima",
            True,
            ["ORD-10234"],
        )
        said = await bot_says(services, back.id, "where is my order?")
        assert said == "Welcome back, Ana Lima! Your last order, ORD-10234, is on its way."

        # Unverified, same name, same past words: asked, never greeted or pre-filled.
        stranger, _ = await start_conversation(services, "acme", customer={"name": "Ana Lima"})
        assert await customer_memory.remembered(services.store, stranger) is None
        assert await bot_says(services, stranger.id, "where is my order?") == "Which order is it?"

        # Verified but new: known by name, nothing remembered, nothing pre-filled.
        new = {"external_id": "user-8", "name": "Bo Chen"}
        first, _ = await start_conversation(services, "acme", customer=new, identity="user-8")
        facts = await customer_memory.remembered(services.store, first)
        assert facts == {
            "name": "Bo Chen",
            "returning": False,
            "last_contact": None,
            "language": None,
            "references": [],
        }
        assert await bot_says(services, first.id, "where is my order?") == "Which order is it?"
        assert await bot_says(services, first.id, "ORD-10236") == "Order ORD-10236 is on its way."

        # An identity naming another customer's record brings back nobody's past.
        borrowed, _ = await start_conversation(services, "acme", customer=ana, identity="user-7")
        borrowed = await services.store.update_conversation_metadata(
            borrowed.id, {"identity": {"user_id": "user-8"}}
        )
        assert await customer_memory.remembered(services.store, borrowed) is None
    finally:
        await services.close()


async def test_an_order_number_in_a_flows_question_is_not_remembered(tmp_path, database_url):
    """A flow's question names an example ("It looks like ORD-10234"), not the customer's
    case: a returning customer must not be offered an order nobody talked about."""
    with_flows(tmp_path)
    services = await open_test_services(tmp_path, database_url, {})
    try:
        ana = {"external_id": "user-7", "name": "Ana Lima"}
        conv, _ = await start_conversation(services, "acme", customer=ana, identity="user-7")
        store = services.store
        await store.append_message(conv.id, Author.CUSTOMER, "where is ORD-10236?")
        await store.append_message(  # the conversation's last answer, so in its summary
            conv.id,
            Author.BOT,
            "I couldn't find ORD-10236. What's your order number? It looks like ORD-10234.",
            meta={"step": "flow", "flow": "track", "slot": "order_id"},
        )
        await store.set_status(conv.id, ConversationStatus.RESOLVED)
        assert await memory.catch_up(store) == 1

        back, _ = await start_conversation(services, "acme", customer=ana, identity="user-7")
        facts = await customer_memory.remembered(store, back)
        assert facts is not None and facts["references"] == ["ORD-10236"]
    finally:
        await services.close()


def test_only_takes_the_one_item_of_a_list_of_exactly_one():
    assert evaluate("only(orders)", {"orders": ["ORD-10234"]}) == "ORD-10234"
    assert evaluate("only(orders)", {"orders": ["ORD-10234", "ORD-10235"]}) is None
    assert evaluate("only(orders)", {"orders": []}) is None
    assert evaluate("only(customer.open_orders)", {"customer": None}) is None
