"""The sentence encoder of the conversation path (smartsupport/encoding.py): each text
encoded once, concurrent turns' texts encoded together, nothing on the event loop, and a
failure reported to every turn that waited for the batch."""

from __future__ import annotations

import asyncio
import gc
import threading

import numpy as np
import pytest

from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import IncomingMessage
from smartsupport.embeddings import get_embedder
from smartsupport.encoding import IN_FLIGHT, MAX_BATCH, SECOND_BATCH, InThread, SentenceEncoder
from smartsupport.settings import Settings
from smartsupport.wiring import assemble


class Recording:
    """The packaged model, recording each call's texts and the thread it ran on."""

    name = "recording"
    dim = 512

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.fail = fail  # fail this many calls first

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.threads.add(threading.get_ident())
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the model is out of memory")
        return get_embedder().encode(texts)


async def test_concurrent_turns_texts_are_encoded_together_off_the_event_loop() -> None:
    model = Recording()
    encoder = SentenceEncoder(InThread(model))
    texts = [f"where is my parcel number {i}" for i in range(150)]
    found = await asyncio.gather(*(encoder.vectors([t]) for t in texts))
    # Texts asked for while a batch runs wait for the next one: a few full batches.
    assert len(model.calls) <= 1 + -(-150 // MAX_BATCH)
    assert max(len(call) for call in model.calls) == MAX_BATCH
    assert threading.get_ident() not in model.threads
    expected = get_embedder().encode(texts)
    assert np.allclose(np.stack([f[0] for f in found]), expected, atol=1e-6)
    await encoder.close()


async def test_a_text_is_encoded_once_however_many_ask_for_it() -> None:
    model = Recording()
    encoder = SentenceEncoder(InThread(model))
    first, second = await asyncio.gather(
        encoder.vectors(["do you ship to Canada", "hello"]),
        encoder.vectors(["hello", "do you ship to Canada", "hello"]),
    )
    again = await encoder.vectors(["hello"])
    assert sorted(t for call in model.calls for t in call) == ["do you ship to Canada", "hello"]
    assert np.array_equal(first[1], second[0]) and np.array_equal(second[0], second[2])
    assert np.array_equal(again[0], first[1])
    # The blocking way (ingestion, jobs) shares the cache; bulk texts stay out of it.
    assert np.array_equal(encoder.encode(["hello"])[0], first[1])
    encoder.encode(["an article's passage"], remember=False)
    encoder.encode(["an article's passage"], remember=False)
    assert model.calls[-2:] == [["an article's passage"], ["an article's passage"]]
    assert (await encoder.vectors([])).shape == (0, 512)
    await encoder.close()


async def test_a_failed_batch_fails_every_turn_waiting_for_it_and_the_next_batch_runs() -> None:
    model = Recording(fail=1)
    encoder = SentenceEncoder(InThread(model))
    results = await asyncio.gather(
        encoder.vectors(["one"]), encoder.vectors(["two"]), return_exceptions=True
    )
    # Both were queued before the batch started: both learn why it failed.
    assert all(isinstance(r, RuntimeError) and "out of memory" in str(r) for r in results)
    assert model.calls == [["one", "two"]]
    again = await encoder.vectors(["one"])
    assert np.allclose(again[0], get_embedder().encode(["one"])[0], atol=1e-6)
    await encoder.close()


async def test_a_turn_cancelled_while_waiting_does_not_cancel_the_others() -> None:
    model = Recording()
    encoder = SentenceEncoder(InThread(model))
    waiting = asyncio.create_task(encoder.vectors(["shared text"]))
    other = asyncio.create_task(encoder.vectors(["shared text"]))
    await asyncio.sleep(0)
    waiting.cancel()
    vector = await other
    assert vector.shape == (1, 512)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await encoder.close()


def test_the_cache_keeps_the_most_recent_texts() -> None:
    model = Recording()
    encoder = SentenceEncoder(InThread(model), cache_texts=2)
    encoder.encode(["a"])
    encoder.encode(["b"])
    encoder.encode(["a"])  # a is now the most recent
    encoder.encode(["c"])  # b goes
    encoder.encode(["a", "b"])
    assert model.calls == [["a"], ["b"], ["c"], ["b"]]


def test_one_encoder_serves_two_event_loops_at_once() -> None:
    """An app served from a test client's portal thread and the test's own loop."""
    encoder = SentenceEncoder(InThread(Recording()))
    results: dict[int, np.ndarray] = {}

    def run(index: int) -> None:
        async def ask() -> np.ndarray:
            texts = [f"shared question {i}" for i in range(40)]
            found = await asyncio.gather(*(encoder.vectors([t]) for t in texts))
            return np.stack([f[0] for f in found])

        results[index] = asyncio.run(ask())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(results) == {0, 1}
    assert np.allclose(results[0], results[1], atol=1e-6)


KEYWORDS_ONLY = """\
id: plain
name: Plain keyword bot
faq:
  - keywords: [shipping, delivery]
    answer: "Standard shipping takes 3-5 business days."
"""


async def test_a_workspace_without_passages_never_asks_the_encoder(tmp_path) -> None:
    (tmp_path / "ws" / "plain").mkdir(parents=True)
    (tmp_path / "ws" / "plain" / "workspace.yaml").write_text(KEYWORDS_ONLY)
    services = await assemble(
        Settings(data_dir=tmp_path, secret_key="k" * 32, demo=False, workspaces_dir=tmp_path / "ws")
    )
    try:
        encoder = services.assistant.knowledge.encoder
        conversation, _ = await start_conversation(services, "plain")
        # The second and third have a question part besides the whole message: the part
        # the answerability check reads was once encoded ahead of a search that never came.
        for text in ("shipping", "Hi there. How long does delivery take?", "hm. refund?"):
            result = await handle_message(services, IncomingMessage(conversation.id, text))
            assert result.replies
        assert encoder.batches == 0
        assert encoder._cached(["hi there how long does delivery take"]) == {}
    finally:
        await services.close()


async def test_prefetched_texts_go_with_the_next_batch_and_flush_starts_one() -> None:
    model = Recording(fail=0)
    encoder = SentenceEncoder(InThread(model))
    ask = ("/models/demo", "h", "Where is my parcel?", "en")
    # The search's form of the message is queued, then the NLU cache is looked up (a round
    # trip to Redis): nothing is sent before the intent model's text joins it.
    encoder.prefetch(["where is my parcel"])
    await asyncio.sleep(0.02)
    assert model.calls == []
    vector, scored = await encoder.vector_and_intent("Where is my parcel?", ask)
    assert model.calls == [["where is my parcel", "Where is my parcel?"]]
    assert scored is None and vector.shape == (512,)  # this backend scores no intent model
    await encoder.vectors(["where is my parcel"])  # from the cache
    encoder.prefetch(["where is my parcel"])  # cached: not queued again
    assert len(model.calls) == 1
    # A turn whose intent is not scored by the encoder (a cached understanding) flushes.
    encoder.prefetch(["do you ship to canada"])
    encoder.flush()
    for _ in range(200):
        if encoder._cached(["do you ship to canada"]):
            break
        await asyncio.sleep(0.01)
    assert model.calls[1:] == [["do you ship to canada"]]
    await encoder.close()


async def test_a_prefetched_text_whose_batch_fails_is_not_reported_as_unhandled() -> None:
    model = Recording(fail=1)
    encoder = SentenceEncoder(InThread(model))
    unhandled: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unhandled.append(context))
    encoder.prefetch(["hello there"])
    encoder.flush()
    for _ in range(200):
        if model.calls:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    gc.collect()
    assert model.calls == [["hello there"]] and unhandled == []
    # The failure is not kept: the next turn's text is encoded.
    assert (await encoder.vectors(["hello there"])).shape == (1, 512)
    await encoder.close()


