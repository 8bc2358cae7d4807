"""Rich messages: one model for what a reply may show besides its text, and how each
channel that cannot show it degrades it.

A stored message keeps its text (always readable on its own) and, in ``meta``:

    quick_replies   ["Track my order", ...]: suggested answers, sent back as the customer's text
    rich            a list of blocks, each one of
                      {"type": "buttons", "buttons": [Button, ...]}
                      {"type": "card", "title", "subtitle", "image_url", "url", "buttons"}
                      {"type": "carousel", "cards": [card, ...]}
                      {"type": "image", "url", "alt"}
                      {"type": "file", "url", "filename"}
    Button          {"type": "postback", "title", "payload"}  pressing it sends ``payload``
                    (default: the title) as the customer's message
                    {"type": "link", "title", "url"}           opens an https URL

``blocks(meta)`` reads them back as models (anything malformed is left out, so a bad block
never breaks a transcript); ``numbered(text, meta)`` is the plain-text form for SMS and
other text-only channels (options numbered, ``choice`` maps an answer "2" back); the email
channel uses ``email_parts``. The widget renders every block (static/widget-rich.js).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

MAX_BUTTONS = 3  # per card or row: what WhatsApp reply buttons and most chat UIs allow
MAX_CARDS = 10  # per carousel: WhatsApp lists and Messenger carousels stop at 10
_TITLE = 80


def is_web_url(url: str | None) -> bool:
    """An absolute http(s) URL: the only kind a block may link to."""
    return bool(url) and bool(re.match(r"^https?://[^\s/]+", url or "", re.IGNORECASE))


def _https(url: str) -> str:
    """Only absolute http(s) URLs reach a customer's screen: no javascript:, data: or
    relative URLs that would resolve against the customer's site."""
    if not is_web_url(url):
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PostbackButton(_Block):
    type: Literal["postback"] = "postback"
    title: str = Field(min_length=1, max_length=_TITLE)
    payload: str = Field(default="", max_length=1000, description="Sent as the customer's text.")

    def said(self) -> str:
        """What the customer 'says' by pressing it."""
        return self.payload or self.title


class LinkButton(_Block):
    type: Literal["link"] = "link"
    title: str = Field(min_length=1, max_length=_TITLE)
    url: str

    _url = field_validator("url")(_https)


Button = Annotated[PostbackButton | LinkButton, Field(discriminator="type")]


class Buttons(_Block):
    type: Literal["buttons"] = "buttons"
    buttons: list[Button] = Field(min_length=1, max_length=MAX_BUTTONS)


