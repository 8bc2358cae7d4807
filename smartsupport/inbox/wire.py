"""The JSON bodies the inbox's routes answer with, as models: the response schemas of the
staff API (``api.py``, ``team_api.py``) and of the customer's queue and rating routes
(``customer.py``). The routes build plain dicts; FastAPI checks them against these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smartsupport.domain import Author, ConversationStatus
from smartsupport.wire import AttachmentOut


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
class SlaOut(Body):
    """A response-time clock (inbox/routing.py)."""

    kind: Literal["first_response", "next_response"]
    due_at: str
    state: Literal["ok", "warning", "breached"]


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
    customer_email: str | None = Field(
        default=None, description="The customer's email, else the contact form's."
    )
    past_conversations: int = Field(default=0, description="The customer's other conversations.")
    skill: str | None = Field(default=None, description="The skill its intent needs, if any.")
    language: str | None = Field(default=None, description="The customer's language.")
    sla: SlaOut | None = Field(default=None, description="The first response's clock.")
    channel: str = Field(default="web", description="web, email, ...: where replies go out")
    unread: int = Field(
        default=0, description="The customer's messages after the caller's read mark."
    )
    last_seq: int = Field(
        default=0,
        description="The conversation's last message when ``unread`` was counted: live "
        "``unread`` frames with a higher ``seq`` add to the count.",
    )


class HeldOut(Body):
    conversation_id: str
    workspace: str
    customer_name: str | None
    last_message: str | None
    last_author: Author | None
    channel: str = Field(default="web", description="where the customer wrote")
    sla: SlaOut | None = Field(
        default=None, description="The next response's clock while the customer waits."
    )
    unread: int = Field(
        default=0, description="The customer's messages after the caller's read mark."
    )
    last_seq: int = Field(
        default=0,
        description="The conversation's last message when ``unread`` was counted: live "
        "``unread`` frames with a higher ``seq`` add to the count.",
    )


class AgentLoadOut(Body):
    status: str
    capacity: int
    load: int
    teams: list[str]


class QueueOut(Body):
    queue: list[QueueEntryOut] = Field(description="Waiting conversations in serving order.")
    mine: list[HeldOut] = Field(description="The conversations the caller holds.")
    me: AgentLoadOut
    sla_breaches: int = Field(
        default=0, description="Conversations in this view past their response-time SLA."
    )
    sla_warnings: int = Field(default=0, description="Conversations close to their SLA.")


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
    attachments: list[AttachmentOut] = Field(
        default_factory=list, description="Files the message lists (staff download URLs)."
    )
    rich: list[dict[str, Any]] = Field(
        default_factory=list, description="Rich blocks shown with the text (rich.py)."
    )


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
    """A help article that answers what the customer asked (inbox/suggestions.py)."""

    article_id: str
    title: str
    text: str
    url: str | None
    score: float = Field(description="the probability that the article answers the question")
    focus: str = Field(description="the sentence that answers")
    question: str = Field(description="the customer's question it answers")


class SuggestionsOut(Body):
    available: bool = Field(description="false: there is no knowledge base to search")
    query: str | None
    passages: list[PassageOut]


class InboxConversationOut(Body):
    id: str
    workspace: str
    channel: str = Field(
        default="web", description="web, email, ...: where the customer wrote; replies go there"
    )
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


class ReadMarkOut(Body):
    conversation_id: str
    seq: int = Field(description="The caller's read mark now: it never moves back.")


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
    skills: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


class AgentsOut(Body):
    workspace: str
    teams: list[str]
    agents: list[AgentOut]


class AgentConfigOut(Body):
    id: str
    capacity: int
    teams: list[str]
    skills: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    status: str