REPEATS = """\
escalation:
  rules:
    - name: again
      type: repeated_question
      method: embedding
      times: 2
      similarity: 0.7
      action: offer_human
"""


async def test_repeated_questions_are_compared_by_vectors_encoded_off_the_event_loop(
    tmp_path,
) -> None:
    from smartsupport.handoff.phrases import fold

    (tmp_path / "ws" / "plain").mkdir(parents=True)
    (tmp_path / "ws" / "plain" / "workspace.yaml").write_text(KEYWORDS_ONLY + REPEATS)
    services = await assemble(
        Settings(data_dir=tmp_path, secret_key="k" * 32, demo=False, workspaces_dir=tmp_path / "ws")
    )
    model = Recording()
    services.assistant.knowledge.encoder.backend = InThread(model)
    try:
        conversation, _ = await start_conversation(services, "plain")
        said = [
            "How can I get my money back?",
            "What colours does the jacket come in?",
            "¿Cómo puedo obtener un reembolso?",  # the first question again, in Spanish
        ]
        results = [
            await handle_message(services, IncomingMessage(conversation.id, text)) for text in said
        ]
        # Never on the event loop's thread; each turn encoded its own message, and the
        # earlier questions came from the encoder's cache.
        assert threading.get_ident() not in model.threads
        assert model.calls == [[fold(said[1]), fold(said[0])], [fold(said[2])]]
        assert "escalation" not in results[1].conversation.metadata
        escalation = results[2].conversation.metadata["escalation"]
        assert escalation["reason"] == "the same question asked 2 times"
    finally:
        await services.close()


