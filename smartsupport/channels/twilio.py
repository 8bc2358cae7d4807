"""SMS and WhatsApp through Twilio, on the channel contract (``base.Channel``): one class,
two channel names, ``sms`` and ``twilio_whatsapp``.

    parse(conversation_id, payload)   Twilio's form parameters ({"params": {...}}) -> the
                                      IncomingMessage: Body, a WhatsApp button, a location,
                                      media URLs (``metadata["media"]``); a number answering
                                      numbered options becomes the option; client_id
                                      ``twilio:<MessageSid>``
    render(message)                   the text with its quick replies as numbered options
    deliveries(conversation, msgs)    one ``twilio.send`` outbox item per part of at most
                                      1600 characters
    deliver(services, entry)          Messages API: nothing to an address that sent STOP
                                      (Twilio's 21610 records it too); WhatsApp outside the
                                      24-hour window only the workspace's Content template;
                                      inside it, one to three quick replies as the tappable
                                      buttons of a twilio/quick-reply Content template the
                                      workspace names for that count (``buttons``); under a
                                      knowledge answer the "Reply 1 or 2" line when the
                                      workspace asks for it (thumbs_reply.py), marked on the
                                      answer once sent so the reply counts as its rating
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from smartsupport import messages as catalog
from smartsupport import rich
from smartsupport.channels import contacts, thumbs, thumbs_reply, twilio_rest
from smartsupport.channels.base import Channel
from smartsupport.channels.contacts import Contact
from smartsupport.channels.messaging_config import TwilioConfig, twilio_config
from smartsupport.channels.options import incoming, quick_replies
from smartsupport.channels.whatsapp import plain_text
from smartsupport.domain import Author, Conversation, IncomingMessage, Message, OutboxItem
from smartsupport.errors import ConfigurationError, DeliveryError, InvalidInput, NotFound
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor
from smartsupport.workspaces import WorkspaceConfig

SEND_KIND = "twilio.send"
WHATSAPP_PREFIX = "whatsapp:"
# twilio/quick-reply in a WhatsApp session (twilio.com/docs/content/twilio-quick-reply): at
# most 3 buttons, a body of at most 1,024 characters; WhatsApp titles a button in at most 20.
MAX_BUTTONS, MAX_BUTTON_BODY, MAX_BUTTON_TITLE = 3, 1024, 20


def address_of(value: str) -> str:
    """A Twilio ``From``/``To`` as our contact address: the number without ``whatsapp:``."""
    return value.removeprefix(WHATSAPP_PREFIX).strip()


def inbound_text(params: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    text = params.get("ButtonText") or params.get("Body") or ""
    kept: dict[str, Any] = {}
    try:
        count = min(int(params.get("NumMedia") or 0), 10)
    except ValueError as exc:
        raise InvalidInput("NumMedia must be a number") from exc
    media = [
        {"url": params[f"MediaUrl{i}"], "content_type": params.get(f"MediaContentType{i}", "")}
        for i in range(count)
        if params.get(f"MediaUrl{i}")
    ]
    if media:
        kept["media"] = media
        if not text.strip():
            kinds = {m["content_type"].split("/")[0] for m in media}
            text = (
                "[voice message]"
                if kinds == {"audio"}
                else "[image]"
                if kinds == {"image"}
                else "[media]"
            )
    if params.get("Latitude") and params.get("Longitude"):
        where = f"{params['Latitude']}, {params['Longitude']}"
        place = params.get("Label") or params.get("Address") or ""
        kept["location"] = {"latitude": params["Latitude"], "longitude": params["Longitude"]}
        text = text or (f"📍 {place} ({where})" if place else f"📍 {where}")
    return text, kept


class TwilioChannel(Channel):
    name = "sms"

    def parse(self, conversation_id: str, payload: Mapping[str, Any]) -> list[IncomingMessage]:
        params = payload.get("params")
        if not isinstance(params, Mapping) or not params.get("MessageSid"):
            raise InvalidInput("the Twilio channel parses a webhook's form parameters")
        text, kept = inbound_text(params)
        return incoming(
            self.name, conversation_id, text, client_id=f"twilio:{params['MessageSid']}",
            choices=payload.get("choices") or {}, metadata=kept,
        )  # fmt: skip

    def render(self, message: Message) -> dict[str, Any]:
        return {"body": self.text_of(message, "en")}

    @staticmethod
    def text_of(message: Message, language: str) -> str:
        # Long texts are split into parts (split_body); the options stay whole at the end.
        return plain_text(message, language, 100_000)

    def deliveries(
        self, conversation: Conversation, messages: Sequence[Message]
    ) -> list[OutboxItem]:
        language = str(conversation.metadata.get("locale") or "en")
        items = []
        for message in messages:
            if message.author not in (Author.BOT, Author.AGENT):
                continue
            media = [
                str(a["url"])
                for a in message.meta.get("attachments") or []
                if isinstance(a, dict) and str(a.get("url", "")).startswith("https://")
            ]
            parts = twilio_rest.split_body(self.text_of(message, language)) or [""]
            # The rating line goes under the last part, if the workspace wants it at send time.
            rateable = (
                {"rateable": True, "language": thumbs.answer_language(conversation, message)}
                if thumbs_reply.offerable(message)
                else {}
            )
            for index, part in enumerate(parts):
                items.append(
                    OutboxItem(
                        kind=SEND_KIND,
                        idempotency_key=f"{SEND_KIND}:{message.id}:{index}",
                        payload={
                            "channel": self.name,
                            "conversation_id": conversation.id,
                            "message_id": message.id,
                            "body": part,
                            "media": media if index == 0 else [],
                            "text": message.text,
                            "compliance": bool(message.meta.get("compliance")),
                            **({"buttons": buttons} if (buttons := self.buttons(message)) else {}),
                            **(rateable if index == len(parts) - 1 else {}),
                        },
                    )
                )
        return items

    def buttons(self, message: Message) -> list[str]:
        """The quick replies a WhatsApp customer may tap instead of typing a number: one to
        three short ones on a message of text alone (no cards, no files); else none, and
        the numbered text stands."""
        if self.name != TwilioWhatsAppChannel.name:
            return []
        options, text = quick_replies(message), message.text.strip()
        fits = 0 < len(options) <= MAX_BUTTONS and 0 < len(text) <= MAX_BUTTON_BODY
        if not fits or rich.blocks(message.meta) or message.meta.get("attachments"):
            return []
        return options if all(len(o) <= MAX_BUTTON_TITLE for o in options) else []

    async def deliver(self, services: Services, entry: Any) -> dict[str, Any]:
        """One handler for both names: the item says which channel it answers on."""
        payload = entry.payload
        name = str(payload.get("channel") or self.name)
        try:
            config = twilio_config(services.workspace(entry.workspace_id))
        except ConfigurationError as exc:
            raise DeliveryError(str(exc), retryable=True) from exc
        if config is None:
            raise DeliveryError("twilio: the workspace has no twilio section", retryable=True)
        db: SqlExecutor = services.store  # type: ignore[assignment]  # every store is SQL
        contact = await contacts.for_conversation(db, payload["conversation_id"])
        if contact is None:
            raise DeliveryError(f"twilio: the conversation has no {name} contact")
        if contact.opted_out and not payload.get("compliance"):
            return {"skipped": "opted_out"}
        whatsapp = name == TwilioWhatsAppChannel.name
        offer = _offer(services.workspace(entry.workspace_id), name, contact, payload)
        if offer:
            payload = {**payload, "body": f"{payload['body'].rstrip()}\n\n{offer['line']}"}
        form = _form(
            config, contact, payload, whatsapp, services.settings.public_url, entry.workspace_id
        )
        token = config.auth_token.get_secret_value()
        try:
            sent = await twilio_rest.send(config.api_url, config.account_sid, token, form)
        except twilio_rest.TwilioError as exc:
            if exc.code != twilio_rest.UNSUBSCRIBED:
                raise
            # Twilio keeps the STOP it handled itself: remember it here too, send nothing.
            await contacts.set_consent(db, entry.workspace_id, name, contact.address, "out")
            return {"skipped": "opted_out"}
        await contacts.remember_delivery(
            db, name, str(sent["sid"]), entry.workspace_id, contact.conversation_id,
            [payload["message_id"]], status=str(sent.get("status") or "queued"),
        )  # fmt: skip
        if offer:
            # From now on an exact "1" / "2" right after this answer is its rating.
            mark = {"channel": name, "language": offer["language"]}
            with contextlib.suppress(NotFound):  # erased since: nothing left to rate
                await services.store.update_message_meta(
                    payload["message_id"], {thumbs_reply.OFFER: mark}
                )
        return {"sid": sent["sid"]}


def _offer(
    workspace: WorkspaceConfig, name: str, contact: Contact, payload: Mapping[str, Any]
) -> dict[str, str] | None:
    """The rating line for this part and its language, when it is a knowledge answer's last
    part, the workspace wants the line on this channel (read at send time, like the window),
    the text goes as text (WhatsApp outside the 24-hour window sends a template) and the line
    fits within Twilio's 1600 characters; else None."""
    if not payload.get("rateable") or payload.get("buttons"):
        return None
    try:
        wanted = thumbs_reply.enabled(name, workspace)
    except ConfigurationError as exc:
        raise DeliveryError(str(exc), retryable=True) from exc
    if not wanted or (name == TwilioWhatsAppChannel.name and not contact.in_service_window()):
        return None
    language = catalog.normalise(str(payload.get("language") or "")) or catalog.normalise(
        workspace.default_locale
    )
    line = thumbs_reply.line(name, workspace, language)
    if len(payload["body"].rstrip()) + 2 + len(line) > twilio_rest.MAX_BODY:
        return None
    return {"line": line, "language": language}


