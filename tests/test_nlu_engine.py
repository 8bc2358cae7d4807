"""The NLU engine on the demo shop's real intents: intents in several languages, out-of-scope,
rules, entities, sentiment, the model cache on disk and the understanding cache."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from smartsupport.backplane import open_backplane
from smartsupport.backplane.memory import MemoryBackplane
from smartsupport.errors import BackendUnavailable, ConfigurationError, NotFound
from smartsupport.nlu.cache import GATHER_SECONDS, UnderstandingCache
from smartsupport.nlu.engine import NluEngine
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu-data")


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> NluEngine:
    # Trained once for the module: the demo set is small, so this takes seconds.
    engine = NluEngine(models_dir)
    asyncio.run(engine.prepare(load_workspace_dir(DEMO_DIR)))
    return engine


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hey, where is my parcel? it should have arrived by now", "order_status"),
        ("I would like to send back the sneakers, they are too tight", "return_item"),
        ("how much do you charge for delivery to Germany?", "shipping_info"),
        ("¿Puedo pagar con tarjeta de crédito?", "payment"),
        ("je n'arrive pas à me connecter à mon compte", "account"),
        ("Ich möchte meine Bestellung stornieren, bitte", "cancel_order"),
        ("muito obrigado pela ajuda!", "thanks"),
    ],
)
async def test_intents_in_several_languages(engine: NluEngine, text: str, intent: str) -> None:
    result = await engine.understand("demo", text)
    assert result.intent == intent, result.as_dict()
    assert result.source == "model"
    assert not result.out_of_scope
    assert 0.0 < result.confidence <= 1.0
    assert result.ranking[0][0] == intent
    assert sum(p for _, p in result.ranking) <= 1.0 + 1e-6


async def test_language_is_detected(engine: NluEngine) -> None:
    assert (await engine.understand("demo", "¿Dónde está mi pedido?")).language == "es"
    assert (
        await engine.understand("demo", "Où est ma commande, s'il vous plaît ?")
    ).language == "fr"
    assert (await engine.understand("demo", "where is my order?")).language == "en"


async def test_unrelated_questions_are_out_of_scope(engine: NluEngine) -> None:
    off_topic = [
        "what's the best recipe for lasagna",
        "who won the football world cup in 1998",
        "explain quantum entanglement to me",
        "what is the capital of Australia",
    ]
    results = [await engine.understand("demo", text) for text in off_topic]
    assert sum(r.out_of_scope for r in results) >= 3, [r.as_dict() for r in results]
    for r in results:
        if r.out_of_scope:
            assert r.intent is None and r.ranking, r.as_dict()


async def test_override_rule_wins_and_entities_have_spans(engine: NluEngine) -> None:
    text = "Agent please! ORD-10234 never came, mail me at jo@example.com"
    result = await engine.understand("demo", text)
    assert result.intent == "human_agent" and result.source == "rule"
    kinds = {e.type: e for e in result.entities}
    assert kinds["order_id"].value == "ORD-10234"
    assert text[kinds["email"].start : kinds["email"].end] == "jo@example.com"


async def test_sentiment_is_negative_for_angry_and_positive_for_happy(engine: NluEngine) -> None:
    angry = await engine.understand("demo", "This is the worst service ever, I am furious!")
    happy = await engine.understand("demo", "Great, thank you so much, you were very helpful")
    assert -1.0 <= angry.sentiment < -0.3
    assert 0.3 < happy.sentiment <= 1.0
    angry_es = await engine.understand("demo", "Un servicio horrible, estoy muy enfadado")
    assert angry_es.language == "es" and angry_es.sentiment < 0


@pytest.mark.parametrize(
    "text", ["", "   ", "😞😞😞", "?!?!", "a" * 200_000, "hola where is mi pedido bitte 🙏"]
)
async def test_odd_messages_never_crash(engine: NluEngine, text: str) -> None:
    result = await engine.understand("demo", text)
    assert -1.0 <= result.sentiment <= 1.0
    assert 0.0 <= result.confidence <= 1.0
    if not text.strip() or text in ("😞😞😞", "?!?!"):
        assert result.out_of_scope and result.intent is None and result.confidence == 0.0
    if text == "😞😞😞":
        assert result.sentiment < 0  # emoji still carry sentiment


async def test_unknown_workspace_is_not_found(engine: NluEngine) -> None:
    with pytest.raises(NotFound):
        await engine.understand("nope", "hello")


async def test_repeated_queries_skip_the_model(engine: NluEngine, monkeypatch) -> None:
    first = await engine.understand("demo", "Do you ship to Canada?")
    calls = []
    monkeypatch.setattr(engine, "_classify", lambda *a: calls.append(a) or {})
    again = await engine.understand("demo", "  do you SHIP to canada? ")
    assert calls == [] and again.intent == first.intent == "shipping_info"


async def test_cache_is_shared_through_redis(
    models_dir: Path, engine: NluEngine, redis_url
) -> None:
    backplane = open_backplane(redis_url)
    await backplane.connect()
    try:
        a = NluEngine(models_dir, backplane)
        b = NluEngine(models_dir, backplane)
        workspace = load_workspace_dir(DEMO_DIR)
        await a.prepare(workspace)
        await b.prepare(workspace)
        await a.understand("demo", "can I pay with apple pay")
        await a.close()  # the write is made behind the turn: closing lets it finish
        b._classify = lambda *args: pytest.fail("b should have read a's cached result")  # type: ignore[method-assign]
        result = await b.understand("demo", "Can I pay with Apple Pay")
        assert result.intent == "payment"
    finally:
        await backplane.close()


class StalledRedis(MemoryBackplane):
    """A shared store that answers a write only once ``answer`` is set, and with an error."""

    shared = True

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        await self.answer.wait()
        raise BackendUnavailable("redis: connection reset")


async def test_sharing_an_understanding_neither_holds_nor_fails_the_turn(
    models_dir: Path, engine: NluEngine, caplog
) -> None:
    redis = StalledRedis()
    stalled = NluEngine(models_dir, redis)
    await stalled.prepare(load_workspace_dir(DEMO_DIR))
    result = await stalled.understand("demo", "can I pay with apple pay")
    # The turn has its understanding while the write is still on its way.
    assert result.intent == "payment" and stalled._cache.unsent == 1
    again = await stalled.understand("demo", "Can I pay with Apple Pay")  # this process's copy
    assert again.intent == "payment" and stalled._cache.unsent == 1
    redis.answer.set()
    await stalled.close()
    assert stalled._cache.unsent == 0
    assert "1 understood message(s) were not shared through the backplane" in caplog.text
    assert "redis: connection reset" in caplog.text


class CountingRedis(MemoryBackplane):
    """A shared store that counts its round trips of writes."""

    shared = True

    def __init__(self) -> None:
        super().__init__()
        self.round_trips: list[int] = []

    async def set_many(self, items: Sequence[tuple[str, bytes, float | None]]) -> None:
        self.round_trips.append(len(items))
        await super().set_many(items)


async def test_understandings_of_turns_close_together_are_shared_in_one_round_trip() -> None:
    redis = CountingRedis()
    cache = UnderstandingCache(redis)
    for n in range(3):  # three turns understood in the same moment
        cache.put(f"nlu:k{n}", {"intent": f"i{n}"})
    await asyncio.sleep(GATHER_SECONDS / 2)
    cache.put("nlu:k3", {"intent": "i3"})  # one more while the writer gathers
    await cache.close()
    assert redis.round_trips == [4]
    assert [json.loads(await redis.get(f"nlu:k{n}") or b"") for n in range(4)] == [
        {"intent": f"i{n}"} for n in range(4)
    ]
    other = UnderstandingCache(redis)  # another process's cache reads them
    assert await other.shared_get("nlu:k2") == {"intent": "i2"}


async def test_model_is_loaded_from_disk_and_retrained_on_change(
    models_dir: Path, engine: NluEngine
) -> None:
    workspace = load_workspace_dir(DEMO_DIR)
    started = time.perf_counter()
    await NluEngine(models_dir).prepare(workspace)
    assert time.perf_counter() - started < 5.0  # loaded, not retrained
    (only_model,) = list((models_dir / "models" / "demo").iterdir())

    changed = workspace.model_copy(deep=True)
    nlu = changed.section("nlu")
    nlu["intents"]["gift_wrap"] = {
        "examples": [
            "can you gift wrap it",
            "do you offer gift wrapping",
            "wrap it as a present",
            "add a gift message",
            "is gift packaging available",
            "gift box please",
        ],
        "responses": ["Gift wrapping costs $5."],
    }
    fresh = NluEngine(models_dir)
    await fresh.prepare(changed)
    result = await fresh.understand("demo", "could you wrap it as a gift for my mum?")
    assert result.intent == "gift_wrap"
    assert fresh.responses("demo", "gift_wrap", "de") == ["Gift wrapping costs $5."]
    remaining = list((models_dir / "models" / "demo").iterdir())
    assert len(remaining) == 1 and remaining != [only_model]


async def test_invalid_nlu_section_names_the_field(tmp_path: Path) -> None:
    workspace = load_workspace_dir(DEMO_DIR).model_copy(deep=True)
    workspace.section("nlu")["rules"] = [{"intent": "x", "regex": ["(unclosed"]}]
    with pytest.raises(ConfigurationError, match=r"rules\.0\.regex"):
        await NluEngine(tmp_path).prepare(workspace)


class SlowRedis(MemoryBackplane):
    """A shared store whose reads answer only once ``answer`` is set."""

    shared = True

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.reads = 0

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        await self.answer.wait()
        return await super().get(key)


async def test_the_model_s_batch_goes_out_while_the_shared_cache_is_read(
    models_dir: Path, engine: NluEngine
) -> None:
    redis = SlowRedis()
    reading = NluEngine(models_dir, redis)
    await reading.prepare(load_workspace_dir(DEMO_DIR))
    try:
        turn = asyncio.create_task(reading.understand("demo", "can I pay with apple pay"))
        for _ in range(500):
            if reading.encoder.batches:
                break
            await asyncio.sleep(0.01)
        # The message was encoded and scored while the shared cache had not answered.
        assert redis.reads == 1 and not redis.answer.is_set() and not turn.done()
        assert reading.encoder.batches == 1
        redis.answer.set()
        assert (await turn).intent == "payment"
        # Another process's understanding, read from the shared store, is used as it is;
        # the batch sent beside the read goes unused.
        await reading.close()  # the shared write is made behind the turn
        other = NluEngine(models_dir, redis)
        await other.prepare(load_workspace_dir(DEMO_DIR))
        try:
            other._classify = lambda *args: pytest.fail("the shared copy should be used")  # type: ignore[method-assign]
            understood = await other.understand("demo", "Can I pay with Apple Pay")
            assert understood.intent == "payment" and redis.reads == 2
        finally:
            await other.close()
    finally:
        await reading.close()
