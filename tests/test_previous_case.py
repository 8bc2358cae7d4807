"""Continuing a previous case (issue 16, item 1): a verified customer who comes back and
refers to an earlier conversation gets a reply that names that case and where it was left,
through the real conversation path on SQLite and PostgreSQL; only the same verified
customer's memory is used, deciding writes nothing, and erasure takes the case with it.
The demo's return-visit scripts (tests/conversations/continue_case_*.yaml) play the same in
the nine languages."""

from __future__ import annotations

import pytest

from smartsupport import customer_data, previous_case
from smartsupport.context import ConversationContext
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import Author, ConversationStatus, IncomingMessage, Message
from smartsupport.inbox import memory
from smartsupport.turn import Turn
from tests.helpdesk_fakes import open_test_services

ANA = {"external_id": "user-7", "name": "Ana Lima"}
PARCEL = [
    (Author.CUSTOMER, "My parcel has not arrived"),
    (Author.CUSTOMER, "The order is ORD-10234"),
    (Author.AGENT, "I've opened a claim with the carrier for ORD-10234."),
]
PASSWORD = [(Author.CUSTOMER, "How do I change my password?"), (Author.BOT, "Use Settings.")]


@pytest.mark.parametrize(
    "text",
    [
        "any news on my refund?",
        "I'm still waiting about the jacket I returned",
        "following up on my last chat",
        "¿alguna novedad sobre mi reembolso?",
        "toujours pas de nouvelles de ma commande ?",
        "Gibt es Neuigkeiten zu meiner Anfrage?",
        "ci sono novità sul mio ordine?",
        "alguma novidade sobre o meu reembolso?",
        "上次的问题有进展吗？",
        "前回の件、その後どうなりましたか？",
        "هل من جديد بخصوص طلبي؟",
    ],
)
def test_a_message_referring_to_an_earlier_conversation_is_recognised(text: str) -> None:
    assert previous_case.refers_back(text)


@pytest.mark.parametrize(
    "text",
    [
        "where is my order?",
        "I want to return an item",
        "¿dónde está mi pedido?",
        "je voudrais retourner un article",
        "Wo ist meine Bestellung?",
        "has my refund been processed?",
    ],
)
def test_a_new_request_does_not_refer_back(text: str) -> None:
    assert not previous_case.refers_back(text)


async def finished(services, customer, identity, lines, metadata=None):
    conv, _ = await start_conversation(services, "acme", customer=customer, identity=identity)
    for author, text in lines:
        await services.store.append_message(conv.id, author, text)
    if metadata:
        await services.store.update_conversation_metadata(conv.id, metadata)
    await services.store.set_status(conv.id, ConversationStatus.RESOLVED)
    return conv


async def count(services, table: str) -> int:
    row = await services.store.fetchrow(f"SELECT count(*) AS n FROM {table}")
    return int(row["n"])


async def replies(services, conversation_id: str, text: str):
    return (await handle_message(services, IncomingMessage(conversation_id, text))).replies


async def test_a_returning_customer_asking_for_news_gets_the_case_continued(tmp_path, database_url):
    services = await open_test_services(tmp_path, database_url, {})
    try:
        ticket = {"ticket": {"provider": "zendesk", "id": "4711", "status": "open"}}
        parcel = await finished(services, ANA, "user-7", PARCEL, ticket)
        await finished(services, ANA, "user-7", PASSWORD)  # newer, about something else
        assert await memory.catch_up(services.store) == 2

        back, _ = await start_conversation(services, "acme", customer=ANA, identity="user-7")
        said = await replies(services, back.id, "Any news on my parcel?")
        first = said[0]
        assert first.meta["step"] == "previous_case"
        assert first.meta["case"]["conversation_id"] == parcel.id  # the relevant one
        assert "order ORD-10234" in first.text and "ticket 4711 (status: open)" in first.text
        # Nothing else answered it (no flows, no articles here): it asks what they need.
        assert first.text.endswith("What would you like to know about it now?")
        assert "didn't understand" not in " ".join(r.text for r in said)
        stored = [m for m in await services.store.list_messages(back.id)]
        asked = next(m for m in stored if m.author is Author.CUSTOMER)
        assert asked.meta["previous_case"] == {
            "conversation_id": parcel.id,
            "reference": "ORD-10234",
            "state": "ticket",
        }

        # Without a phrase referring back, the turn goes as it always did.
        other, _ = await start_conversation(services, "acme", customer=ANA, identity="user-7")
        said = await replies(services, other.id, "How do I change my password?")
        assert all(r.meta.get("step") != "previous_case" for r in said)

        # The same record reached without the signed identity: nothing of the past.
        unsigned, _ = await start_conversation(services, "acme", customer=ANA)
        said = await replies(services, unsigned.id, "Any news on my parcel?")
        assert all("ORD-10234" not in r.text and "Last time" not in r.text for r in said)

        # Another verified customer: never Ana's case.
        bo = {"external_id": "user-8", "name": "Bo"}
        bos, _ = await start_conversation(services, "acme", customer=bo, identity="user-8")
        said = await replies(services, bos.id, "Any news on my parcel?")
        assert all("ORD-10234" not in r.text and "Last time" not in r.text for r in said)

        # Erased: the case goes with the customer.
        await customer_data.erase_customer(services, parcel.customer_id, actor="test")
        again, _ = await start_conversation(services, "acme", customer=ANA, identity="user-7")
        said = await replies(services, again.id, "Any news on my parcel?")
        assert all("ORD-10234" not in r.text for r in said)
    finally:
        await services.close()


async def test_deciding_with_a_previous_case_writes_nothing(tmp_path, sqlite_url):
    services = await open_test_services(tmp_path, sqlite_url, {})
    try:
        await finished(services, ANA, "user-7", PARCEL)
        await memory.catch_up(services.store)
        back, _ = await start_conversation(services, "acme", customer=ANA, identity="user-7")
        tables = ("messages", "conversations", "customer_memories", "events", "outbox")
        counts = {t: await count(services, t) for t in tables}
        message = Message("m-1", back.id, 1, Author.CUSTOMER, "following up on my last chat")
        understanding = await services.assistant.understand(
            services.workspace("acme"), message.text, ConversationContext(back.id)
        )

        async def stream(_: str) -> None:
            return None

        turn = Turn(
            services.workspace("acme"), back, message, ConversationContext(back.id),
            understanding, stream,
        )  # fmt: skip
        decision = await services.assistant.decide(turn)
        assert decision.replies[0].meta["step"] == "previous_case"
        assert "I've opened a claim with the carrier for ORD-10234." in decision.replies[0].text
        after = {t: await count(services, t) for t in tables}
        assert after == counts  # the conversation path records the decision, not the policy
    finally:
        await services.close()
