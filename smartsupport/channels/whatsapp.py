"""The WhatsApp Cloud API channel on the channel contract (``base.Channel``).

    inbound_events(payload)         a webhook body -> the customer messages and the delivery
                                    statuses it holds (InvalidInput for a malformed one)
    parse(conversation_id, payload) one Meta message object -> the IncomingMessage: text,
                                    a reply button or list row (its id is the option), a
                                    template button, a location, media (ids passed on in
                                    ``metadata["media"]``); client_id ``whatsapp:<wamid>``, so
                                    a webhook Meta retries stores one message
    render(message)                 the Cloud API bodies of a stored message: text, reply
                                    buttons (at most 3), a list (at most 10), numbered text
                                    beyond that, media by link
    deliveries(conversation, msgs)  one ``whatsapp.send`` outbox item per body, written in the
                                    turn's transaction
    deliver(services, entry)        send it: nothing to an address that sent STOP; outside
                                    the 24-hour window only the workspace's approved template
                                    (or the proactive message's own); inside it, a knowledge
                                    answer with "Helpful" / "Not helpful" reply buttons when
                                    the workspace asks for them (thumbs.py); Graph rate limits
                                    and 5xx retried by the outbox

Limits from Meta's message reference: text body 4096 characters, interactive body 1024,
button title 20, list row title 24 and description 72, list button label 20.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smartsupport import messages as catalog
from smartsupport import rich
from smartsupport.channels import contacts, thumbs, whatsapp_graph
from smartsupport.channels.base import Channel
from smartsupport.channels.messaging_config import Template, WhatsAppConfig, whatsapp_config
from smartsupport.channels.options import incoming, quick_replies
from smartsupport.domain import Author, Conversation, IncomingMessage, Message, OutboxItem
from smartsupport.errors import ConfigurationError, DeliveryError, InvalidInput
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor

SEND_KIND = "whatsapp.send"
OPTION_ID = "qr:"  # reply-button and list-row ids carry the option itself after this prefix
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
PLACEHOLDER = {
    "image": "[image]",
    "audio": "[voice message]",
    "video": "[video]",
    "document": "[document]",
    "sticker": "[sticker]",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def inbound_events(
    payload: Any, phone_number_id: str
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]]]:
    """((message, contact) pairs, statuses) addressed to ``phone_number_id``."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise InvalidInput("not a WhatsApp Business Account webhook")
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    statuses: list[dict[str, Any]] = []
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise InvalidInput("entry must be a list")
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise InvalidInput("entry.changes must be a list")
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or change.get("field") != "messages":
                continue  # other fields (account updates, templates) are not messages
            meta = value.get("metadata")
            if not isinstance(meta, dict) or str(meta.get("phone_number_id")) != phone_number_id:
                continue  # another number of the same app
            people = {
                str(c.get("wa_id")): c for c in value.get("contacts") or [] if isinstance(c, dict)
            }
            for message in value.get("messages") or []:
                if (
                    not isinstance(message, dict)
                    or not message.get("id")
                    or not message.get("from")
                ):
                    raise InvalidInput("a message needs id and from")
                found.append((message, people.get(str(message["from"]), {})))
            statuses += [s for s in value.get("statuses") or [] if isinstance(s, dict)]
    return found, statuses


