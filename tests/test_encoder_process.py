"""The sentence encoder in a child process (SMARTSUPPORT_ENCODER=process, the default on two
cores or more): the same vectors as in the server process, a child that dies is started
again, one that cannot start stops start-up with its reason, and none outlives the server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import OrderedDict
from pathlib import Path

import httpx
import numpy as np
import pytest
from appkit import say, served, start
from pydantic import ValidationError
from servers import LiveServer

from smartsupport.embeddings import get_embedder
from smartsupport.encoder_process import EncoderProcess, EncoderUnavailable, encoder_backend
from smartsupport.encoding import InThread, SentenceEncoder
from smartsupport.nlu import language
from smartsupport.nlu.engine import NluEngine
from smartsupport.settings import Settings
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

TEXTS = ["Where is my order?", "¿Cuánto cuesta el envío a México?", "返品はできますか"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


async def test_the_child_gives_the_vectors_the_server_process_would() -> None:
    encoder = SentenceEncoder(EncoderProcess())
    await encoder.start()
    try:
        together = await asyncio.gather(*(encoder.vectors([t]) for t in TEXTS))
        blocking = await asyncio.to_thread(encoder.encode, ["Do you ship to Canada?"])
    finally:
        await encoder.close()
    expected = get_embedder().encode(TEXTS)
    assert np.allclose(np.stack([v[0] for v in together]), expected, atol=1e-5)
    assert np.allclose(blocking, get_embedder().encode(["Do you ship to Canada?"]), atol=1e-5)


async def test_a_child_killed_between_turns_or_mid_batch_is_started_again() -> None:
    backend = EncoderProcess()
    encoder = SentenceEncoder(backend)
    await encoder.start()
    try:
        first = backend.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        vector = await encoder.vectors(["still answered after a crash"])
        assert vector.shape == (1, 512) and backend.pid not in (None, first)
        # Killed while it works on a batch: the batch is sent to the new child.
        second = backend.pid
        assert second is not None
        asking = asyncio.create_task(encoder.vectors([f"text {i}" for i in range(60)]))
        os.kill(second, signal.SIGKILL)
        assert (await asking).shape == (60, 512)
        assert backend.starts == 3
    finally:
        await encoder.close()
    assert not any(alive(pid) for pid in (first, second))


def test_a_child_that_cannot_start_stops_with_its_reason(monkeypatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(EncoderUnavailable, match="exited while starting"):
        EncoderProcess().start()


async def test_the_app_answers_with_the_encoder_in_a_child_and_stops_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, encoder="process")
    async with served(settings) as (app, http):
        backend = app.state.services.assistant.knowledge.encoder.backend
        assert isinstance(backend, EncoderProcess)
        child = backend.pid
        assert child is not None and alive(child)
        conversation = await start(http)
        reply = await say(http, conversation, "How long does delivery to Canada take?", "c1")
        texts = [m["text"] for m in reply.json()["replies"]]
        assert any("Canada" in t and "business days" in t for t in texts), texts
        # The intent model was scored where the message was encoded.
        assert backend.intents_scored >= 1
    assert not alive(child)


def test_serve_runs_the_encoder_in_a_child_and_leaves_none_behind() -> None:
    with LiveServer({"SMARTSUPPORT_ENCODER": "process"}) as server:
        # Started from a thread: each thread (task) of the server lists its own children.
        tasks = Path(f"/proc/{server.process.pid}/task").glob("*/children")
        encoder = [int(pid) for task in tasks for pid in task.read_text().split()]
        assert len(encoder) == 1
        assert "smartsupport.encoder_process" in Path(f"/proc/{encoder[0]}/cmdline").read_text()
        created = httpx.post(server.url + "/api/v1/conversations", json={"workspace": "demo"})
        conversation = created.json()
        sent = httpx.post(
            f"{server.url}/api/v1/conversations/{conversation['id']}/messages",
            json={"text": "Which payment methods do you accept?", "client_id": "p1"},
            headers={"Authorization": f"Bearer {conversation['token']}"},
            timeout=60,
        )
        assert sent.status_code == 201, sent.text
        assert any("PayPal" in r["text"] for r in sent.json()["replies"])
        server.stop()
    deadline = time.monotonic() + 10
    while alive(encoder[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(encoder[0])


def test_the_setting_names_its_choices() -> None:
    assert isinstance(encoder_backend("thread"), InThread)
    assert isinstance(encoder_backend("process"), EncoderProcess)
    expected = EncoderProcess if (os.cpu_count() or 1) >= 2 else InThread
    assert isinstance(encoder_backend("auto"), expected)
    with pytest.raises(ValidationError, match="auto.*process.*thread"):
        Settings(encoder="processes")


# -- intent models scored in the child ---------------------------------------------------------

INTENT_TEXTS = [
    "hey, where is my parcel? it should have arrived by now",
    "I would like to send back the sneakers, they are too tight",
    "¿Puedo pagar con tarjeta de crédito?",
    "Ich möchte meine Bestellung stornieren, bitte",
    "what is the airspeed velocity of an unladen swallow",
    "ORD-10234",
    "I want a refund for ORD-10240, the box arrived crushed",
]


async def understood(engine: NluEngine) -> list[dict]:
    await engine.prepare(load_workspace_dir(DEMO_DIR))
    found = await asyncio.gather(*(engine.understand("demo", t) for t in INTENT_TEXTS))
    return [u.as_dict() for u in found]


async def test_the_child_scores_the_intent_model_as_the_server_would(
    tmp_path: Path, monkeypatch
) -> None:
    backend = EncoderProcess()
    encoder = SentenceEncoder(backend)
    await encoder.start()
    detected: list[str] = []
    detect = language._detect
    monkeypatch.setattr(language, "_kept", OrderedDict())  # nothing read by an earlier test
    monkeypatch.setattr(
        language, "_detect", lambda text, k: detected.append(text) or detect(text, k)
    )
    try:
        in_child = await understood(NluEngine(tmp_path, encoder=encoder))
    finally:
        await encoder.close()
    # The child read the language too: the server ran the detector only for the message it
    # had no model text for (an order number alone is masked away).
    assert detected == ["ORD-10234"]
    # The same model directory, scored in this process.
    here = await understood(NluEngine(tmp_path, encoder=SentenceEncoder(InThread())))
    assert backend.intents_scored == sum(1 for t in INTENT_TEXTS if t != "ORD-10234")
    for a, b in zip(in_child, here, strict=True):
        assert a["intent"] == b["intent"] and a["out_of_scope"] == b["out_of_scope"], (a, b)
        assert a["language"] == b["language"]
        assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-6)
        assert a["sentiment"] == pytest.approx(b["sentiment"], abs=1e-4)
        assert a["ranking"] == b["ranking"]


async def test_a_model_the_child_cannot_load_is_left_to_the_server_and_a_killed_child_restarted(
    tmp_path: Path,
) -> None:
    backend = EncoderProcess()
    encoder = SentenceEncoder(backend)
    await encoder.start()
    try:
        engine = NluEngine(tmp_path, encoder=encoder)
        await engine.prepare(load_workspace_dir(DEMO_DIR))
        model = engine.model("demo")
        assert model is not None and model.directory is not None
        # Gone (a retraining replaced it): the vector comes back, the prediction does not.
        vector, scored = await encoder.vector_and_intent(
            "where is my order", ("/gone", "h", "where is my order", "en")
        )
        assert vector.shape == (512,) and scored is None
        # A message the child cannot read (here not even text) is also left to the server,
        # without failing the batch it came in.
        ask = (model.directory, model.meta["hash"])
        (_, broken), (_, fine) = await asyncio.gather(
            encoder.vector_and_intent("where is my order", (*ask, None, "en")),  # type: ignore[arg-type]
            encoder.vector_and_intent("my parcel is late", (*ask, "my parcel is late", "en")),
        )
        assert broken is None and fine is not None and fine.ranking[0][0] == "order_status"
        # Killed while it works: the batch, its jobs too, goes to a new child once.
        first = backend.pid
        assert first is not None
        texts = [f"where is my order number {i}" for i in range(40)]
        asking = asyncio.gather(
            *(
                encoder.vector_and_intent(t, (model.directory, model.meta["hash"], t, "en"))
                for t in texts
            )
        )
        os.kill(first, signal.SIGKILL)
        results = await asking
        assert all(v.shape == (512,) for v, _ in results) and backend.pid != first
        assert all(
            scored is not None and scored.ranking[0][0] == "order_status" for _, scored in results
        )
        understanding = await engine.understand("demo", "hey, where is my parcel?")
        assert understanding.intent == "order_status"
    finally:
        await encoder.close()


async def test_two_batches_under_way_each_get_their_own_answer() -> None:
    """The child answers in order; each batch waiting beside another gets its own vectors,
    even when the batch sent before it was given up on."""
    backend = EncoderProcess()
    await asyncio.to_thread(backend.start)
    try:
        batches = [[f"batch {b} text {i}" for i in range(60)] for b in range(3)]
        given_up = asyncio.create_task(backend.vectors(batches[0]))
        rest = [asyncio.create_task(backend.vectors(batch)) for batch in batches[1:]]
        # Given up once all three are written to the child: its answer comes first.
        for _ in range(1000):  # a few turns of the loop; the child takes milliseconds
            if backend._stream is not None and len(backend._stream.waiting) == 3:
                break
            await asyncio.sleep(0)
        assert backend._stream is not None and len(backend._stream.waiting) == 3
        given_up.cancel()
        found = await asyncio.gather(*rest)
        for batch, vectors in zip(batches[1:], found, strict=True):
            assert np.allclose(vectors, get_embedder().encode(batch), atol=1e-5)
        # Killed with two batches waiting: both are sent again to a new child.
        first = backend.pid
        assert first is not None
        waiting = [asyncio.create_task(backend.vectors(batch)) for batch in batches[:2]]
        await asyncio.sleep(0)
        os.kill(first, signal.SIGKILL)
        found = await asyncio.gather(*waiting)
        for batch, vectors in zip(batches[:2], found, strict=True):
            assert np.allclose(vectors, get_embedder().encode(batch), atol=1e-5)
        assert backend.starts == 2 and backend.pid != first
    finally:
        await asyncio.to_thread(backend.close)
