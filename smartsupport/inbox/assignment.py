"""Who serves which conversation: agent status and capacity, claims, transfers, and round
robin offers.

- An agent's load is the number of conversations they hold (status ``with_agent``); they can
  never hold more than their capacity, whether they claim, are transferred one or reopen one.
- A claim takes the agent's lock and then the conversation's lock (the one the conversation
  path takes), both across processes through the backplane: of two agents claiming at once,
  the second finds the conversation held and gets 409 ``already_claimed``.
- ``dispatch`` offers waiting conversations, in queue order, to online agents who have an
  inbox open and a free slot, round robin (the agent offered one longest ago goes first),
  one open offer per agent. An offer expires after ``OFFER_SECONDS``; declining passes it
  on. Anyone may still claim an offered conversation. Whenever capacity frees (resolve, hand
  back, transfer, an agent coming online), dispatch runs, so the oldest waiting conversation
  of the highest priority is the one offered first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from smartsupport.conversation import publish
from smartsupport.domain import Author, Conversation, ConversationStatus, utcnow
from smartsupport.errors import Conflict, InvalidInput, NotFound
from smartsupport.inbox.changes import (
    agent_lock,
    announce,
    change_status,
    conversation_lock,
    load,
    post,
)
from smartsupport.inbox.queue import wait_estimates, waiting
from smartsupport.inbox.store import AGENT_STATUSES, AgentState, InboxStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser, require_workspace
from smartsupport.staff.store import StaffStore

OFFER_SECONDS = 45
PRESENCE_SECONDS = 60
DECLINE_SECONDS = 300
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class AgentView:
    id: str
    name: str
    email: str
    role: str
    state: AgentState
    load: int
    present: bool

    @property
    def free(self) -> int:
        return max(0, self.state.capacity - self.load)


def presence_key(staff_id: str) -> str:
    return f"inbox:presence:{staff_id}"


async def mark_present(services: Services, staff_id: str) -> None:
    """The agent has an inbox open (the inbox socket refreshes this while connected)."""
    await services.backplane.set(presence_key(staff_id), b"1", PRESENCE_SECONDS)


async def workspace_agents(services: Services, workspace_id: str) -> list[AgentView]:
    users = [
        u for u in await StaffStore(services.store).list_users([workspace_id]) if not u.disabled
    ]
    ids = [u.id for u in users]
    inbox = InboxStore(services.store)
    states = await inbox.agents(ids)
    loads = await inbox.held_counts(ids)
    views = []
    for user in users:
        present = await services.backplane.get(presence_key(user.id)) is not None
        views.append(
            AgentView(
                user.id, user.name, user.email, user.role, states[user.id], loads[user.id], present
            )
        )
    return views


async def set_agent_status(services: Services, user: StaffUser, status: str) -> AgentState:
    if status not in AGENT_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(AGENT_STATUSES)}")
    inbox = InboxStore(services.store)
    state = await inbox.agent(user.id)
    state.status = status
    await inbox.save_agent(state)
    if status == "online":
        await mark_present(services, user.id)
    for workspace_id in user.workspaces:
        await announce(services, workspace_id, "agents")
        await refresh(services, workspace_id)
    return state


async def configure_agent(
    services: Services, staff_id: str, *, capacity: int | None, teams: list[str] | None
) -> AgentState:
    inbox = InboxStore(services.store)
    state = await inbox.agent(staff_id)
    if capacity is not None:
        state.capacity = capacity
    if teams is not None:
        state.teams = sorted({t.strip() for t in teams if t.strip()})
    await inbox.save_agent(state)
    return state


async def _holder_name(services: Services, staff_id: str | None) -> str:
    record = await StaffStore(services.store).get_user(staff_id) if staff_id else None
    return record.name if record else "another agent"


async def check_capacity(services: Services, staff_id: str, name: str) -> None:
    inbox = InboxStore(services.store)
    state = await inbox.agent(staff_id)
    held = (await inbox.held_counts([staff_id]))[staff_id]
    if held >= state.capacity:
        raise Conflict(
            f"{name} already holds {held} conversation(s), the capacity of {state.capacity}",
            code="at_capacity",
        )


async def claim(services: Services, user: StaffUser, conversation_id: str) -> Conversation:
    """Take a waiting (or bot-handled) conversation; the bot goes silent."""
    conversation = await load(services, conversation_id)
    require_workspace(user, conversation.workspace_id)
    inbox = InboxStore(services.store)
    async with services.backplane.lock(agent_lock(user.id)):
        async with services.backplane.lock(conversation_lock(conversation_id)):
            conversation = await load(services, conversation_id)
            row = await inbox.row(conversation_id) or {}
            if conversation.status is ConversationStatus.WITH_AGENT:
                if row.get("agent_id") == user.id:
                    return conversation  # a repeated click
                holder = await _holder_name(services, row.get("agent_id"))
                raise Conflict(f"{holder} already holds this conversation", code="already_claimed")
            if conversation.status is ConversationStatus.RESOLVED:
                raise Conflict(
                    "this conversation is resolved; reopen it to talk to the customer again",
                    code="conversation_closed",
                )
            await check_capacity(services, user.id, "you")
            await inbox.update(
                conversation_id,
                conversation.workspace_id,
                agent_id=user.id,
                assigned_at=utcnow(),
                offered_to=None,
                offer_expires_at=None,
                resolved_at=None,
            )
            conversation = await change_status(
                services,
                conversation,
                ConversationStatus.WITH_AGENT,
                f"claimed by {user.name}",
                agent_id=user.id,
            )
            await post(
                services,
                conversation_id,
                Author.SYSTEM,
                f"{user.name} joined the conversation.",
                meta={"inbox": "joined", "agent_id": user.id},
            )
    await announce(services, conversation.workspace_id, "claimed", conversation_id)
    await refresh(services, conversation.workspace_id)
    return conversation


async def decline(services: Services, user: StaffUser, conversation_id: str) -> None:
    """Pass an offer on; this agent is not offered the conversation again for a while."""
    conversation = await load(services, conversation_id)
    require_workspace(user, conversation.workspace_id)
    inbox = InboxStore(services.store)
    row = await inbox.row(conversation_id)
    if row is None or row["offered_to"] != user.id:
        raise Conflict("this conversation is not offered to you", code="not_offered")
    await services.backplane.set(
        f"inbox:declined:{conversation_id}:{user.id}", b"1", DECLINE_SECONDS
    )
    await inbox.update(
        conversation_id, conversation.workspace_id, offered_to=None, offer_expires_at=None
    )
    await refresh(services, conversation.workspace_id)


def require_holder(user: StaffUser, conversation: Conversation, row: dict | None) -> None:
    """The agent holding the conversation, or a supervisor, may act on it."""
    if conversation.status is not ConversationStatus.WITH_AGENT:
        raise Conflict("nobody holds this conversation; claim it first", code="not_claimed")
    if (row or {}).get("agent_id") != user.id and not user.has_role("supervisor"):
        raise Conflict("another agent holds this conversation", code="not_holder")


async def known_teams(services: Services, workspace_id: str) -> list[str]:
    agents = await workspace_agents(services, workspace_id)
    return sorted({team for a in agents for team in a.state.teams})


async def transfer(
    services: Services,
    user: StaffUser,
    conversation_id: str,
    *,
    agent_id: str | None = None,
    team: str | None = None,
) -> Conversation:
    """Hand a held conversation to another agent (who must have a free slot) or back to the
    queue for a team (offered only to that team's members)."""
    if (agent_id is None) == (team is None):
        raise InvalidInput("transfer to either an agent_id or a team")
    conversation = await load(services, conversation_id)
    require_workspace(user, conversation.workspace_id)
    workspace_id = conversation.workspace_id
    inbox = InboxStore(services.store)
    if agent_id is not None:
        target = await StaffStore(services.store).get_user(agent_id)
        if target is None or target.disabled or workspace_id not in target.workspaces:
            raise NotFound("no such agent in this conversation's workspace")
        async with services.backplane.lock(agent_lock(agent_id)):
            async with services.backplane.lock(conversation_lock(conversation_id)):
                conversation = await load(services, conversation_id)
                require_holder(user, conversation, await inbox.row(conversation_id))
                await check_capacity(services, agent_id, target.name)
                await inbox.update(
                    conversation_id,
                    workspace_id,
                    agent_id=agent_id,
                    assigned_at=utcnow(),
                    offered_to=None,
                    offer_expires_at=None,
                )
                conversation = await change_status(
                    services,
                    conversation,
                    ConversationStatus.WITH_AGENT,
                    f"transferred to {target.name} by {user.name}",
                    agent_id=agent_id,
                )
                await post(
                    services,
                    conversation_id,
                    Author.SYSTEM,
                    f"{target.name} has taken over the conversation.",
                    meta={"inbox": "transferred", "agent_id": agent_id},
                )
    else:
        assert team is not None
        if team not in await known_teams(services, workspace_id):
            raise InvalidInput(f"unknown team {team!r}", code="unknown_team")
        async with services.backplane.lock(conversation_lock(conversation_id)):
            conversation = await load(services, conversation_id)
            require_holder(user, conversation, await inbox.row(conversation_id))
            await inbox.update(
                conversation_id,
                workspace_id,
                agent_id=None,
                team=team,
                offered_to=None,
                offer_expires_at=None,
            )
            conversation = await change_status(
                services,
                conversation,
                ConversationStatus.WAITING,
                f"transferred to the {team} team by {user.name}",
                team=team,
            )
            await post(
                services,
                conversation_id,
                Author.SYSTEM,
                "We're passing you to a colleague who can help best. Please wait a moment.",
                meta={"inbox": "transferred", "team": team},
            )
    await services.store.add_event(
        workspace_id,
        "inbox.transferred",
        {"by": user.id, "agent_id": agent_id, "team": team},
        conversation_id=conversation_id,
    )
    await announce(services, workspace_id, "transferred", conversation_id)
    await refresh(services, workspace_id)
    return conversation


async def dispatch(services: Services, workspace_id: str) -> list[tuple[str, str]]:
    """Offer waiting conversations to free agents, round robin; returns (conversation, agent)."""
    inbox = InboxStore(services.store)
    offers: list[tuple[str, str]] = []
    async with services.backplane.lock(f"inbox:dispatch:{workspace_id}", timeout=5.0):
        entries = await waiting(services, [workspace_id])
        if not entries:
            return offers
        agents = [
            a
            for a in await workspace_agents(services, workspace_id)
            if a.state.status == "online" and a.present
        ]
        busy = {e.offered_to for e in entries if e.offered_to}
        eligible = [a for a in agents if a.free > 0 and a.id not in busy]
        eligible.sort(key=lambda a: (a.state.last_offered_at or EPOCH, a.load, a.email))
        now = utcnow()
        for entry in entries:
            if entry.offered_to or not eligible:
                continue
            for agent in eligible:
                if entry.team is not None and entry.team not in agent.state.teams:
                    continue
                declined = f"inbox:declined:{entry.conversation_id}:{agent.id}"
                if await services.backplane.get(declined) is not None:
                    continue
                await inbox.update(
                    entry.conversation_id,
                    workspace_id,
                    offered_to=agent.id,
                    offer_expires_at=now + timedelta(seconds=OFFER_SECONDS),
                )
                agent.state.last_offered_at = now
                await inbox.save_agent(agent.state)
                eligible.remove(agent)
                offers.append((entry.conversation_id, agent.id))
                break
    for conversation_id, _ in offers:
        await announce(services, workspace_id, "offered", conversation_id)
    return offers


async def refresh(services: Services, workspace_id: str) -> None:
    """After anything that frees capacity or changes the queue: make offers, then tell each
    waiting customer their place and estimated wait."""
    await dispatch(services, workspace_id)
    for conversation_id, estimate in (await wait_estimates(services, workspace_id)).items():
        await publish(services, conversation_id, {"type": "queue", **estimate.as_json()})