def message_text(message: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the text the assistant reads, what to keep beside it) of one inbound message; an
    empty text is a message with nothing to answer (a reaction, an unsupported type)."""
    kind = message.get("type")
    body = message.get(kind) if isinstance(kind, str) else None
    body = body if isinstance(body, dict) else {}
    if kind == "text":
        return str(body.get("body") or ""), {}
    if kind == "interactive":
        reply = body.get(body.get("type", "")) or {}
        chosen = str(reply.get("id") or "")
        text = chosen[len(OPTION_ID) :] if chosen.startswith(OPTION_ID) else reply.get("title")
        return str(text or ""), {"reply_id": chosen}
    if kind == "button":  # a quick-reply button of a template
        return str(body.get("text") or body.get("payload") or ""), {}
    if kind == "location":
        place = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        where = f"{body.get('latitude')}, {body.get('longitude')}"
        return f"📍 {place} ({where})" if place else f"📍 {where}", {"location": body}
    if kind in MEDIA_KINDS:
        media = {
            k: body[k] for k in ("id", "mime_type", "sha256", "filename", "voice") if k in body
        }
        caption = str(body.get("caption") or "")
        return caption or PLACEHOLDER[kind], {"media": [{"kind": kind, **media}]}
    if kind == "contacts":
        return "[contact card]", {"contacts": body or message.get("contacts")}
    return "", {}


class WhatsAppChannel(Channel):
    name = "whatsapp"

    def parse(self, conversation_id: str, payload: Mapping[str, Any]) -> list[IncomingMessage]:
        message = payload.get("message")
        if not isinstance(message, dict) or not message.get("id"):
            raise InvalidInput("the WhatsApp channel parses one Cloud API message")
        text, kept = message_text(message)
        return incoming(
            self.name, conversation_id, text, client_id=f"whatsapp:{message['id']}",
            choices=payload.get("choices") or {}, metadata=kept,
        )  # fmt: skip

    def render(self, message: Message) -> dict[str, Any]:
        return bodies(message, "en")[0]

    def deliveries(
        self, conversation: Conversation, messages: Sequence[Message]
    ) -> list[OutboxItem]:
        language = str(conversation.metadata.get("locale") or "en")
        items = []
        for message in messages:
            if message.author not in (Author.BOT, Author.AGENT):
                continue
            for index, body in enumerate(bodies(message, language)):
                items.append(
                    OutboxItem(
                        kind=SEND_KIND,
                        idempotency_key=f"{SEND_KIND}:{message.id}:{index}",
                        payload={
                            "conversation_id": conversation.id,
                            "message_id": message.id,
                            "body": body,
                            "text": message.text,
                            "template": message.meta.get("template"),
                            "compliance": bool(message.meta.get("compliance")),
                            **(_rateable(conversation, message) if index == 0 else {}),
                        },
                    )
                )
        return items

    async def deliver(self, services: Services, entry: Any) -> dict[str, Any]:
        payload = entry.payload
        try:
            config = whatsapp_config(services.workspace(entry.workspace_id))
        except ConfigurationError as exc:
            raise DeliveryError(str(exc), retryable=True) from exc
        if config is None:  # the section was removed since the reply was queued
            raise DeliveryError("whatsapp: the workspace has no whatsapp section", retryable=True)
        db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
        contact = await contacts.for_conversation(db, payload["conversation_id"])
        if contact is None:
            raise DeliveryError("whatsapp: the conversation has no WhatsApp contact")
        if contact.opted_out and not payload.get("compliance"):
            return {"skipped": "opted_out"}
        body = payload["body"]
        templated = not contact.in_service_window()
        if templated:
            body = template_body(payload, config)
        elif payload.get("rateable"):
            body = _with_thumbs(services, entry.workspace_id, payload, body)
        token = config.access_token.get_secret_value()
        wamid = await whatsapp_graph.send(
            config.api_url, config.phone_number_id, token, {"to": contact.address, **body}
        )
        await contacts.remember_delivery(
            db,
            self.name,
            wamid,
            entry.workspace_id,
            contact.conversation_id,
            [payload["message_id"]],
        )
        return {"wamid": wamid, "template": templated}


def _rateable(conversation: Conversation, message: Message) -> dict[str, Any]:
    """An answer with room for the thumbs' buttons, and the language of their labels."""
    if not thumbs.button_ready(message):
        return {}
    return {"rateable": True, "language": thumbs.answer_language(conversation, message)}


