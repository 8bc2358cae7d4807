"""Who serves which conversation: claims, transfers, agent status changes, and round robin
offers (the agents themselves, their capacity and presence, are in ``roster.py``).

- An agent's load is the number of conversations they hold (status ``with_agent``); they can
  never hold more than their capacity, whether they claim, are transferred one or reopen one.
- A claim takes the agent's lock and then the conversation's lock (the one the conversation
  path takes), both across processes through the backplane: of two agents claiming at once,
  the second finds the conversation held and gets 409 ``already_claimed``.
- ``dispatch`` offers waiting conversations, in queue order, to online agents who have an
  inbox open and a free slot, round robin (the agent offered one longest ago goes first),
  one open offer per agent. An offer expires after ``OFFER_SECONDS``; declining passes it
  on. Anyone able to serve it may still claim an offered conversation. Offers, claims and
  transfers respect the skill and language a conversation needs (``routing.py``). Whenever
  capacity frees (resolve, hand back, transfer, an agent coming online), dispatch runs, so
  the oldest waiting conversation of the highest priority is the one offered first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from smartsupport.domain import Conversation, ConversationStatus, utcnow
from smartsupport.errors import Conflict, InvalidInput, NotFound
from smartsupport.fanout import announce, conversation_lock, publish
from smartsupport.inbox.changes import (
    agent_and_conversation_locks,
    change_status_with_notice,
    load,
    load_for,
)
from smartsupport.inbox.queue import wait_estimates, waiting
from smartsupport.inbox.roster import check_capacity, known_teams, mark_present, workspace_agents
from smartsupport.inbox.routing import check_can_serve, missing, routing_of
from smartsupport.inbox.store import AGENT_STATUSES, AgentState, InboxStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser
from smartsupport.staff.store import StaffStore

OFFER_SECONDS = 45
DECLINE_SECONDS = 300
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        await publish_change(services, workspace_id, "agents")
    return state


async def _holder_name(services: Services, staff_id: str | None) -> str:
    record = await StaffStore(services.store).get_user(staff_id) if staff_id else None
    return record.name if record else "another agent"


async def assign(
    services: Services,
    conversation: Conversation,
    agent_id: str,
    *,
    called: str,
    reason: str,
    named_reason: str,
    notice: str,
    change: str,
    **row: Any,
) -> Conversation:
    """Make ``agent_id`` the holder: the one way a claim, a transfer to an agent and a reopen
    add to an agent's load, so the capacity check cannot be skipped. ``called`` names the
    agent in the at-capacity error, ``row`` are further inbox-row fields to set. The caller
    holds ``agent_and_conversation_locks``."""
    await check_capacity(services, agent_id, called)
    await InboxStore(services.store).update(
        conversation.id, conversation.workspace_id, agent_id=agent_id, assigned_at=utcnow(), **row
    )
    return await change_status_with_notice(
        services,
        conversation,
        ConversationStatus.WITH_AGENT,
        reason,
        notice,
        {"inbox": change, "agent_id": agent_id},
        named_reason=named_reason,
        agent_id=agent_id,
    )


async def publish_change(
    services: Services, workspace_id: str, change: str, conversation_id: str | None = None
) -> None:
    """After a change, outside the locks: tell every inbox, then ``refresh`` (capacity may
    have freed or the queue changed)."""
    await announce(services, workspace_id, change, conversation_id)
    await refresh(services, workspace_id)


async def claim(services: Services, user: StaffUser, conversation_id: str) -> Conversation:
    """Take a waiting (or bot-handled) conversation; the bot goes silent."""
    await load_for(services, user, conversation_id)
    async with agent_and_conversation_locks(services, user.id, conversation_id):
        conversation = await load(services, conversation_id)
        row = await InboxStore(services.store).row(conversation_id) or {}
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
        if not user.has_role("supervisor"):  # supervisors may take anything
            await check_can_serve(services, conversation, user.id, "you")
        conversation = await assign(
            services,
            conversation,
            user.id,
            called="you",
            reason="claimed by an agent",
            named_reason=f"claimed by {user.name}",
            notice=f"{user.name} joined the conversation.",
            change="joined",
            offered_to=None,
            offer_expires_at=None,
            resolved_at=None,
        )
    await publish_change(services, conversation.workspace_id, "claimed", conversation_id)
    return conversation


async def decline(services: Services, user: StaffUser, conversation_id: str) -> None:
    """Pass an offer on; this agent is not offered the conversation again for a while."""
    conversation = await load_for(services, user, conversation_id)
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
    workspace_id = (await load_for(services, user, conversation_id)).workspace_id
    inbox = InboxStore(services.store)
    if agent_id is not None:
        target = await StaffStore(services.store).get_user(agent_id)
        if target is None or target.disabled or workspace_id not in target.workspaces:
            raise NotFound("no such agent in this conversation's workspace")
        async with agent_and_conversation_locks(services, agent_id, conversation_id):
            conversation = await load(services, conversation_id)
            require_holder(user, conversation, await inbox.row(conversation_id))
            await check_can_serve(services, conversation, agent_id, target.name)
            conversation = await assign(
                services,
                conversation,
                agent_id,
                called=target.name,
                reason="transferred to an agent",
                named_reason=f"transferred to {target.name} by {user.name}",
                notice=f"{target.name} has taken over the conversation.",
                change="transferred",
                offered_to=None,
                offer_expires_at=None,
            )
    else:
        assert team is not None
        if team not in await known_teams(services, workspace_id):
            raise InvalidInput(f"unknown team {team!r}", code="unknown_team")
        async with conversation_lock(services, conversation_id):
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
            conversation = await change_status_with_notice(
                services,
                conversation,
                ConversationStatus.WAITING,
                f"transferred to the {team} team",
                "We're passing you to a colleague who can help best. Please wait a moment.",
                {"inbox": "transferred", "team": team},
                named_reason=f"transferred to the {team} team by {user.name}",
                team=team,
            )
    await services.store.add_event(
        workspace_id,
        "inbox.transferred",
        {"by": user.id, "agent_id": agent_id, "team": team},
        conversation_id=conversation_id,
    )
    await publish_change(services, workspace_id, "transferred", conversation_id)
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
            routing = routing_of(services, workspace_id)
            for agent in eligible:
                if entry.team is not None and entry.team not in agent.state.teams:
                    continue
                if missing(agent.state, entry.need, routing):
                    continue  # the skill or the language it needs (routing.py)
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
