"""What an escalation notice says, whichever chat service carries it."""

from __future__ import annotations

from dataclasses import dataclass

from smartsupport.settings import Settings


def inbox_url(settings: Settings, conversation_id: str) -> str:
    """The agent inbox's page for a conversation (absolute when public_url is set)."""
    return f"{settings.public_url.rstrip('/')}/inbox/conversations/{conversation_id}"


@dataclass(slots=True)
class Notice:
    conversation_id: str
    workspace_name: str
    reason: str
    priority: str
    customer: str
    link: str

    @property
    def title(self) -> str:
        return f"Conversation needs a person ({self.priority} priority)"
