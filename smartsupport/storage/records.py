"""Rows to domain objects, shared by every backend.

Both backends hand back rows as dicts with the same Python types (JSON columns as dicts,
timestamps as aware UTC datetimes), so one set of constructors serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Event,
    Message,
    Workspace,
)
from smartsupport.ids import new_id

__all__ = ["new_id"]  # re-exported: stores make ids through this module

Row = Mapping[str, Any]


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken to be UTC already; aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def merge(
    current: dict[str, Any], changes: Mapping[str, Any], *, drop_none: bool
) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if value is None and drop_none:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def turn_errors(messages: Sequence[Message]) -> dict[str, str]:
    """The Conflict and NotFound texts of ``Store.record_turn``, the same on every backend."""
    clients = ", ".join(repr(m.client_id) for m in messages if m.client_id)
    return {
        "conflict": f"client_id {clients} was already used in this conversation.",
        "missing": "reply_to names an unknown message.",
    }


def workspace(row: Row) -> Workspace:
    return Workspace(
        id=row["id"], name=row["name"], config=row["config"], created_at=row["created_at"]
    )


def customer(row: Row) -> Customer:
    return Customer(
        id=row["id"],
        workspace_id=row["workspace_id"],
        external_id=row["external_id"],
        name=row["name"],
        email=row["email"],
        locale=row["locale"],
        channel=row["channel"],
        segment=row["segment"],
        metadata=row["metadata"],
        created_at=row["created_at"],
    )


def conversation(row: Row) -> Conversation:
    return Conversation(
        id=row["id"],
        workspace_id=row["workspace_id"],
        customer_id=row["customer_id"],
        channel=row["channel"],
        status=ConversationStatus(row["status"]),
        last_seq=row["last_seq"],
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def message(row: Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        author=Author(row["author"]),
        text=row["text"],
        client_id=row["client_id"],
        reply_to=row["reply_to"],
        meta=row["meta"],
        created_at=row["created_at"],
    )


def event(row: Row) -> Event:
    return Event(
        id=row["id"],
        workspace_id=row["workspace_id"],
        conversation_id=row["conversation_id"],
        type=row["type"],
        data=row["data"],
        created_at=row["created_at"],
    )
