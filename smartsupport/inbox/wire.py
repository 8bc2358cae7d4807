"""The JSON bodies the inbox's routes answer with, as models: the response schemas of the
staff API (``api.py``, ``team_api.py``) and of the customer's queue and rating routes
(``customer.py``). The routes build plain dicts; FastAPI checks them against these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smartsupport.domain import Author, ConversationStatus


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- the customer's side ---------------------------------------------------------------------
class QueuePositionOut(Body):
    status: ConversationStatus
    position: int | None = Field(description="1 is next; null unless waiting for a person")
    estimated_wait_minutes: int | None = Field(description="null while no agent is online")
    agents_online: int | None


class CsatOut(Body):
    requested: bool = Field(description="A rating was asked for (the conversation resolved).")
    due: bool = Field(description="Show the rating form: asked for and not yet given.")
    rating: int | None
    comment: str | None


# ---- the queue -------------------------------------------------------------------------------
class QueueEntryOut(Body):
    conversation_id: str
    workspace: str
    customer_name: str | None
    priority: str
    reason: str | None = Field(description="Why the conversation needs a person.")
    waiting_since: str
    waited_seconds: int
    preview: str | None
    team: str | None
    offered_to: str | None = Field(description="The agent a round-robin offer waits for.")
    position: int


class HeldOut(Body):
    conversation_id: str
    workspace: str
    customer_name: str | None
    last_message: str | None
    last_author: Author | None


class AgentLoadOut(Body):
    status: str
    capacity: int
    load: int
    teams: list[str]


class QueueOut(Body):
    queue: list[QueueEntryOut] = Field(description="Waiting conversations in serving order.")
    mine: list[HeldOut] = Field(description="The conversations the caller holds.")
    me: AgentLoadOut


# ---- one conversation ------------------------------------------------------------------------
class StaffMessageOut(Body):
    """A message as staff see it: the customer's view plus the analysis and the agent."""

    id: str
    seq: int
    author: Author
    text: str
    created_at: str
    agent_name: str | None
    intent: str | None
    confidence: float | None
    sentiment: float | None


class NoteOut(Body):
    id: str
    author: str
    text: str
    created_at: str


class HolderOut(Body):
    id: str
    name: str | None


class CustomerOut(Body):
    id: str
    name: str | None
    email: str | None
    locale: str | None
    segment: str | None
    channel: str
    metadata: dict[str, Any]


class NluOut(Body):
    """What the assistant understood of the customer's last analysed message."""

    intent: str | None
    confidence: float | None
    sentiment: float | None
    sentiment_label: Literal["negative", "neutral", "positive", "unknown"]
    language: str | None
    entities: list[dict[str, Any]] = Field(description="Entities of every customer message.")


class PassageOut(Body):
    title: str
    text: str
    url: str | None
    score: float


class SuggestionsOut(Body):
    available: bool = Field(description="false: there is no knowledge base to search")
    query: str | None
    passages: list[PassageOut]


class InboxConversationOut(Body):
    id: str
    workspace: str
    status: ConversationStatus
    priority: str
    reason: str | None
    holder: HolderOut | None
    team: str | None
    metadata: dict[str, Any]
    customer: CustomerOut | None
    nlu: NluOut
    messages: list[StaffMessageOut]
    notes: list[NoteOut]
    csat: CsatOut
    suggestions: SuggestionsOut


class ConversationChangeOut(Body):
    id: str
    status: ConversationStatus


class PriorityOut(Body):
    id: str
    status: ConversationStatus
    priority: str | None


class DeclineOut(Body):
    status: Literal["declined"]


class AgentMessageOut(Body):
    message: StaffMessageOut


class NotesOut(Body):
    notes: list[NoteOut]


class ExpandedCannedOut(Body):
    id: str
    shortcut: str
    title: str
    text: str = Field(description="The body with this conversation's placeholders filled in.")
    missing: list[str] = Field(description="Placeholders there was no value for.")


class ExpandedCannedListOut(Body):
    canned: list[ExpandedCannedOut]


# ---- the team ------------------------------------------------------------------------------
class CannedOut(Body):
    id: str
    workspace: str
    shortcut: str
    title: str
    body: str


class CannedListOut(Body):
    canned: list[CannedOut]


class AgentStatusOut(Body):
    status: str
    capacity: int


class AgentOut(Body):
    id: str
    name: str
    role: str
    status: str
    present: bool = Field(description="Connected to the inbox now.")
    capacity: int
    load: int
    teams: list[str]


class AgentsOut(Body):
    workspace: str
    teams: list[str]
    agents: list[AgentOut]


class AgentConfigOut(Body):
    id: str
    capacity: int
    teams: list[str]
    status: str
