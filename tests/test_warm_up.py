"""The warm-up (warm_up.py, issue 18): before the server says it is ready, the tables the
first turns would build on first use are built; then every article passage and its sentences
go through the encoder in the background, so a first question about them asks the encoder for
its own texts only. An encoder that fails stops that background work and nothing else; with
SMARTSUPPORT_WARM_UP=off, or with the encoder in the server's own thread (one core), nothing
is encoded ahead."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import fastapi.routing
from appkit import say, served, start

from smartsupport import messages, warm_up
from smartsupport.encoder_process import EncoderUnavailable
from smartsupport.knowledge.units import units_of
from smartsupport.settings import Settings


def sentences(passages) -> set[str]:
    return {u for p in passages for u in units_of(p.text) or [p.text]}


async def encoded_ahead(app) -> set[str]:
    """The demo's passage sentences, once the background encoding is done: all of them."""
    assistant = app.state.services.assistant
    passages = await assistant.knowledge.passages("demo")
    assert await asyncio.wait_for(app.state.encoding_ahead, 120) == len(passages)
    wanted = sentences(passages)
    assert wanted <= assistant.articles.answerability._vectors.keys()
    return wanted


async def test_the_first_question_after_start_asks_the_encoder_only_for_itself(
    tmp_path: Path,
) -> None:
    messages.catalog.cache_clear()
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, warm_up=True, encoder="process")
    async with served(settings) as (app, http):
        # Built before the app was ready: every shipped language's texts, the demo's handoff
        # patterns (cached on the workspace object).
        assert messages.catalog.cache_info().currsize == len(messages.LANGUAGES)
        assert "escalation:patterns" in app.state.services.workspaces["demo"]._parsed
        assistant = app.state.services.assistant
        wanted = await encoded_ahead(app)
        assert len(wanted) > 100  # the demo's articles: hundreds of sentences
        answerability = assistant.articles.answerability
        asked: list[str] = []
        encode = answerability.vectors

        async def recording(texts: list[str]):
            asked.extend(texts)
            return await encode(texts)

        answerability.vectors = recording
        conversation = await start(http)
        question = "How long does delivery to Canada take?"
        reply = await say(http, conversation, question, "c1")
        texts = [m["text"] for m in reply.json()["replies"]]
        assert any("Canada" in t and "business days" in t for t in texts), texts
        assert not set(asked) & wanted, set(asked) & wanted  # no sentence of an article


async def test_with_the_encoder_in_the_servers_thread_nothing_is_encoded_ahead(
    tmp_path: Path,
) -> None:
    """One core: the first turns' core is not spent on sentences no question may need."""
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, warm_up=True, encoder="thread")
    async with served(settings) as (app, _):
        assert await asyncio.wait_for(app.state.encoding_ahead, 30) == 0
        assert app.state.services.assistant.articles.answerability._vectors == {}


async def test_no_request_after_start_builds_a_route(tmp_path: Path, monkeypatch) -> None:
    """FastAPI builds an included router's routes on the first request that reaches them;
    the warm-up has built them all, so the first requests (readiness, a customer's, an
    agent's) only run their route."""
    built: list[str] = []
    populate = fastapi.routing._populate_api_route_state

    def recording(route, path, *args, **kwargs):
        built.append(path)
        return populate(route, path, *args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "_populate_api_route_state", recording)
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, warm_up=True, encoder="thread")
    async with served(settings) as (_, http):
        assert any(path.startswith("/api/v1/") for path in built)  # built at start-up
        built.clear()
        assert (await http.get("/readyz")).status_code == 200
        await say(http, await start(http), "Do you ship to Canada?", "c1")
        assert (await http.get("/api/v1/inbox/queue")).status_code == 401
        assert built == []


async def test_off_encodes_nothing_ahead(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, warm_up=False)
    async with served(settings) as (app, http):
        assert app.state.encoding_ahead is None
        await say(http, await start(http), "Do you ship to Canada?", "c1")
        # Only what that question met: its passages' sentences, not every article's.
        known = app.state.services.assistant.articles.answerability._vectors
        every = sentences(await app.state.services.assistant.knowledge.passages("demo"))
        assert 0 < len(known.keys() & every) < len(every) / 4


async def test_a_failing_encoder_stops_only_the_encoding_ahead(tmp_path: Path, caplog) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, warm_up=False, encoder="process")
    async with served(settings) as (app, http):
        assistant = app.state.services.assistant
        answerability = assistant.articles.answerability

        async def down(texts: list[str]):
            raise EncoderUnavailable("the encoder process died twice on one batch")

        working, answerability.vectors = answerability.vectors, down
        with caplog.at_level(logging.WARNING, logger="smartsupport.warm_up"):
            assert await warm_up.encode_passages(assistant) == 0
        assert "encoding the passages ahead stopped" in caplog.text
        answerability.vectors = working
        # What would fill more than half of answerability's cache is left to the questions.
        answerability._cache_size = 10
        assert await warm_up.encode_passages(assistant) == 0
        answerability._cache_size = 20_000
        assert await warm_up.encode_passages(assistant) == len(
            await assistant.knowledge.passages("demo")
        )
        reply = await say(http, await start(http), "Do you ship to Canada?", "c1")
        assert reply.json()["replies"]