class Gated(InThread):
    """A backend whose batches wait for the test to let them finish, counting how many are
    under way at once."""

    def __init__(self) -> None:
        super().__init__(Recording())
        self.sent: list[list[str]] = []
        self.under_way = 0
        self.most = 0
        self.gate = asyncio.Event()

    async def vectors(self, texts: list[str]) -> np.ndarray:
        self.sent.append(list(texts))
        self.under_way += 1
        self.most = max(self.most, self.under_way)
        try:
            await self.gate.wait()
            return get_embedder().encode(texts)
        finally:
            self.under_way -= 1


async def test_a_second_batch_waits_beside_the_first_once_it_would_fill_half_a_batch() -> None:
    backend = Gated()
    encoder = SentenceEncoder(backend)
    first = asyncio.create_task(encoder.vectors(["the first text"]))
    await asyncio.sleep(0.01)
    assert backend.sent == [["the first text"]]
    # A few texts wait for the batch under way: a small batch costs nearly a full one.
    few = [asyncio.create_task(encoder.vectors([f"a few {i}"])) for i in range(SECOND_BATCH - 1)]
    await asyncio.sleep(0.01)
    assert len(backend.sent) == 1
    # Half a batch goes out beside it, so the encoder has it when the first is done.
    more = asyncio.create_task(encoder.vectors(["one more"]))
    await asyncio.sleep(0.01)
    assert len(backend.sent) == 2 and len(backend.sent[1]) == SECOND_BATCH
    # Never more than IN_FLIGHT: the rest wait for one of them.
    rest = [asyncio.create_task(encoder.vectors([f"the rest {i}"])) for i in range(MAX_BATCH)]
    await asyncio.sleep(0.01)
    assert len(backend.sent) == 2 and backend.most == IN_FLIGHT
    backend.gate.set()
    done = await asyncio.gather(first, *few, more, *rest)
    texts = ["the first text", *(f"a few {i}" for i in range(SECOND_BATCH - 1)), "one more"]
    texts += [f"the rest {i}" for i in range(MAX_BATCH)]
    assert np.allclose(np.concatenate(done), get_embedder().encode(texts), atol=1e-6)
    assert sorted(t for batch in backend.sent for t in batch) == sorted(texts)
    assert backend.most == IN_FLIGHT
    await encoder.close()
