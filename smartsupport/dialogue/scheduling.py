"""The ``schedule_message`` step: a flow schedules a proactive message for its customer
("your return label expires tomorrow"), on the conversation's channel, in the flow's language.

    - schedule_message: label_reminder          # its name (events, the message's meta)
      at: "created.label_expires_at"            # a time from the flow's data (ISO 8601) ...
      offset: -1d                               # ... moved by this: the day before
      # or: after: 13d                          # a delay from now (30m, 12h, 13d, 2w)
      key: "{{ created.return_id }}"            # optional: one message per key
      unless_handed_over: true                  # optional: not while a person holds it
      say: {en: "...", es: "..."}

Deciding stays pure: the engine only *plans* the message (``plan``, a ``Scheduled``); the
manager turns the plans into ``proactive.send`` outbox items (``outbox_items``) in the turn's
``Decision``, and the conversation path writes them in the turn's one transaction. The item is
the very row the proactive API writes (``proactive_request.py``), so the same handler sends it
when it is due, reading consent then: an address that sent STOP gets nothing, with the reason
recorded. Its key is the conversation's plus the step's ``key`` (default: the step's name and
the message's text), so a replayed turn, a corrected slot that re-runs the flow, or a flow
resumed after another one schedules nothing twice.

    - cancel_message: label_reminder            # the schedule_message step's name ...
      key: "return-label-{{ refund.order_id }}" # ... and its key, from this flow's data

calls the message back (the parcel reached the warehouse: no reminder): ``unplan`` plans it,
and ``cancellations`` turns it into an ``OutboxCancel`` in the turn's ``Decision``, so the
pending row is finished unrun (``{"cancelled": ...}``) in the turn's transaction too. Without
a key (its schedule step has none either) every pending message of that name in the
conversation is called back. A message planned earlier in the same turn is simply dropped.
One already going out (a worker holds it) or gone cannot be called back; a key once used stays
used, so a message scheduled again needs a new key (a new return number).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from smartsupport.dialogue import templates
from smartsupport.domain import OutboxCancel, OutboxItem
from smartsupport.proactive_request import (
    ADDRESSLESS,
    CHANNELS,
    KIND,
    ProactiveRequest,
    idempotency_key,
    outbox_item,
)
from smartsupport.turn import Turn

DURATION = re.compile(r"^(-)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_HELP = "write a duration such as 30m, 12h, 13d, 2w or -1d"


class ScheduleError(ValueError):
    """The flow's data gave no usable time or key: the message is not scheduled."""


def parse_duration(text: str) -> timedelta:
    """``13d`` -> 13 days; ``-1d12h`` -> minus a day and a half. ValueError names the fix."""
    found = DURATION.match(str(text).strip())
    if found is None or not any(found.groups()[1:]):
        raise ValueError(f"{text!r} is not a duration; {DURATION_HELP}")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in found.groups()[1:])
    delta = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    return -delta if found.group(1) else delta


@dataclass(slots=True)
class Scheduled:
    """A message the flow asked to send later, before it has a conversation's key."""

    name: str
    flow: str
    key: str  # the step's rendered ``key``, or its name and text
    text: str
    send_at: datetime
    require_opt_in: bool = False
    template: dict[str, Any] | None = None
    unless_handed_over: bool = False

    def event(self) -> dict[str, Any]:
        return {"flow": self.flow, "message": self.name, "send_at": self.send_at.isoformat()}


def send_time(spec: Any, scope: dict[str, Any], now: datetime) -> datetime:
    """When: ``after`` from now, or ``at`` (evaluated in the flow's scope) moved by
    ``offset``. A time without a zone is UTC; a date alone is its midnight, UTC."""
    if spec.after is not None:
        return now + parse_duration(spec.after)
    value = templates.evaluate(spec.at, scope)
    when: datetime
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ScheduleError(f"at: {value!r} is not an ISO 8601 date or time") from None
    else:
        raise ScheduleError(f"at: {spec.at!r} gave {value!r}, not a date or time")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when + (parse_duration(spec.offset) if spec.offset else timedelta())


