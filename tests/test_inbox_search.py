"""History and search (issue 16, item 2): every conversation findable by text, customer,
status, channel, agent, intent, tag and date on SQLite (FTS5) and PostgreSQL (tsvector);
odd characters never error; the index follows new messages and erasure, and with a blind
function it holds keyed hashes, never words."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from smartsupport.conversation import start_conversation
from smartsupport.domain import Author, ConversationStatus, utcnow
from smartsupport.inbox import search as search_module
from smartsupport.inbox import search_index, tags
from smartsupport.inbox.search import SearchQuery, search
from smartsupport.pacing import Pace
from smartsupport.search_terms import index_terms, query_terms
from tests.inboxkit import inbox_app, queue, services_on_each_engine  # noqa: F401

ODD = [
    '"',
    "'",
    "*",
    "NEAR(a b)",
    "a:b",
    "-order",
    "%",
    "_",
    "\\",
    "())",
    "AND OR NOT",
    "order*",
    "^refund",
    "😀 emoji",
    "x" * 500,
    "'; DROP TABLE conversations; --",
    "{col1 col2}: x",
    "a & b | !c <-> d",
    "\u200b\u00a0",
]


async def conversation(services, texts, *, name=None, email=None, intent=None):
    customer = {"name": name, "email": email} if name or email else None
    conv, _ = await start_conversation(services, "acme", customer=customer)
    for text in texts:
        meta = {"nlu": {"intent": intent, "confidence": 0.9}} if intent else {}
        await services.store.append_message(conv.id, Author.CUSTOMER, text, meta=meta)
    return conv


async def find(services, **filters):
    await search_index.catch_up(services.store)
    cards = await search(services.store, ["acme"], SearchQuery(**filters))
    return [c.conversation_id for c in cards]


def test_search_terms_fold_case_accents_and_split_cjk():
    assert index_terms("Café ORD-10234!") == "cafe ord 10234"
    assert index_terms("退货政策") == "退货 货政 政策"
    assert query_terms("CAFE") == ["cafe"]
    assert query_terms("*%\"'") == []
    blind = lambda term: "h" + term[::-1]  # noqa: E731
    assert index_terms("Hello hello", blind) == "holleh"


async def test_every_filter_finds_its_conversations(services):
    refund = await conversation(
        services,
        ["Hello", "I want a refund for ORD-10234", "the parcel arrived damaged"],
        name="Mia Müller",
        email="mia@example.com",
        intent="refund",
    )
    cafe = await conversation(services, ["Is the Café open?"], name="Leo", intent="hours")
    chinese = await conversation(services, ["请问退货政策是什么"])
    other = await conversation(services, ["shipping times to Canada"], email="zoe@example.com")

    assert await find(services, text="refund damaged") == [refund.id]  # terms across messages
    assert await find(services, text="ord-10234") == [refund.id]
    assert await find(services, text="cafe") == [cafe.id]  # accents folded
    assert await find(services, text="退货") == [chinese.id]
    assert await find(services, text="refund canada") == []
    assert await find(services, customer="muller") == [refund.id]
    assert await find(services, customer="zoe@example.com") == [other.id]
    assert await find(services, intent="refund") == [refund.id]
    assert await find(services, intent="ref%") == []  # a LIKE wildcard is a character

    db = services.store
    await db.execute("UPDATE conversations SET channel = 'email' WHERE id = ?", other.id)
    assert await find(services, channel="email") == [other.id]
    await db.set_status(cafe.id, ConversationStatus.RESOLVED)
    assert await find(services, status="resolved") == [cafe.id]
    await db.execute(
        "INSERT INTO inbox_conversations (conversation_id, workspace_id, agent_id, updated_at) "
        "VALUES (?, 'acme', 'agent-7', ?)",
        chinese.id,
        utcnow(),
    )
    assert await find(services, agent="agent-7") == [chinese.id]
    assert await tags.add_tags(db, "acme", refund.id, ["VIP ", "refund", "vip"], "s1") == [
        "refund",
        "vip",
    ]
    assert await find(services, tag="Vip") == [refund.id]
    assert await tags.remove_tag(db, refund.id, "VIP") == ["refund"]
    assert await find(services, tag="vip") == []

    everything = await find(services)
    assert set(everything) == {refund.id, cafe.id, chinese.id, other.id}
    soon = utcnow() + timedelta(minutes=1)
    assert await find(services, since=soon) == []
    assert set(await find(services, until=soon)) == set(everything)
    [card] = await search(db, ["acme"], SearchQuery(text="refund"))
    assert (card.customer_name, card.customer_email) == ("Mia Müller", "mia@example.com")
    assert card.tags == ["refund"] and card.past_conversations == 0
    assert await search(db, ["other-workspace"], SearchQuery()) == []


@pytest.mark.parametrize("few", [search_module.FEW_MATCHES, 2])
async def test_few_and_many_matches_find_the_same_newest_first(services, monkeypatch, few):
    """Below FEW_MATCHES the index's matches drive the query, from there the newest
    conversations are walked (bench/inbox_scale.py): both plans give the same pages."""
    monkeypatch.setattr(search_module, "FEW_MATCHES", few)
    convs = [await conversation(services, [f"refund {w}"]) for w in ("alpha", "beta", "gamma")]
    newest = [c.id for c in reversed(convs)]
    assert await find(services, text="refund") == newest
    assert await find(services, text="refund beta") == [convs[1].id]
    assert await find(services, text="refund zanzibar") == []
    assert await find(services, text="zanzibar") == []
    first = await search(services.store, ["acme"], SearchQuery(text="refund", limit=2))
    assert [c.conversation_id for c in first] == newest[:2]
    rest = SearchQuery(text="refund", before=first[-1].updated_at)
    assert [c.conversation_id for c in await search(services.store, ["acme"], rest)] == [
        convs[0].id
    ]
    assert await search(services.store, ["other-workspace"], SearchQuery(text="refund")) == []
    # one customer's conversations (the side panel), whichever index the engine picks
    assert await find(services, customer_id=convs[1].customer_id) == [convs[1].id]


async def test_odd_characters_never_error(services):
    await conversation(services, ["order 1234 arrived", "refund please"])
    for query in ODD:
        assert isinstance(await find(services, text=query), list), query
        assert isinstance(await find(services, customer=query), list), query
        assert isinstance(await find(services, tag=query[:40], intent=query[:100]), list)
    assert await find(services, text="order*") != []  # the letters still count


async def test_the_index_follows_new_messages_and_erasure(services):
    conv = await conversation(services, ["first question about invoices"])
    assert await find(services, text="invoices") == [conv.id]
    assert await find(services, text="warranty") == []
    await services.store.append_message(conv.id, Author.AGENT, "The warranty is two years")
    assert await find(services, text="invoices warranty") == [conv.id]
    again = await search_index.catch_up(services.store)
    assert again == 0  # nothing new: nothing re-indexed
    await services.store.execute("DELETE FROM conversations WHERE id = ?", conv.id)
    assert await find(services, text="warranty") == []
    if services.store.dialect == "sqlite":
        [row] = await services.store.fetch("SELECT count(*) AS n FROM conversation_fts")
        assert row["n"] == 0  # the FTS5 row went with the conversation


async def test_the_workers_paced_rounds_index_what_one_go_does(services):
    """The worker indexes in small rounds with rests (pacing.py); a round mixes entries that
    grow (their new messages appended) with new entries, in a few statements."""
    older = [await conversation(services, [f"question number{i} about parcels"]) for i in range(9)]
    assert await search_index.catch_up(services.store) == 9
    for i, conv in enumerate(older[::2]):
        await services.store.append_message(conv.id, Author.AGENT, f"reply word{2 * i}")
    newer = [await conversation(services, [f"brand new{i} topic"]) for i in range(6)]
    rounds = []

    class Counted(Pace):
        async def rest(self) -> None:
            rounds.append(1)
            await super().rest()

    indexed = await search_index.catch_up(services.store, batch=4, pace=Counted(0.5))
    assert indexed == 5 + 6 and len(rounds) >= 3
    for i, conv in enumerate(older):
        assert await find(services, text=f"number{i} parcels") == [conv.id]
        if i % 2 == 0:
            assert await find(services, text=f"number{i} word{i}") == [conv.id]
    for i, conv in enumerate(newer):
        assert await find(services, text=f"new{i}") == [conv.id]
    if services.store.dialect == "sqlite":
        [row] = await services.store.fetch(
            "SELECT f.terms FROM conversation_fts f JOIN conversation_search s ON s.doc = f.rowid "
            "WHERE s.conversation_id = ?",
            older[0].id,
        )
        words = row["terms"].split()
        assert words.count("number0") == 1 and words.count("word0") == 1  # appended once


async def test_a_blind_index_holds_hashes_never_words(services):
    def blind(term: str) -> str:
        return hashlib.sha256(b"k" + term.encode()).hexdigest()[:24]

    conv = await conversation(services, ["my secret parcel number"], email="ana@example.com")
    await search_index.catch_up(services.store, blind=blind)
    db = services.store
    found = await search(db, ["acme"], SearchQuery(text="Secret parcel"), blind=blind)
    assert [c.conversation_id for c in found] == [conv.id]
    assert await search(db, ["acme"], SearchQuery(text="secret"), blind=None) == []
    by_email = await search(db, ["acme"], SearchQuery(customer="ana@example.com"), blind=blind)
    assert [c.conversation_id for c in by_email] == [conv.id]
    if db.dialect == "sqlite":
        [row] = await db.fetch("SELECT terms, people FROM conversation_fts")
    else:
        [row] = await db.fetch(
            "SELECT document::text AS terms, people::text AS people FROM conversation_search"
        )
    assert "secret" not in row["terms"] and "parcel" not in row["terms"]
    assert blind("secret") in row["terms"] and "ana" not in row["people"]


async def test_search_and_tags_through_the_staff_api(sqlite_url):
    async with inbox_app(sqlite_url) as h:
        agent = await h.staff("ana@example.com", "agent")
        outsider = await h.staff("out@example.com", "agent", workspaces=["elsewhere"])
        visitor = await h.customer_waiting("Ada Lovelace", email="ada@example.com")
        await visitor.say("My tracking number 1Z999 shows nothing")
        r = await agent.get("/api/v1/inbox/search", params={"q": "tracking"})
        assert r.status_code == 200, r.text
        [card] = r.json()["cards"]
        assert card["conversation_id"] == visitor.id
        assert (
            card["customer_name"] == "Ada Lovelace" and card["customer_email"] == "ada@example.com"
        )
        for query in ODD:
            odd = await agent.get("/api/v1/inbox/search", params={"q": query, "customer": query})
            assert odd.status_code in (200, 422), (query, odd.text)  # 422: over the length limit
        tagged = await agent.post(
            f"/api/v1/inbox/conversations/{visitor.id}/tags", json={"tags": ["Shipping"]}
        )
        assert tagged.status_code == 200 and tagged.json()["tags"] == ["shipping"]
        bad = await agent.post(
            f"/api/v1/inbox/conversations/{visitor.id}/tags", json={"tags": ["<b>"]}
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_tag"
        by_tag = await agent.get("/api/v1/inbox/search", params={"tag": "shipping"})
        assert [c["conversation_id"] for c in by_tag.json()["cards"]] == [visitor.id]
        foreign = await outsider.post(
            f"/api/v1/inbox/conversations/{visitor.id}/tags", json={"tags": ["x"]}
        )
        assert foreign.status_code == 403
        assert (await outsider.get("/api/v1/inbox/search")).json()["cards"] == []
        removed = await agent.delete(f"/api/v1/inbox/conversations/{visitor.id}/tags/shipping")
        assert removed.json()["tags"] == []


async def test_cards_and_the_side_panel_show_the_customers_past_conversations(sqlite_url):
    async with inbox_app(sqlite_url) as h:
        agent = await h.staff("ana@example.com", "agent")
        first = await h.customer_waiting("Ada Lovelace", email="ada@example.com")
        second = await h.customer_waiting("Ada Lovelace", email="ada@example.com")
        db = h.services.store
        # The same customer (as a signed identity makes it): the second joins the first's.
        row = await db.fetchrow("SELECT customer_id FROM conversations WHERE id = ?", first.id)
        await db.execute(
            "UPDATE conversations SET customer_id = ? WHERE id = ?", row["customer_id"], second.id
        )
        cards = (await agent.get("/api/v1/inbox/search", params={"customer": "ada"})).json()
        assert [c["past_conversations"] for c in cards["cards"]] == [1, 1]
        [waiting] = [e for e in (await queue(agent))["queue"] if e["conversation_id"] == first.id]
        assert waiting["past_conversations"] == 1
        assert waiting["customer_email"] == "ada@example.com"
        page = await agent.get(f"/inbox/conversations/{second.id}")
        assert page.status_code == 200
        assert f'href="/inbox/conversations/{first.id}"' in page.text  # the past conversation
        assert 'id="tag-add"' in page.text
