"""The queue: conversations waiting for a person, in the order they should be served.

Order: priority first (urgent, high, normal, low: ``conversations.metadata["priority"]``, set
by escalation rules or a supervisor), then the time the conversation started waiting (the
``conversation.status`` event that put it there), oldest first.

The estimated wait shown to the customer is deliberately simple and explainable: a free
agent answers in about a minute; otherwise the conversations ahead of you are shared among
the agents online, each taking the workspace's recent average handling time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartsupport.domain import utcnow
from smartsupport.errors import NotFound
from smartsupport.handoff.config import Routing
from smartsupport.inbox.roster import workspace_agents
from smartsupport.inbox.routing import Need, SlaClock, clock, need_for, routing_of
from smartsupport.inbox.store import InboxStore
from smartsupport.services import Services

PRIORITIES = ("urgent", "high", "normal", "low")
RANK = {name: rank for rank, name in enumerate(PRIORITIES)}
DEFAULT_HANDLE_SECONDS = 5 * 60
MAX_QUEUE = 500


@dataclass(slots=True)
class QueueEntry:
    conversation_id: str
    workspace_id: str
    customer_id: str
    customer_name: str | None
    priority: str
    reason: str | None
    waiting_since: datetime
    preview: str | None
    team: str | None = None
    offered_to: str | None = None
    position: int = 0
    channel: str = "web"  # where the customer wrote: the agent's reply goes out there
    customer_email: str | None = None  # the customer's, else the contact form's
    past_conversations: int = 0  # the customer's other conversations (issue 16)
    need: Need = Need(None, None)  # the skill and language it needs (routing.py)
    sla: SlaClock | None = None  # the first response's clock
    unread: int = 0  # the customer's messages the reader has not read (``waiting``'s reader)
    last_seq: int = 0  # the conversation's last message when ``unread`` was counted

    def waited_seconds(self, now: datetime | None = None) -> float:
        return max(0.0, ((now or utcnow()) - self.waiting_since).total_seconds())

    def as_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "workspace": self.workspace_id,
            "customer_name": self.customer_name,
            "priority": self.priority,
            "reason": self.reason,
            "waiting_since": self.waiting_since.isoformat(),
            "waited_seconds": round(self.waited_seconds()),
            "preview": self.preview,
            "team": self.team,
            "offered_to": self.offered_to,
            "position": self.position,
            "channel": self.channel,
            "customer_email": self.customer_email,
            "past_conversations": self.past_conversations,
            "skill": self.need.skill,
            "language": self.need.language,
            "sla": self.sla.as_json() if self.sla else None,
            "unread": self.unread,
            "last_seq": self.last_seq,
        }


def _routing(services: Services, workspace_id: str) -> Routing:
    try:
        return routing_of(services, workspace_id)
    except NotFound:  # a workspace removed from the configuration: no routing rules
        return Routing()


def priority_of(metadata: dict[str, Any]) -> str:
    value = metadata.get("priority")
    return value if value in RANK else "normal"


def escalation_reason(metadata: dict[str, Any], status_reason: str | None = None) -> str | None:
    """Why the conversation needs a person: the reason recorded with the status change, or
    the escalation rules' reason stored on the conversation."""
    escalation = metadata.get("escalation")
    stored = escalation.get("reason") if isinstance(escalation, dict) else None
    return status_reason or stored or metadata.get("escalation_reason")


def status_reason(data: dict[str, Any]) -> str | None:
    """A status change's reason as staff see it: with the staff member's name when one
    made it (``named_reason``, sealed at rest; migration 0041 moved it there from the
    ``reason`` of older events), else the reason itself."""
    return data.get("named_reason") or data.get("reason")


