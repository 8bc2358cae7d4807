"""The event stream reaches RabbitMQ at least once, through the outbox, and loses nothing.

Against the real broker (TEST_AMQP_URL; scripts/test starts one when 5672 does not answer):
each test publishes to its own exchange and reads through its own exclusive queue. A broker
that is down is simulated by a TCP proxy in front of the real one that the test closes and
reopens (the shared broker is never stopped); the outbox runs on a simulated clock, so
backoff does not make the test wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import jsonschema
import pytest
import yaml
from fastapi.testclient import TestClient

from smartsupport import outbox
from smartsupport.app import create_app
from smartsupport.conversation import handle_message, start_conversation
from smartsupport.domain import ConversationStatus, IncomingMessage, Reply, utcnow
from smartsupport.errors import ConfigurationError
from smartsupport.events import open_publisher
from smartsupport.events.delivery import EventDelivery
from smartsupport.events.schema import KIND, VERSIONS, schema
from smartsupport.inbox.csat import request_rating, submit_rating
from smartsupport.remote import CircuitBreaker
from smartsupport.services import Services
from smartsupport.settings import Settings, load_settings
from smartsupport.turn import Decision, Turn
from smartsupport.wiring import assemble, readiness, shutdown

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ROOT = Path(__file__).resolve().parent.parent


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def exchange() -> AsyncIterator[str]:
    """A fresh exchange name on the test broker, deleted afterwards. Fails loudly when the
    broker is not there."""
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure here must stop the test loudly
        pytest.fail(
            f"RabbitMQ is required for this test but {AMQP_URL} is unreachable ({exc}). "
            "Run the suite with scripts/test, which starts one."
        )
    name = f"t.events.{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        channel = await connection.channel()
        await channel.exchange_delete(name)
        await connection.close()


class Consumer:
    """An exclusive queue bound to every routing key of the exchange."""

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def __aenter__(self) -> Consumer:
        self.connection = await aio_pika.connect(AMQP_URL, timeout=5)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(
            self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self.queue = await channel.declare_queue(exclusive=True)
        await self.queue.bind(exchange, routing_key="#")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def take(self, count: int, within: float = 10) -> list[dict[str, Any]]:
        """Wait for ``count`` more messages (acknowledged); their bodies."""
        got: list[aio_pika.abc.AbstractIncomingMessage] = []
        async with asyncio.timeout(within):
            while len(got) < count:
                message = await self.queue.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.02)
                    continue
                await message.ack()
                got.append(message)
        self.messages += got
        return [json.loads(m.body) for m in got]

    async def empty(self) -> bool:
        return await self.queue.get(fail=False) is None


class ScriptedAssistant:
    """Answers every message; a message containing "human" hands the conversation over."""

    async def understand(self, workspace, text, context):  # type: ignore[no-untyped-def]
        from smartsupport.domain import Understanding

        return Understanding(language="en", intent="greet", confidence=0.8, sentiment=0.1)

    def recorded(self, workspace, message, understanding) -> None:  # type: ignore[no-untyped-def]
        pass

    async def decide(self, turn: Turn) -> Decision:
        if "human" in turn.message.text:
            return Decision(
                [Reply("A person will join", meta={"step": "handoff"})],
                status=ConversationStatus.WAITING,
                reason="asked for a human",
                metadata={"priority": "high"},
            )
        return Decision([Reply("Hello!", meta={"step": "keywords"})])

    async def close(self) -> None:
        pass


def settings(tmp_path: Path, database_url: str = "", **values: Any) -> Settings:
    directory = tmp_path / "workspaces" / "acme"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "workspace.yaml").write_text(yaml.safe_dump({"id": "acme", "name": "Acme"}))
    return Settings(
        data_dir=tmp_path,
        database_url=database_url or f"sqlite:///{tmp_path / 'db.sqlite'}",
        demo=False,
        workspaces_dir=tmp_path / "workspaces",
        secret_key="k" * 32,
        **values,
    )


@contextlib.asynccontextmanager
async def running(config: Settings) -> AsyncIterator[Services]:
    services = await assemble(config)
    services.assistant = ScriptedAssistant()  # type: ignore[assignment]
    try:
        yield services
    finally:
        await shutdown(services)


def delivery(services: Services) -> EventDelivery:
    handler = services.outbox_handlers[KIND]
    assert isinstance(handler, EventDelivery)
    return handler


async def event_rows(services: Services) -> list[dict[str, Any]]:
    store: Any = services.store
    rows = await store.fetch(
        "SELECT status, idempotency_key, payload, last_error FROM outbox WHERE kind = ? "
        "ORDER BY created_at",
        KIND,
    )
    return [store.fields.open_row("outbox", r) for r in rows]  # payloads are sealed at rest


class Clock:
    """The simulated time of the outbox and of the publisher's circuit breaker."""

    def __init__(self) -> None:
        self.now = utcnow()
        self.start = self.now

    def monotonic(self) -> float:
        return (self.now - self.start).total_seconds()


