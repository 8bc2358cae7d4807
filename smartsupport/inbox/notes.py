"""Private notes: what agents tell each other about a conversation.

Notes live in their own table and are never published on the conversation's channel nor
returned by any customer-facing endpoint, so a customer can never see one.
"""

from __future__ import annotations

from smartsupport.errors import InvalidInput
from smartsupport.fanout import announce
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.store import InboxStore, Note
from smartsupport.services import Services
from smartsupport.staff import StaffUser

MAX_NOTE = 2000


async def add_note(services: Services, user: StaffUser, conversation_id: str, text: str) -> Note:
    text = text.strip()
    if not text:
        raise InvalidInput("the note is empty")
    if len(text) > MAX_NOTE:
        raise InvalidInput(
            f"the note is {len(text)} characters; the limit is {MAX_NOTE}", code="note_too_long"
        )
    conversation = await load_for(services, user, conversation_id)
    note = await InboxStore(services.store).add_note(conversation_id, user.id, user.name, text)
    # Only staff listen on the inbox channel.
    await announce(services, conversation.workspace_id, "note", conversation_id)
    return note


async def list_notes(services: Services, user: StaffUser, conversation_id: str) -> list[Note]:
    await load_for(services, user, conversation_id)
    return await InboxStore(services.store).notes(conversation_id)