def plan(spec: Any, flow: str, text: str, scope: dict[str, Any], now: datetime) -> Scheduled:
    """The message of one ``schedule_message`` step (``spec``: its ScheduleStep) with its
    text already rendered in the flow's language. ScheduleError when the data gives no time
    or an empty key."""
    send_at = send_time(spec, scope, now)
    if spec.key is not None:
        key = templates.render(spec.key, scope).strip()
        if not key:
            raise ScheduleError(f"key: {spec.key!r} rendered empty")
    else:
        key = f"{spec.schedule_message}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    template = None
    if spec.template is not None:
        template = {
            "name": spec.template.name,
            "language": spec.template.language,
            "parameters": [templates.render(p, scope) for p in spec.template.parameters],
        }
    return Scheduled(
        spec.schedule_message, flow, key, text, send_at, spec.require_opt_in, template,
        spec.unless_handed_over,
    )  # fmt: skip


def outbox_items(
    turn: Turn, planned: list[Scheduled]
) -> tuple[list[OutboxItem], list[tuple[str, dict[str, Any]]]]:
    """The turn's ``proactive.send`` items for the messages its flows planned, and the
    events that record them (or why one was not scheduled: a channel that cannot take it)."""
    items: list[OutboxItem] = []
    events: list[tuple[str, dict[str, Any]]] = []
    channel = turn.conversation.channel
    for message in planned:
        if channel not in CHANNELS + ADDRESSLESS:
            reason = f"the {channel} channel takes no proactive messages"
            events.append(("flow.not_scheduled", {**message.event(), "error": reason}))
            continue
        key = f"flow:{turn.conversation.id}:{message.key}"
        request = ProactiveRequest(
            key=key,
            text=message.text,
            send_at=message.send_at,
            template=message.template,
            require_opt_in=message.require_opt_in,
            extra={
                "flow": message.flow,
                "message": message.name,
                **({"unless_handed_over": True} if message.unless_handed_over else {}),
            },
        )
        items.append(outbox_item(turn.workspace.id, turn.conversation.id, request))
        events.append(("flow.scheduled", {**message.event(), "key": key}))
    return items, events


@dataclass(slots=True)
class Unscheduled:
    """A message the flow called back: the ``schedule_message`` step's name and its rendered
    key (None: every message of that name)."""

    name: str
    flow: str
    key: str | None

    def matches(self, planned: Scheduled) -> bool:
        return planned.key == self.key if self.key is not None else planned.name == self.name

    def event(self) -> dict[str, Any]:
        return {"flow": self.flow, "message": self.name}


def unplan(spec: Any, flow: str, scope: dict[str, Any]) -> Unscheduled:
    """The call-back of one ``cancel_message`` step (``spec``: its CancelStep). ScheduleError
    when its key renders empty."""
    key = None
    if spec.key is not None:
        key = templates.render(spec.key, scope).strip()
        if not key:
            raise ScheduleError(f"key: {spec.key!r} rendered empty")
    return Unscheduled(spec.cancel_message, flow, key)


def cancellations(
    turn: Turn, called_back: list[Unscheduled]
) -> tuple[list[OutboxCancel], list[tuple[str, dict[str, Any]]]]:
    """The turn's ``OutboxCancel`` for the messages its flows called back, and the events
    that record them. The keys are those ``outbox_items`` gives: the conversation's plus the
    step's key, or its name and text (then matched by the name's prefix)."""
    items: list[OutboxCancel] = []
    events: list[tuple[str, dict[str, Any]]] = []
    workspace, conversation = turn.workspace.id, turn.conversation.id
    for message in called_back:
        # A default key is the step's name and a digest of its text: matched by the name.
        own = message.key if message.key is not None else f"{message.name}:"
        key = f"flow:{conversation}:{own}"
        why = {"cancelled": f"flow {message.flow}: cancel_message {message.name}"}
        prefix = message.key is None
        items.append(OutboxCancel(KIND, idempotency_key(workspace, key), prefix, why))
        events.append(("flow.unscheduled", {**message.event(), "key": key}))
    return items, events