class Card(_Block):
    type: Literal["card"] = "card"
    title: str = Field(min_length=1, max_length=_TITLE)
    subtitle: str = Field(default="", max_length=400)
    image_url: str | None = None
    url: str | None = None
    buttons: list[Button] = Field(default_factory=list, max_length=MAX_BUTTONS)

    @field_validator("image_url", "url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _https(value) if value else None


class Carousel(_Block):
    type: Literal["carousel"] = "carousel"
    cards: list[Card] = Field(min_length=1, max_length=MAX_CARDS)


class Image(_Block):
    type: Literal["image"] = "image"
    url: str
    alt: str = Field(default="", max_length=200)

    _url = field_validator("url")(_https)


class File(_Block):
    type: Literal["file"] = "file"
    url: str
    filename: str = Field(min_length=1, max_length=200)

    _url = field_validator("url")(_https)


Block = Annotated[Buttons | Card | Carousel | Image | File, Field(discriminator="type")]
_BLOCK: TypeAdapter[Any] = TypeAdapter(Block)


def block(data: Mapping[str, Any]) -> Buttons | Card | Carousel | Image | File:
    """One block from data (a flow's card, an API caller's message); ValueError says why not."""
    try:
        return _BLOCK.validate_python(dict(data))  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ValueError(f"not a rich block: {exc.errors()[0]['msg']}") from exc


def blocks(meta: Mapping[str, Any]) -> list[Buttons | Card | Carousel | Image | File]:
    """The message's valid blocks, in order (malformed ones are skipped)."""
    found = []
    for item in meta.get("rich") or []:
        if isinstance(item, Mapping):
            try:
                found.append(block(item))
            except ValueError:
                continue
    return found


def dump(items: list[Buttons | Card | Carousel | Image | File]) -> list[dict[str, Any]]:
    """Blocks as stored in ``meta["rich"]`` and sent on the wire."""
    return [item.model_dump(mode="json") for item in items]


def actions(meta: Mapping[str, Any]) -> list[PostbackButton | LinkButton]:
    """Every button the message offers: quick replies first (as postbacks), then the
    buttons of its blocks in order."""
    found: list[PostbackButton | LinkButton] = [
        PostbackButton(title=q[:_TITLE], payload=q)
        for q in meta.get("quick_replies") or []
        if isinstance(q, str) and q.strip()
    ]
    for item in blocks(meta):
        cards = (
            [item] if isinstance(item, Card) else item.cards if isinstance(item, Carousel) else []
        )
        if isinstance(item, Buttons):
            found += item.buttons
        for card in cards:
            found += card.buttons
    return found


# ---- degradation: text-only channels ---------------------------------------------------------
@dataclass(slots=True)
class Numbered:
    """A message as plain text with its options numbered; ``choices`` maps "1" to what the
    customer's answer "1" means (the postback's text)."""

    text: str
    choices: dict[str, str] = field(default_factory=dict)


def _card_lines(card: Card) -> list[str]:
    lines = [card.title + (f" - {card.subtitle}" if card.subtitle else "")]
    if card.url:
        lines.append(card.url)
    return lines


def numbered(text: str, meta: Mapping[str, Any], limit: int | None = None) -> Numbered:
    """The plain-text form (SMS, text-only WhatsApp, a transcript export): the text, each
    card as lines, each link as "title: url", each postback and quick reply as "N. title".
    ``limit`` cuts the text (not the options) so the whole stays within it when it can."""
    lines: list[str] = []
    options: list[str] = []
    choices: dict[str, str] = {}

    def option(button: PostbackButton | LinkButton) -> None:
        if isinstance(button, LinkButton):
            lines.append(f"{button.title}: {button.url}")
            return
        number = str(len(choices) + 1)
        choices[number] = button.said()
        options.append(f"{number}. {button.title}")

    for item in blocks(meta):
        if isinstance(item, Card | Carousel):
            for card in [item] if isinstance(item, Card) else item.cards:
                lines += _card_lines(card)
                for button in card.buttons:
                    option(button)
        elif isinstance(item, Buttons):
            for button in item.buttons:
                option(button)
        elif isinstance(item, Image):
            lines.append(f"{item.alt or 'Image'}: {item.url}")
        else:
            lines.append(f"{item.filename}: {item.url}")
    for quick in meta.get("quick_replies") or []:
        if isinstance(quick, str) and quick.strip():
            option(PostbackButton(title=quick[:_TITLE], payload=quick))
    extra = "\n".join(lines + options)
    body = text.strip()
    if limit is not None and len(body) + len(extra) + 2 > limit:
        room = max(0, limit - len(extra) - 3)
        body = body[:room].rstrip() + "…" if room else ""
    return Numbered("\n\n".join(p for p in (body, extra) if p), choices)


def choice(answer: str, choices: Mapping[str, str]) -> str | None:
    """What a customer's answer to a ``numbered`` message chose: "2", "2.", "#2" or the
    option's text itself (any case); None when it is not one of the options."""
    said = answer.strip().strip(".)#").strip()
    if said in choices:
        return choices[said]
    folded = said.casefold()
    for value in choices.values():
        if value.casefold() == folded:
            return value
    return None


# ---- degradation: email ------------------------------------------------------------------------
def email_text(meta: Mapping[str, Any]) -> str:
    """The blocks as the plain-text part of a mail (links written out; postbacks listed as
    what the customer can answer)."""
    return numbered("", {"rich": meta.get("rich") or []}).text


def email_html(meta: Mapping[str, Any]) -> str:
    """The blocks as simple, escaped HTML for a mail: cards as bordered boxes with their
    links; images as links (no remote resources load when the mail is opened)."""
    out: list[str] = []
    e = html.escape
    box = 'style="border:1px solid #d5d8de;border-radius:8px;padding:10px;margin:8px 0"'

    def links(buttons: list[PostbackButton | LinkButton]) -> str:
        parts = [
            f'<a href="{e(b.url)}">{e(b.title)}</a>' if isinstance(b, LinkButton) else e(b.title)
            for b in buttons
        ]
        return f"<p>{' · '.join(parts)}</p>" if parts else ""

    for item in blocks(meta):
        if isinstance(item, Card | Carousel):
            for card in [item] if isinstance(item, Card) else item.cards:
                title = (
                    f'<a href="{e(card.url)}">{e(card.title)}</a>' if card.url else e(card.title)
                )
                sub = f"<br>{e(card.subtitle)}" if card.subtitle else ""
                out.append(f"<div {box}><strong>{title}</strong>{sub}{links(card.buttons)}</div>")
        elif isinstance(item, Buttons):
            out.append(links(item.buttons))
        elif isinstance(item, Image):
            out.append(f'<p><a href="{e(item.url)}">{e(item.alt or item.url)}</a></p>')
        else:
            out.append(f'<p><a href="{e(item.url)}">{e(item.filename)}</a></p>')
    return "".join(out)