def _with_thumbs(
    services: Services, workspace_id: str, payload: Mapping[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    """The answer with the thumbs' reply buttons if the workspace wants them (read at send
    time, like the window: a setting changed since the turn counts)."""
    workspace = services.workspace(workspace_id)
    if not thumbs.settings(workspace).whatsapp:
        return body
    language = str(payload.get("language") or workspace.default_locale)
    text = str(payload.get("text") or "").strip()
    return thumbs.buttons(text, payload["message_id"], workspace, catalog.normalise(language))


def bodies(message: Message, language: str) -> list[dict[str, Any]]:
    """The Cloud API bodies (without ``to``) that show ``message``: its text with its quick
    replies as buttons or a list, then each attachment that has a link."""
    text, options = message.text.strip(), quick_replies(message)
    found: list[dict[str, Any]] = []
    if (
        options
        and len(options) <= 10
        and text
        and len(text) <= 1024
        and not rich.blocks(message.meta)
    ):
        found.append(_interactive(text, options, language))
    elif text or options or message.meta.get("rich"):
        found.append(
            {
                "type": "text",
                "text": {"body": plain_text(message, language, 4096), "preview_url": False},
            }
        )
    for attachment in message.meta.get("attachments") or []:
        if isinstance(attachment, dict) and str(attachment.get("url", "")).startswith("https://"):
            found.append(_media(attachment))
    return found


def plain_text(message: Message, language: str, limit: int) -> str:
    """The message as text with its options numbered (``rich.numbered``) and the hint to
    answer with a number."""
    hint = catalog.text(None, "channel.numbered_hint", language)
    form = rich.numbered(message.text, message.meta, limit - len(hint) - 1)
    return f"{form.text}\n{hint}" if form.choices else form.text


def _interactive(text: str, options: Sequence[str], language: str) -> dict[str, Any]:
    if len(options) <= 3 and all(len(o) <= 20 for o in options):
        buttons = [{"type": "reply", "reply": {"id": OPTION_ID + o, "title": o}} for o in options]
        action: dict[str, Any] = {"buttons": buttons}
        return {
            "type": "interactive",
            "interactive": {"type": "button", "body": {"text": text}, "action": action},
        }
    rows = []
    for option in options:
        row = {"id": (OPTION_ID + option)[:200], "title": _clip(option, 24)}
        if len(option) > 24:
            row["description"] = _clip(option, 72)
        rows.append(row)
    label = _clip(catalog.text(None, "channel.options", language), 20)
    action = {"button": label, "sections": [{"title": _clip(label, 24), "rows": rows}]}
    return {
        "type": "interactive",
        "interactive": {"type": "list", "body": {"text": text}, "action": action},
    }


def _media(attachment: Mapping[str, Any]) -> dict[str, Any]:
    content_type = str(attachment.get("content_type") or "")
    kind = next((k for k in ("image", "audio", "video") if content_type.startswith(k)), "document")
    media: dict[str, Any] = {"link": attachment["url"]}
    if kind == "document" and attachment.get("filename"):
        media["filename"] = str(attachment["filename"])[:240]
    return {"type": kind, kind: media}


def template_body(payload: Mapping[str, Any], config: WhatsAppConfig) -> dict[str, Any]:
    """The approved template that carries a message outside the 24-hour window: the
    proactive message's own template, else the workspace's with the text as its one body
    parameter (Meta refuses newlines and tabs in parameters, so they become spaces)."""
    own = payload.get("template")
    if isinstance(own, dict) and own.get("name"):
        template = Template(name=own["name"], language=own.get("language") or "en_US")
        parameters = [str(p) for p in own.get("parameters") or []]
    elif config.template is not None:
        template, parameters = config.template, [str(payload.get("text") or "")]
    else:
        raise DeliveryError(
            "whatsapp: more than 24 hours since the customer wrote; set whatsapp.template "
            "(an approved template) to reach them outside the customer-service window"
        )
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if parameters:
        flat = [_clip(" ".join(p.split()), 1024) for p in parameters]
        body["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in flat]}
        ]
    return {"type": "template", "template": body}
