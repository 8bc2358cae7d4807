"""Events to RabbitMQ (AMQP 0-9-1), through aio-pika (extra ``events``).

    amqp://user:password@host:5672/vhost    amqps:// for TLS

Each event is a persistent message on a durable topic exchange (``SMARTSUPPORT_EVENTS_EXCHANGE``,
default ``smartsupport.events``), routed by its type (``turn.completed``, ...), with
``message_id`` = the event id (consumers de-duplicate on it), ``type``, ``timestamp``,
``content_type: application/json`` and the headers ``schema_version`` and ``event_type``.

Publishing is confirmed: the channel runs in publisher-confirm mode and messages are
``mandatory``, so ``publish`` returns only when the broker has routed the message to at
least one queue and taken it (on disk, for durable queues). A message no queue takes is
returned by the broker and counts as NOT delivered: the outbox keeps the event until a
queue is bound, rather than letting RabbitMQ drop it.

The connection is opened at start-up and re-opened on demand after it breaks; a broker
that keeps failing opens the shared circuit breaker (``remote.CircuitBreaker``), so a
backlog of waiting events costs no connection attempt each.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.exceptions import (
    AMQPError,
    ChannelPreconditionFailed,
    ProbableAuthenticationError,
    ProtocolSyntaxError,
)
from pamqp.commands import Basic
from yarl import URL

from smartsupport.errors import ConfigurationError, DeliveryError, SmartsupportError
from smartsupport.events.base import EventPublisher
from smartsupport.remote import CircuitBreaker

log = logging.getLogger(__name__)

DEFAULT_EXCHANGE = "smartsupport.events"
CONNECT_TIMEOUT = 5.0  # a broker that has not answered in 5 s is down for this attempt
CONFIRM_TIMEOUT = 10.0  # RabbitMQ confirms after the fsync of durable queues: ms, not s
# Three failed connections in a row stop further tries for 10 s: the outbox's own backoff
# spaces each event's retries, the breaker keeps a backlog from dialling once per event.
BREAKER_FAILURES, BREAKER_RESET = 3, 10.0
FIX = "fix SMARTSUPPORT_EVENTS_URL (amqp://user:password@host:5672/vhost)"


class AmqpPublisher(EventPublisher):
    def __init__(
        self,
        url: str,
        exchange: str = DEFAULT_EXCHANGE,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        confirm_timeout: float = CONFIRM_TIMEOUT,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.url = url
        parsed = URL(url)
        self.target = f"{parsed.scheme}://{parsed.host}:{parsed.port}{parsed.path or '/'}"
        self.exchange_name = exchange
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self.breaker = breaker or CircuitBreaker(BREAKER_FAILURES, BREAKER_RESET)
        self.problem: str | None = "not connected yet"
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        try:
            await self._ready()
        except DeliveryError as exc:
            log.warning("event broker unreachable at start-up, events wait: %s", exc)

    async def publish(self, event: dict[str, Any]) -> None:
        if not self.breaker.allow():
            raise DeliveryError(
                f"event broker {self.target} unavailable ({self.problem})",
                retryable=True,
                retry_after=self.breaker.retry_in(),
            )
        exchange = await self._ready()
        try:
            confirmation = await exchange.publish(
                _message(event), routing_key=event["type"], timeout=self.confirm_timeout
            )
        except (AMQPError, OSError, TimeoutError) as exc:
            await self._broken(f"publish failed: {_describe(exc)}")
            raise DeliveryError(
                f"event broker {self.target}: {self.problem}", retryable=True
            ) from exc
        self.breaker.record_success()  # the broker answered, whatever it said
        if not isinstance(confirmation, Basic.Ack):
            # Returned (no queue is bound for this routing key) or nacked: the event is not
            # delivered, though the broker is up.
            why = "no queue is bound for it" if confirmation is not None else "not confirmed"
            raise DeliveryError(
                f"event {event['type']} {event['id']}: {why} on exchange "
                f"{self.exchange_name!r} of {self.target}",
                retryable=True,
            )

    async def check(self) -> str | None:
        if self._usable():
            return None
        if self.breaker.allow():
            try:
                await self._ready()
            except SmartsupportError:  # unreachable, or refused: ``problem`` says which
                pass
        return self.problem

    async def close(self) -> None:
        async with self._lock:
            await self._disconnect()

    # -- the connection --------------------------------------------------------------------
    def _usable(self) -> bool:
        return (
            self._exchange is not None
            and self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def _ready(self) -> AbstractExchange:
        """The exchange on a live confirm-mode channel, connecting if needed."""
        async with self._lock:
            if self._usable():
                assert self._exchange is not None
                return self._exchange
            await self._disconnect()
            try:
                connection = await self._open()
            except ProbableAuthenticationError as exc:
                self.problem = f"the broker refused the user or password: {FIX}"
                raise ConfigurationError(f"event broker {self.target}: {self.problem}") from exc
            except ProtocolSyntaxError as exc:  # RabbitMQ closes the handshake: no vhost
                vhost = URL(self.url).path[1:] or "/"
                self.problem = (
                    f"the broker refused the connection (is the virtual host {vhost!r} there, "
                    f"and may this user use it?): {FIX}"
                )
                raise ConfigurationError(f"event broker {self.target}: {self.problem}") from exc
            except (AMQPError, OSError, TimeoutError) as exc:
                self.breaker.record_failure()
                self.problem = f"cannot connect: {_describe(exc)}"
                raise DeliveryError(
                    f"event broker {self.target}: {self.problem}", retryable=True
                ) from exc
            try:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await channel.declare_exchange(
                    self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
                )
            except ChannelPreconditionFailed as exc:
                await connection.close()
                self.problem = (
                    f"exchange {self.exchange_name!r} exists with another type or durability; "
                    "events need a durable topic exchange: fix SMARTSUPPORT_EVENTS_EXCHANGE "
                    "or the broker"
                )
                raise ConfigurationError(f"event broker {self.target}: {self.problem}") from exc
            except (AMQPError, OSError, TimeoutError) as exc:
                await connection.close()
                self.breaker.record_failure()
                self.problem = f"cannot open a channel: {_describe(exc)}"
                raise DeliveryError(
                    f"event broker {self.target}: {self.problem}", retryable=True
                ) from exc
            self._connection, self._channel, self._exchange = connection, channel, exchange
            self.problem = None
            self.breaker.record_success()
            log.info("publishing events to exchange %r on %s", self.exchange_name, self.target)
            return exchange

    async def _open(self) -> AbstractConnection:
        # aio_pika.connect drops the Connection it made when connecting fails; that object's
        # __del__ then schedules a close() which an event loop that is stopping never runs
        # ("coroutine 'Connection.close' was never awaited"). Closed here, it leaves the
        # collector nothing to do.
        connection = aio_pika.Connection(URL(self.url))
        try:
            await connection.connect(timeout=self.connect_timeout)
        except Exception:
            await connection.close()
            raise
        return connection

    async def _broken(self, problem: str) -> None:
        self.breaker.record_failure()
        self.problem = problem
        async with self._lock:
            await self._disconnect()

    async def _disconnect(self) -> None:
        connection = self._connection
        self._connection, self._channel, self._exchange = None, None, None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except (AMQPError, OSError, TimeoutError) as exc:  # already gone: nothing to save
                log.debug("closing the event broker connection: %s", exc)


def _message(event: dict[str, Any]) -> aio_pika.Message:
    return aio_pika.Message(
        json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode(),
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event["id"],
        type=event["type"],
        timestamp=datetime.fromisoformat(event["occurred_at"]),
        app_id="smartsupport",
        headers={"schema_version": event["schema_version"], "event_type": event["type"]},
    )


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
