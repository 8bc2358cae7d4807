"""The events data teams receive: their types, the envelope, the versioned JSON Schemas.

Every event is one JSON object (docs/events.md documents each type):

    {"id": "9f1c...", "type": "turn.completed", "schema_version": 1,
     "occurred_at": "2026-12-03T09:17:39.123456+00:00",
     "workspace_id": "acme", "conversation_id": "4b2e...", "data": {...}}

``event_items`` turns one into an outbox item (kind ``event.publish``), which the writer adds
to the transaction of the change it reports; nothing is built when
``SMARTSUPPORT_EVENTS_URL`` is unset. The schema of each type and version is a file in
``events/schemas/`` (``<type>.v<version>.json``), shipped in the package so consumers and
tests validate against the same text the documentation shows.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from smartsupport.domain import OutboxItem, utcnow
from smartsupport.ids import new_id

KIND = "event.publish"  # the outbox kind that carries every event

# type -> the schema version published today. A change that removes, renames or changes
# the meaning of a field is a new version (a new schema file); adding an optional field
# is not (consumers ignore fields they do not know).
VERSIONS: dict[str, int] = {
    "conversation.started": 1,
    "turn.completed": 1,
    "handoff.requested": 1,
    "feedback.given": 2,  # 2: kind "answer" (thumbs on one bot answer), issue 15
}
SCHEMAS = Path(__file__).parent / "schemas"


def event_items(
    enabled: bool,
    type: str,
    workspace_id: str,
    conversation_id: str | None,
    data: dict[str, Any],
) -> list[OutboxItem]:
    """The outbox item that publishes one event, or nothing when events are off
    (``enabled`` is ``bool(settings.events_url)``). The event id is the message id on
    the broker and the outbox's idempotency key, so consumers de-duplicate on it."""
    if not enabled:
        return []
    event = envelope(type, workspace_id, conversation_id, data)
    return [OutboxItem(KIND, event, idempotency_key=f"event:{event['id']}")]


def envelope(
    type: str, workspace_id: str, conversation_id: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    if type not in VERSIONS:
        raise ValueError(f"unknown event type {type!r}; known: {', '.join(VERSIONS)}")
    return {
        "id": new_id(),
        "type": type,
        "schema_version": VERSIONS[type],
        "occurred_at": utcnow().isoformat(),
        "workspace_id": workspace_id,
        "conversation_id": conversation_id,
        "data": data,
    }


@cache
def schema(type: str, version: int | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event type and version (default: today's)."""
    if type not in VERSIONS:
        raise ValueError(f"unknown event type {type!r}; known: {', '.join(VERSIONS)}")
    path = SCHEMAS / f"{type}.v{version or VERSIONS[type]}.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded
