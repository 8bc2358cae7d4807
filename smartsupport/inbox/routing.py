"""Routing by skill and language, and response-time SLAs (``escalation.yaml`` ``routing:``).

    routing:
      skills: {refund: billing, payment: billing}   intent -> the skill an agent needs
      teams: {billing: {skills: [billing], languages: [en, de]}}   every member has these
      sla: {first_response_seconds: 300, next_response_seconds: 600, warn_ratio: 0.8}

A conversation needs the skill its customer's last intent maps to (none: anyone) and an agent
who answers in the customer's language (an agent, and their teams, with no languages listed
answer in any). ``dispatch`` offers a conversation only to an agent who can serve it; a claim
by an agent who cannot is refused with what is missing (supervisors may still take it), and so
is a transfer to one.

SLAs: the first response is due ``first_response_seconds`` after the conversation started
waiting; once an agent holds it, each next response is due ``next_response_seconds`` after the
customer's last message while that message is unanswered. ``warning`` from ``warn_ratio`` of
the time on, ``breached`` past it: the queue shows both, and counts the breaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartsupport.domain import Conversation
from smartsupport.errors import Conflict
from smartsupport.handoff.config import Routing, Sla, for_workspace
from smartsupport.inbox.store import AgentState, InboxStore
from smartsupport.services import Services


@dataclass(slots=True, frozen=True)
class Need:
    skill: str | None
    language: str | None


@dataclass(slots=True, frozen=True)
class SlaClock:
    kind: str  # "first_response" | "next_response"
    due_at: datetime
    state: str  # "ok" | "warning" | "breached"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "due_at": self.due_at.isoformat(), "state": self.state}


def routing_of(services: Services, workspace_id: str) -> Routing:
    return for_workspace(services.workspace(workspace_id)).routing


def language_of(metadata: dict[str, Any], nlu_language: str | None = None) -> str | None:
    """The customer's language as a primary subtag ("pt-BR" -> "pt"), or None."""
    for value in (metadata.get("language"), nlu_language, metadata.get("locale")):
        if isinstance(value, str) and value.strip():
            return value.strip().split("-")[0].split("_")[0].lower()
    return None


def need_for(routing: Routing, metadata: dict[str, Any], nlu: dict[str, Any] | None) -> Need:
    nlu = nlu if isinstance(nlu, dict) else {}
    intent = nlu.get("intent")
    skill = routing.skills.get(intent) if isinstance(intent, str) else None
    return Need(skill, language_of(metadata, nlu.get("language")))


def missing(state: AgentState, need: Need, routing: Routing) -> str | None:
    """What the agent lacks to serve ``need`` ("the billing skill", "Spanish"), or None."""
    skills, languages = set(state.skills), {x.lower() for x in state.languages}
    for team in state.teams:
        extra = routing.teams.get(team)
        if extra is not None:
            skills |= set(extra.skills)
            languages |= {x.lower() for x in extra.languages}
    if need.skill and need.skill not in skills:
        return f"the {need.skill} skill"
    if need.language and languages and need.language not in languages:
        return f"the customer's language ({need.language})"
    return None


async def last_nlu(services: Services, conversation_id: str) -> dict[str, Any] | None:
    """What the assistant understood of the customer's last message (its ``meta.nlu``)."""
    row = await services.store.fetchrow(  # type: ignore[attr-defined]
        "SELECT meta FROM messages WHERE conversation_id = ? AND author = 'customer' "
        "ORDER BY seq DESC LIMIT 1",
        conversation_id,
    )
    nlu = (row["meta"] or {}).get("nlu") if row else None
    return nlu if isinstance(nlu, dict) else None


async def check_can_serve(
    services: Services, conversation: Conversation, staff_id: str, called: str
) -> None:
    """409 ``missing_skill`` when the agent lacks the skill or language the conversation
    needs; ``called`` names them in the message ("you", or a transfer's target)."""
    routing = routing_of(services, conversation.workspace_id)
    need = need_for(routing, conversation.metadata, await last_nlu(services, conversation.id))
    lacking = missing(await InboxStore(services.store).agent(staff_id), need, routing)
    if lacking:
        raise Conflict(
            f"{called} cannot take this conversation: it needs {lacking}. A supervisor can "
            "assign it, or an admin can add the skill or language to the agent.",
            code="missing_skill",
        )


def clock(sla: Sla, kind: str, since: datetime, now: datetime) -> SlaClock:
    seconds = sla.first_response_seconds if kind == "first_response" else sla.next_response_seconds
    due = since + timedelta(seconds=seconds)
    elapsed = (now - since).total_seconds()
    state = "breached" if now >= due else "warning" if elapsed >= seconds * sla.warn_ratio else "ok"
    return SlaClock(kind, due, state)
