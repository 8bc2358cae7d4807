"""Consent captured in the widget, and the customer's "people only" choice.

A workspace turns consent on with ``privacy.consent.version`` (``data_policy``). The widget
then shows the consent text (message-catalog key ``consent.text`` in the customer's
language, rewritable per workspace), and, when ``people_only`` is offered, a choice to be
answered by people only. Accepting stores a ``consents`` row (version, SHA-256 of the text
shown, language, choice, timestamp) and marks the conversation:

    metadata.consent        the version accepted; until then the customer's messages are
                            refused (409 consent_required)
    metadata.humans_only    the customer chose people only: no automated answer is made
                            for them; every message goes to the agent queue (the
                            ``humans_only`` handoff rule, or the assistant's own fallback)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from smartsupport import data_policy, messages
from smartsupport.domain import Conversation, utcnow
from smartsupport.errors import Conflict
from smartsupport.ids import new_id
from smartsupport.services import Services
from smartsupport.storage.base import SqlDatabase
from smartsupport.workspaces import WorkspaceConfig

PEOPLE_ONLY = "humans_only"  # the conversation metadata key the handoff rule reads


@dataclass(slots=True)
class ConsentRequest:
    """What the widget shows before the customer writes."""

    required: bool
    given: bool
    version: str | None = None
    language: str = ""
    text: str = ""
    people_only_offered: bool = False
    people_only_label: str = ""
    accept_label: str = ""
    people_only: bool = False


def people_only(conversation: Conversation) -> bool:
    """Did the customer opt out of automated answers?"""
    return conversation.metadata.get(PEOPLE_ONLY) is True


def request_for(workspace: WorkspaceConfig, conversation: Conversation) -> ConsentRequest:
    """The consent step of this conversation, in its language."""
    config = data_policy.for_workspace(workspace).consent
    if config is None:
        return ConsentRequest(required=False, given=True, people_only=people_only(conversation))
    language = str(conversation.metadata.get("locale") or workspace.default_locale)
    lang, text = messages.resolve(workspace, "consent.text", language)
    return ConsentRequest(
        required=True,
        given="consent" in conversation.metadata,
        version=config.version,
        language=lang,
        text=text,
        people_only_offered=config.people_only,
        people_only_label=messages.text(workspace, "consent.people_only", lang),
        accept_label=messages.text(workspace, "consent.accept", lang),
        people_only=people_only(conversation),
    )


def require_consent(workspace: WorkspaceConfig, conversation: Conversation) -> None:
    """409 ``consent_required`` while the workspace asks for consent and none was given.
    A consent given to an older version still counts for the conversation it was given in."""
    if data_policy.for_workspace(workspace).consent is not None:
        if "consent" not in conversation.metadata:
            raise Conflict(
                "accept the privacy notice first (POST .../consent)", code="consent_required"
            )


async def give_consent(
    services: Services,
    conversation: Conversation,
    *,
    version: str,
    people_only: bool,
) -> ConsentRequest:
    """Store the customer's consent to the current version and their choice."""
    workspace = services.workspace(conversation.workspace_id)
    shown = request_for(workspace, conversation)
    if not shown.required:
        raise Conflict("this workspace asks for no consent", code="consent_not_asked")
    if version != shown.version:
        raise Conflict(
            f"the privacy notice changed (now version {shown.version}); show it again",
            code="consent_outdated",
        )
    chosen = people_only and shown.people_only_offered
    db = cast(SqlDatabase, services.store)
    await db.execute(
        "INSERT INTO consents (id, workspace_id, customer_id, conversation_id, version, "
        "text_sha256, language, people_only, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        new_id(),
        conversation.workspace_id,
        conversation.customer_id,
        conversation.id,
        version,
        hashlib.sha256(shown.text.encode("utf-8")).hexdigest(),
        shown.language,
        chosen,
        utcnow(),
    )
    changes: dict[str, Any] = {"consent": version}
    if chosen:
        changes[PEOPLE_ONLY] = True
    updated = await services.store.update_conversation_metadata(conversation.id, changes)
    return request_for(workspace, updated)