def _form(
    config: TwilioConfig,
    contact: Contact,
    payload: Mapping[str, Any],
    whatsapp: bool,
    public_url: str,
    workspace_id: str,
) -> dict[str, Any]:
    form: dict[str, Any] = {"To": contact.address, "Body": payload["body"]}
    if whatsapp:
        if not config.whatsapp_from:
            raise DeliveryError("twilio: set twilio.whatsapp_from to answer on WhatsApp")
        form.update(To=WHATSAPP_PREFIX + contact.address, From=config.whatsapp_from)
        if not contact.in_service_window():
            if not config.whatsapp_template_sid:
                raise DeliveryError(
                    "twilio: more than 24 hours since the customer wrote on WhatsApp; set "
                    "twilio.whatsapp_template_sid (an approved Content template)"
                )
            del form["Body"]
            variables = {"1": " ".join(str(payload.get("text") or "").split())[:1024]}
            form.update(
                ContentSid=config.whatsapp_template_sid,
                ContentVariables=json.dumps(variables, ensure_ascii=False),
            )
        elif (buttons := payload.get("buttons")) and len(buttons) in config.whatsapp_button_sids:
            # The template's body is {{1}}, its buttons' titles and ids {{2}}...: a tap comes
            # back as ButtonText (and ButtonPayload), the option's own words.
            del form["Body"]
            texts = [str(payload.get("text") or "").strip(), *buttons]
            form.update(
                ContentSid=config.whatsapp_button_sids[len(buttons)],
                ContentVariables=json.dumps(
                    {str(n): t for n, t in enumerate(texts, 1)}, ensure_ascii=False
                ),
            )
    elif config.messaging_service_sid:
        form["MessagingServiceSid"] = config.messaging_service_sid
    elif config.sms_from:
        form["From"] = config.sms_from
    else:
        raise DeliveryError("twilio: set twilio.sms_from or messaging_service_sid for SMS")
    if payload.get("media") and "Body" in form:
        form["MediaUrl"] = list(payload["media"])
    if public_url:
        form["StatusCallback"] = (
            f"{public_url.rstrip('/')}/api/v1/channels/twilio/{workspace_id}/status"
        )
    return form


class TwilioWhatsAppChannel(TwilioChannel):
    name = "twilio_whatsapp"
