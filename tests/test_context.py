"""Conversation context round-trips through every backplane and expires when idle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from smartsupport.backplane import open_backplane
from smartsupport.backplane.base import Backplane
from smartsupport.context import MAX_INTENTS, ContextStore, ConversationContext


@pytest.fixture(params=["memory", "redis"])
def backplane_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url")


@pytest.fixture
async def bp(backplane_url: str) -> AsyncIterator[Backplane]:
    backplane = open_backplane(backplane_url)
    await backplane.connect()
    yield backplane
    await backplane.close()


async def test_missing_context_loads_fresh(bp: Backplane) -> None:
    ctx = await ContextStore(bp).load("c1")
    assert ctx.conversation_id == "c1"
    assert (ctx.state, ctx.slots, ctx.last_intents, ctx.counters, ctx.data) == (
        "start",
        {},
        [],
        {},
        {},
    )


async def test_context_round_trips(bp: Backplane) -> None:
    store = ContextStore(bp, ttl_seconds=60)
    ctx = ConversationContext("c1", state="collecting_order", slots={"order_id": "A-17"})
    ctx.remember_intent("greet")
    ctx.remember_intent("order_status")
    assert ctx.bump("fallbacks") == 1
    assert ctx.bump("fallbacks") == 2
    ctx.data["flow"] = {"name": "refund", "step": 2}
    before = ctx.updated_at
    await store.save(ctx)
    assert ctx.updated_at >= before

    loaded = await store.load("c1")
    assert loaded == ctx
    loaded.reset("fallbacks")
    assert loaded.counters == {}


async def test_context_expires_after_the_ttl(bp: Backplane) -> None:
    store = ContextStore(bp, ttl_seconds=0.2)
    await store.save(ConversationContext("c1", state="waiting"))
    assert (await store.load("c1")).state == "waiting"
    await asyncio.sleep(0.35)
    assert (await store.load("c1")).state == "start"


async def test_delete_forgets_the_context(bp: Backplane) -> None:
    store = ContextStore(bp)
    await store.save(ConversationContext("c1", state="waiting"))
    await store.delete("c1")
    assert (await store.load("c1")).state == "start"


async def test_recent_intents_are_bounded_most_recent_last(bp: Backplane) -> None:
    store = ContextStore(bp)
    ctx = ConversationContext("c1")
    for i in range(MAX_INTENTS + 5):
        ctx.remember_intent(f"intent-{i}")
    await store.save(ctx)
    loaded = await store.load("c1")
    assert len(loaded.last_intents) == MAX_INTENTS
    assert loaded.last_intents[-1] == f"intent-{MAX_INTENTS + 4}"


async def test_keys_from_a_newer_version_are_ignored(bp: Backplane) -> None:
    doc = json.loads(ConversationContext("c1", state="waiting").to_json())
    doc["introduced_later"] = {"x": 1}
    await bp.set("session:c1", json.dumps(doc).encode())
    assert (await ContextStore(bp).load("c1")).state == "waiting"


@pytest.mark.parametrize(
    "stored", [b"{not json", b'{"conversation_id": "c1", "state": 3}', b"[1, 2]"]
)
async def test_unreadable_context_starts_over(bp: Backplane, stored: bytes) -> None:
    await bp.set("session:c1", stored)
    assert (await ContextStore(bp).load("c1")).state == "start"
