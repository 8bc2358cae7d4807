"""The agent roster: who the agents are, their status, capacity, teams, load and presence.

- An agent's load is the number of conversations they hold (status ``with_agent``);
  ``check_capacity`` is what keeps it at or under their capacity.
- Presence is a short-lived backplane key the inbox socket refreshes while an agent has an
  inbox open, so only agents who would actually see an offer are offered one.

What changes who holds a conversation is in ``assignment.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartsupport.errors import Conflict
from smartsupport.inbox.store import AgentState, InboxStore
from smartsupport.services import Services
from smartsupport.staff.store import StaffStore

PRESENCE_SECONDS = 60


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


async def configure_agent(
    services: Services,
    staff_id: str,
    *,
    capacity: int | None,
    teams: list[str] | None,
    skills: list[str] | None = None,
    languages: list[str] | None = None,
) -> AgentState:
    inbox = InboxStore(services.store)
    state = await inbox.agent(staff_id)
    if capacity is not None:
        state.capacity = capacity
    if teams is not None:
        state.teams = sorted({t.strip() for t in teams if t.strip()})
    if skills is not None:
        state.skills = sorted({t.strip() for t in skills if t.strip()})
    if languages is not None:  # primary subtags, as routing compares them ("pt-BR" -> "pt")
        state.languages = sorted({t.strip().split("-")[0].lower() for t in languages if t.strip()})
    await inbox.save_agent(state)
    return state


async def check_capacity(services: Services, staff_id: str, name: str) -> None:
    """409 ``at_capacity`` unless the agent has a free slot; ``name`` is how the error
    refers to them ("you", or the agent a conversation is transferred to)."""
    inbox = InboxStore(services.store)
    state = await inbox.agent(staff_id)
    held = (await inbox.held_counts([staff_id]))[staff_id]
    if held >= state.capacity:
        raise Conflict(
            f"{name} already holds {held} conversation(s), the capacity of {state.capacity}",
            code="at_capacity",
        )


async def known_teams(services: Services, workspace_id: str) -> list[str]:
    agents = await workspace_agents(services, workspace_id)
    return sorted({team for a in agents for team in a.state.teams})