async def drain(services: Services, clock: Clock, until: datetime) -> None:
    """Run the outbox from due entry to due entry until ``until`` (simulated)."""
    while True:
        row = await services.store.fetchrow(  # type: ignore[attr-defined]
            "SELECT next_attempt_at FROM outbox WHERE status = 'pending' "
            "ORDER BY next_attempt_at LIMIT 1"
        )
        if row is None or row["next_attempt_at"] > until:
            return
        clock.now = max(clock.now, row["next_attempt_at"])
        await outbox.run_due(services, now=clock.now)


async def chat(services: Services, turns: list[str]) -> str:
    conversation, _ = await start_conversation(services, "acme", locale="en")
    for text in turns:
        await handle_message(services, IncomingMessage(conversation.id, text))
    return conversation.id


def validate(event: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(
        schema(event["type"]), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(event)


class Proxy:
    """A TCP proxy to the real broker that can be cut (every connection reset, the port
    closed) and restored on the same port: a broker outage without touching the broker."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        target = aio_pika.connection.make_url(AMQP_URL)
        self.target = (target.host or "127.0.0.1", target.port or 5672)
        self.url = str(target.with_host("127.0.0.1").with_port(self.port))
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(
            self._pipe, "127.0.0.1", self.port, reuse_address=True
        )

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await asyncio.sleep(0.1)  # let the client see its connection die

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


# -- what is published -------------------------------------------------------------------------
async def test_every_event_type_is_published_persistent_confirmed_and_valid_against_its_schema(
    tmp_path: Path, exchange: str, database_url: str
) -> None:
    config = settings(tmp_path, database_url, events_url=AMQP_URL, events_exchange=exchange)
    async with running(config) as services, Consumer(exchange) as consumer:
        conversation_id = await chat(services, ["hi", "a human please"])
        await services.store.set_status(conversation_id, ConversationStatus.RESOLVED)
        conversation = await services.store.get_conversation(conversation_id)
        assert conversation is not None
        await request_rating(services, conversation)
        await submit_rating(services, conversation_id, 4, "quick and kind")
        while await outbox.run_due(services):
            pass

        events = await consumer.take(5)
        assert await consumer.empty()  # one message per event, nothing else
        rows = await event_rows(services)

    assert sorted(e["type"] for e in events) == [
        "conversation.started",
        "feedback.given",
        "handoff.requested",
        "turn.completed",
        "turn.completed",
    ]
    for event, message in zip(events, consumer.messages, strict=True):
        validate(event)
        assert event["conversation_id"] == conversation_id and event["workspace_id"] == "acme"
        assert message.message_id == event["id"]  # consumers de-duplicate on it
        assert message.routing_key == event["type"] and message.type == event["type"]
        assert message.headers == {
            "schema_version": VERSIONS[event["type"]],
            "event_type": event["type"],
        }
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["conversation.started"]["locale"] == "en"
    assert by_type["handoff.requested"] == {
        "message_id": by_type["handoff.requested"]["message_id"],
        "reason": "asked for a human",
        "priority": "high",
        "channel": "web",
    }
    assert by_type["feedback.given"] == {"kind": "csat", "rating": 4, "has_comment": True}
    assert len({e["id"] for e in events}) == 5
    assert [r["status"] for r in rows] == ["done"] * 5


async def test_no_events_url_means_no_event_rows_in_the_outbox(tmp_path: Path) -> None:
    async with running(settings(tmp_path)) as services:
        conversation_id = await chat(services, ["hi", "a human please"])
        conversation = await services.store.get_conversation(conversation_id)
        assert conversation is not None and conversation.status is ConversationStatus.WAITING
        await services.store.set_status(conversation_id, ConversationStatus.RESOLVED)
        await request_rating(services, conversation)
        await submit_rating(services, conversation_id, 5, None)
        assert await event_rows(services) == []
        assert "events" not in await readiness(services)


# -- a broker that is down, refuses, or has nowhere to put an event ---------------------------
async def test_broker_down_at_start_up_and_mid_run_loses_no_event(
    tmp_path: Path, exchange: str
) -> None:
    proxy, clock = Proxy(), Clock()
    config = settings(tmp_path, events_url=proxy.url, events_exchange=exchange)
    async with running(config) as services, Consumer(exchange) as consumer:
        publisher = delivery(services).publisher
        assert publisher is not None
        publisher.breaker = CircuitBreaker(3, 10.0, clock=clock.monotonic)  # type: ignore[attr-defined]
        # Down at start-up: the process starts, events wait, readiness says why.
        first = [await chat(services, ["hi"]) for _ in range(3)]  # 6 events
        await drain(services, clock, clock.now + timedelta(minutes=5))
        rows = await event_rows(services)
        assert [r["status"] for r in rows] == ["pending"] * 6
        assert all("cannot connect" in r["last_error"] for r in rows)
        state = (await readiness(services))["events"]
        assert state.startswith("unavailable:") and "6 event(s) wait in the outbox" in state

        await proxy.up()
        await drain(services, clock, clock.now + timedelta(minutes=15))
        assert (await readiness(services))["events"] == "ok"
        received = await consumer.take(6)

        # Down mid-run: the connection is cut under the publisher.
        await proxy.down()
        second = [await chat(services, ["hi", "a human please"]) for _ in range(2)]  # 8
        await drain(services, clock, clock.now + timedelta(minutes=5))
        assert [r["status"] for r in await event_rows(services)].count("pending") == 8
        assert (await readiness(services))["events"].startswith("unavailable:")

        await proxy.up()
        await drain(services, clock, clock.now + timedelta(minutes=15))
        received += await consumer.take(8)
        rows = await event_rows(services)
    await proxy.down()

    sent = {r["payload"]["id"] for r in rows}
    assert [r["status"] for r in rows] == ["done"] * 14
    assert {e["id"] for e in received} == sent  # nothing lost (and, here, nothing twice)
    assert {e["conversation_id"] for e in received} == set(first + second)


async def test_unreachable_broker_makes_readyz_degraded_not_unready(tmp_path: Path) -> None:
    proxy = Proxy()  # nobody listens on its port
    config = settings(tmp_path, events_url=proxy.url)
    with TestClient(create_app(config)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200  # chats still work: keep the process in the balancer
    body = answer.json()
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["events"].startswith("unavailable: amqp://127.0.0.1:")
    assert "cannot connect" in body["events"]


async def test_an_event_no_queue_takes_waits_until_one_is_bound(
    tmp_path: Path, exchange: str
) -> None:
    clock = Clock()
    config = settings(tmp_path, events_url=AMQP_URL, events_exchange=exchange)
    async with running(config) as services:
        await chat(services, ["hi"])
        await drain(services, clock, clock.now + timedelta(minutes=1))
        rows = await event_rows(services)
        assert [r["status"] for r in rows] == ["pending"] * 2
        assert all("no queue is bound" in r["last_error"] for r in rows)
        async with Consumer(exchange) as consumer:
            await drain(services, clock, clock.now + timedelta(minutes=15))
            assert sorted(e["type"] for e in await consumer.take(2)) == [
                "conversation.started",
                "turn.completed",
            ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:wrong@127.0.0.1:5672/", "refused the user or password"),
        ("amqp://guest:guest@127.0.0.1:5672/no-such-vhost", "virtual host 'no-such-vhost'"),
    ],
)
async def test_a_url_the_broker_refuses_stops_start_up_naming_the_fix(
    tmp_path: Path, exchange: str, url: str, expected: str
) -> None:
    host = aio_pika.connection.make_url(AMQP_URL)
    url = url.replace("127.0.0.1:5672", f"{host.host}:{host.port}")
    with pytest.raises(ConfigurationError) as failure:
        await assemble(settings(tmp_path, events_url=url, events_exchange=exchange))
    assert expected in str(failure.value)
    assert "fix SMARTSUPPORT_EVENTS_URL" in str(failure.value)


async def test_an_exchange_of_another_type_stops_start_up(tmp_path: Path, exchange: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT, durable=True)
        with pytest.raises(ConfigurationError, match="SMARTSUPPORT_EVENTS_EXCHANGE"):
            await assemble(settings(tmp_path, events_url=AMQP_URL, events_exchange=exchange))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("kafka://localhost:9092", "known schemes are amqp://, amqps://"),
        ("rabbitmq.internal:5672", "known schemes are amqp://, amqps://"),
        ("amqp://host:notaport/", "malformed"),
        ("amqp:///vhost", "names no host"),
    ],
)
def test_a_wrong_events_url_is_a_settings_error_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv("SMARTSUPPORT_EVENTS_URL", url)
    with pytest.raises(ConfigurationError) as failure:
        load_settings()
    assert "SMARTSUPPORT_EVENTS_URL" in str(failure.value) and expected in str(failure.value)


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aio_pika", None)
    monkeypatch.delitem(sys.modules, "smartsupport.events.amqp", raising=False)
    with pytest.raises(ConfigurationError, match=r"pip install 'smartsupport\[events\]'"):
        open_publisher(AMQP_URL, "smartsupport.events")


# -- the documented schema ---------------------------------------------------------------------
def test_docs_show_every_packaged_schema_verbatim() -> None:
    docs = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    blocks = [json.loads(b.split("```", 1)[0]) for b in docs.split("```json\n")[1:]]
    shown = {b["$id"]: b for b in blocks if "$id" in b}
    for type, version in VERSIONS.items():
        packaged = schema(type, version)
        assert shown.get(packaged["$id"]) == packaged, f"docs/events.md: {type} v{version}"


async def test_the_example_consumer_prints_each_event_once(tmp_path: Path, exchange: str) -> None:
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "event_consumer.py"),
        "--url",
        AMQP_URL,
        "--exchange",
        exchange,
        "--count",
        "3",
        stdout=asyncio.subprocess.PIPE,
    )
    assert consumer.stdout is not None
    try:
        async with asyncio.timeout(20):
            assert "ready" in json.loads(await consumer.stdout.readline())
            config = settings(tmp_path, events_url=AMQP_URL, events_exchange=exchange)
            async with running(config) as services:
                await chat(services, ["hi"])
                while await outbox.run_due(services):
                    pass
                rows = await event_rows(services)
                # A redelivery (e.g. a worker that died before marking the row done).
                await services.store.execute(  # type: ignore[attr-defined]
                    "UPDATE outbox SET status = 'pending' WHERE idempotency_key = ?",
                    f"event:{rows[0]['payload']['id']}",
                )
                while await outbox.run_due(services):
                    pass
            output, _ = await consumer.communicate()
    finally:
        if consumer.returncode is None:
            consumer.kill()
            await consumer.wait()
    printed = [json.loads(line) for line in output.decode().splitlines()]
    assert sorted(e["type"] for e in printed) == ["conversation.started", "turn.completed"]
    for event in printed:
        validate(event)
