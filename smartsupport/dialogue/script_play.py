"""Playing a conversation script's customer messages through the dialogue manager, one turn
at a time, as the conversation path would (scripts.py checks what each turn did; the memory
benchmark, bench/memory_effect.py, answers the bot's questions from what it sees here).

    player = Player(workspace, manager, understand)
    played = await player.play(1, "where is my order?", conversation, context)
    played.replies, played.observed["status"], played.state.get("active")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from smartsupport import previous_case
from smartsupport.context import ConversationContext
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.dialogue.visits import Visits
from smartsupport.domain import (
    Author,
    Conversation,
    ConversationStatus,
    Message,
    Reply,
    Understanding,
)
from smartsupport.previous_case import Case
from smartsupport.turn import Decision, Turn
from smartsupport.workspaces import WorkspaceConfig

Understander = Callable[[WorkspaceConfig, str], Awaitable[Understanding]]
# The earlier case a turn refers to (previous_case.load), as the assistant reads it.
CaseReader = Callable[[Turn], Awaitable[Case | None]]


@dataclass
class Played:
    """One turn played: what was understood and answered, and where the flows stand."""

    text: str
    understanding: Understanding
    replies: list[Reply]
    events: list[tuple[str, dict[str, Any]]]
    handoff: bool
    fallthrough: bool
    state: dict[str, Any]
    reason: str | None = None

    @property
    def observed(self) -> dict[str, Any]:
        return observe(self.state, self.events, self.fallthrough)

    async def store(self, visits: Visits, conversation: Conversation) -> None:
        """Keep the turn in the visit's conversation, as the conversation path stores it."""
        nlu = {"nlu": self.understanding.as_dict()}
        await visits.record(conversation, Author.CUSTOMER, self.text, nlu)
        for reply in self.replies:
            buttons = {"quick_replies": reply.quick_replies} if reply.quick_replies else {}
            await visits.record(conversation, Author.BOT, reply.text, {**reply.meta, **buttons})

    def transcript(self, number: int) -> list[str]:
        u = self.understanding
        lines = [
            f"  {number}. customer: {self.text}",
            f"       (intent {u.intent}, entities {[e.type for e in u.entities]})",
        ]
        for reply in self.replies:
            buttons = f"  [{' | '.join(reply.quick_replies)}]" if reply.quick_replies else ""
            lines.append(f"     bot: {reply.text}{buttons}")
        if self.fallthrough and not self.replies:
            lines.append("     (no flow took this turn)")
        if self.handoff:
            lines.append(f"     -> handed over: {self.reason or ''}")
        return lines


class Player:
    """Plays customer messages through the dialogue manager, one turn at a time."""

    def __init__(
        self, workspace: WorkspaceConfig, manager: DialogueManager, understand: Understander
    ) -> None:
        self.workspace, self.manager, self.understand = workspace, manager, understand
        self.cases: CaseReader | None = None  # None: earlier cases are not continued

    async def play(
        self,
        number: int,
        text: str,
        conversation: Conversation,
        context: ConversationContext,
        pinned: Understanding | None = None,
    ) -> Played:
        """Understand ``text`` (or take ``pinned``) and let the flows answer it."""
        understanding = pinned or await self.understand(self.workspace, text)
        message = Message(f"m{number}", conversation.id, number, Author.CUSTOMER, text)

        async def stream(_: str) -> None:
            return None

        turn = Turn(self.workspace, conversation, message, context, understanding, stream)
        case = await self.cases(turn) if self.cases is not None else None
        decision = await self.manager.handle(turn)
        if case is not None:  # as Assistant.decide continues it (previous_case.py)
            decision = previous_case.continue_case(turn, case, decision or Decision())
        replies = list(decision.replies) if decision else []
        events = list(decision.events) if decision else []
        if decision is None:
            reminder = await self.manager.followup(turn)
            if reminder is not None:
                replies.append(reminder)
        handoff = decision is not None and decision.status is ConversationStatus.WAITING
        if decision is not None and decision.status is not None:
            conversation.status = decision.status
        return Played(
            text,
            understanding,
            replies,
            events,
            handoff,
            decision is None,
            context.data.get("dialogue") or {},
            decision.reason if decision else None,
        )


def observe(
    state: dict[str, Any], events: list[tuple[str, dict[str, Any]]], fallthrough: bool
) -> dict[str, Any]:
    """Which flows this turn touched and where each stands (a turn can end one flow and
    resume another): {"flows": {name: status}, "flow": .., "status": .., "slots": ..}."""
    flows: dict[str, str] = {}
    for kind, data in events:
        if kind in ("flow.completed", "flow.cancelled", "flow.failed"):
            flows.setdefault(data["flow"], data["status"])
    active = state.get("active")
    last = state.get("last") or {}
    if active is not None:
        flows[active["flow"]] = "waiting"
    if not flows:
        return {"flows": {}, "flow": None, "status": "none", "slots": {}}
    first = next(iter(flows))
    slots = (
        active["slots"]
        if active is not None and active["flow"] == first
        else (last.get("slots", {}) if last.get("flow") == first else {})
    )
    return {"flows": flows, "flow": first, "status": flows[first], "slots": slots}