async def waiting(
    services: Services, workspace_ids: list[str], *, reader: str | None = None
) -> list[QueueEntry]:
    """Every waiting conversation of these workspaces, in serving order (positions from 1,
    counted per workspace). With a ``reader`` (a staff id) each entry's ``unread`` counts the
    customer's messages after that agent's read mark (``InboxStore.mark_read``), in the same
    query: one more index range per card, not one more query; ``last_seq`` is where that
    count stops (live ``unread`` frames after it add to it: inbox/unread.py)."""
    if not workspace_ids:
        return []
    marks = ", ".join("?" for _ in workspace_ids)
    unread = (
        "(SELECT COUNT(*) FROM messages u WHERE u.conversation_id = c.id "
        " AND u.seq > COALESCE((SELECT r.seq FROM inbox_reads r WHERE r.conversation_id = c.id"
        " AND r.staff_id = ?), 0) AND u.author = 'customer') AS unread, "
        if reader is not None
        else "0 AS unread, "
    )
    # The customer's last message is read once per card, through a join on its id (it was
    # three subqueries, one per column: text, id, metadata).
    rows = await services.store.fetch(  # type: ignore[attr-defined]
        "SELECT c.id, c.workspace_id, c.customer_id, c.metadata, c.created_at, c.channel, "
        "c.last_seq, "
        "cu.name AS customer_name, cu.email AS customer_email, "
        "(SELECT COUNT(*) FROM conversations p WHERE p.customer_id = c.customer_id) AS seen, "
        "i.team, i.offered_to, i.offer_expires_at, "
        "(SELECT MAX(e.id) FROM events e WHERE e.conversation_id = c.id "
        f" AND e.type = 'conversation.status') AS status_event, {unread}"
        "m.text AS preview, m.id AS preview_id, m.meta AS preview_meta "
        "FROM conversations c JOIN customers cu ON cu.id = c.customer_id "
        "LEFT JOIN inbox_conversations i ON i.conversation_id = c.id "
        "LEFT JOIN messages m ON m.id = (SELECT x.id FROM messages x "
        " WHERE x.conversation_id = c.id AND x.author = 'customer' ORDER BY x.seq DESC LIMIT 1) "
        f"WHERE c.status = 'waiting_for_agent' AND c.workspace_id IN ({marks}) "
        "ORDER BY c.updated_at LIMIT ?",
        *([reader] if reader is not None else []),
        *workspace_ids,
        MAX_QUEUE,
    )
    event_ids = [r["status_event"] for r in rows if r["status_event"] is not None]
    events: dict[int, dict[str, Any]] = {}
    if event_ids:
        marks = ", ".join("?" for _ in event_ids)
        found = await services.store.fetch(  # type: ignore[attr-defined]
            "SELECT id, workspace_id, conversation_id, type, data, created_at FROM events "
            f"WHERE id IN ({marks})",
            *event_ids,
        )
        # (a staff member's name in a reason is sealed: storage/fields.py)
        events = {e["id"]: services.store.fields.opened_event_row(e) for e in found}  # type: ignore[attr-defined]
    now = utcnow()
    entries = []
    fields = services.store.fields  # type: ignore[attr-defined]
    routings: dict[str, Routing] = {}  # parsed once per workspace, not once per card
    for r in rows:
        name = fields.open("customers", "name", r["customer_id"], r["customer_name"])
        event = events.get(r["status_event"]) if r["status_event"] is not None else None
        offered = r["offered_to"] if r["offer_expires_at"] and r["offer_expires_at"] > now else None
        metadata = fields.open_metadata(r["id"], r["metadata"] or {})  # the contact is sealed
        contact = metadata.get("contact") if isinstance(metadata.get("contact"), dict) else {}
        entries.append(
            QueueEntry(
                conversation_id=r["id"],
                workspace_id=r["workspace_id"],
                customer_id=r["customer_id"],
                customer_name=name or contact.get("name"),
                priority=priority_of(metadata),
                reason=escalation_reason(metadata, status_reason((event or {}).get("data") or {})),
                waiting_since=event["created_at"] if event else r["created_at"],
                preview=fields.open("messages", "text", r["preview_id"], r["preview"]),
                team=r["team"],
                offered_to=offered,
                channel=r["channel"],
                customer_email=fields.open(
                    "customers", "email", r["customer_id"], r["customer_email"]
                )
                or contact.get("email"),
                past_conversations=max(0, int(r["seen"]) - 1),
                unread=int(r["unread"]),
                last_seq=int(r["last_seq"]),
            )
        )
        entry = entries[-1]
        routing = routings.get(r["workspace_id"]) or routings.setdefault(
            r["workspace_id"], _routing(services, r["workspace_id"])
        )
        nlu = (r["preview_meta"] or {}).get("nlu")
        entry.need = need_for(routing, metadata, nlu if isinstance(nlu, dict) else None)
        entry.sla = clock(routing.sla, "first_response", entry.waiting_since, now)
    entries.sort(key=lambda e: (RANK[e.priority], e.waiting_since, e.conversation_id))
    positions: dict[str, int] = {}
    for entry in entries:
        positions[entry.workspace_id] = entry.position = positions.get(entry.workspace_id, 0) + 1
    return entries


@dataclass(slots=True)
class WaitEstimate:
    position: int
    minutes: int | None  # None: nobody is online to estimate with
    agents_online: int

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "estimated_wait_minutes": self.minutes,
            "agents_online": self.agents_online,
        }


def estimate(
    position: int, free_slots: int, agents_online: int, handle_seconds: float
) -> int | None:
    """Minutes until a person picks up the conversation at ``position`` (1-based)."""
    if agents_online <= 0:
        return None
    if position <= free_slots:
        return 1
    ahead = position - free_slots
    return max(1, math.ceil(ahead * handle_seconds / agents_online / 60))


async def wait_estimates(services: Services, workspace_id: str) -> dict[str, WaitEstimate]:
    """Position and estimated wait for every waiting conversation of the workspace."""
    entries = await waiting(services, [workspace_id])
    if not entries:
        return {}
    agents = await workspace_agents(services, workspace_id)
    online = [a for a in agents if a.state.status == "online"]
    free = sum(max(0, a.state.capacity - a.load) for a in online)
    handle = await InboxStore(services.store).average_handle_seconds(workspace_id)
    handle = handle or DEFAULT_HANDLE_SECONDS
    return {
        e.conversation_id: WaitEstimate(
            e.position, estimate(e.position, free, len(online), handle), len(online)
        )
        for e in entries
    }
