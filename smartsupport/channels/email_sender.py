"""Sending a reply mail over SMTP: the outbox's ``email.send`` work (channels/email.py makes
the payload inside the turn's transaction; this module turns it into a mail and sends it).

    compose(payload, from_header)   a MIME mail readable in any client: text/plain with a
                                    text/html alternative, threaded (Message-ID, In-Reply-To,
                                    References), an automatic reply marked as one (RFC 3834)
    send(endpoint, mail)            SMTP with TLS, STARTTLS or neither, as the URL says;
                                    failures become DeliveryError: retried unless the server
                                    refused the recipient for good (5xx)
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import aiosmtplib

from smartsupport.channels.email_config import Endpoint
from smartsupport.domain import utcnow
from smartsupport.errors import DeliveryError
from smartsupport.rich import email_html, email_text

SEND_TIMEOUT = 30.0  # seconds; a stalled server is retried by the outbox, not waited on


def render_text(parts: list[dict[str, Any]]) -> str:
    """Plain text of the replies: paragraphs, then the suggested answers as a list."""
    blocks: list[str] = []
    for part in parts:
        block = part["text"].strip()
        shown = email_text({"rich": part.get("rich") or []})
        if shown:
            block += "\n\n" + shown
        if part.get("quick_replies"):
            block += "\n\n" + "\n".join(f"  - {q}" for q in part["quick_replies"])
        if part.get("files"):
            block += "\n\n" + "\n".join(f"  [{name}]" for name in part["files"])
        blocks.append(block)
    return "\n\n".join(blocks) + "\n"


def render_html(parts: list[dict[str, Any]]) -> str:
    """The same content as simple HTML: escaped, line breaks kept, no remote resources."""
    body: list[str] = []
    for part in parts:
        paragraphs = [p for p in part["text"].strip().split("\n\n") if p.strip()]
        body += [f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs]
        body.append(email_html({"rich": part.get("rich") or []}))
        if part.get("quick_replies"):
            items = "".join(f"<li>{html.escape(q)}</li>" for q in part["quick_replies"])
            body.append(f"<ul>{items}</ul>")
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="font-family:sans-serif;font-size:14px;line-height:1.5">'
        + "".join(body)
        + "</body></html>"
    )


def compose(
    payload: Mapping[str, Any], from_header: str, files: Sequence[tuple[str, str, bytes]] = ()
) -> EmailMessage:
    """The mail; ``files`` are (filename, content type, bytes) attached after the text."""
    mail = EmailMessage()
    mail["From"] = from_header
    mail["To"] = formataddr((payload.get("to_name") or "", payload["to"]))
    mail["Subject"] = payload["subject"]
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = payload["message_id"]
    if payload.get("in_reply_to"):
        mail["In-Reply-To"] = payload["in_reply_to"]
    if payload.get("references"):
        mail["References"] = " ".join(payload["references"])
    if payload.get("automatic"):
        # A bot's answer is an automatic reply: other responders must not answer it.
        mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office to our replies
    mail.set_content(payload["text"])
    mail.add_alternative(payload["html"], subtype="html")
    for filename, content_type, data in files:
        maintype, _, subtype = content_type.partition("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mail


def _tls(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.scheme == "smtps":
        return {"use_tls": True, "start_tls": False}
    return {"use_tls": False, "start_tls": endpoint.scheme == "smtp+starttls"}


async def send(endpoint: Endpoint, mail: EmailMessage) -> None:
    password = endpoint.password.get_secret_value()
    try:
        await aiosmtplib.send(
            mail,
            hostname=endpoint.host,
            port=endpoint.port,
            username=endpoint.username or None,
            password=password if endpoint.username else None,
            timeout=SEND_TIMEOUT,
            **_tls(endpoint),
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        permanent = all(500 <= code < 600 for code in codes)
        raise DeliveryError(
            f"SMTP {endpoint.host} refused the recipient: {exc}", retryable=not permanent
        ) from exc
    except aiosmtplib.SMTPResponseException as exc:
        # 4xx is "try again later"; a 5xx to the message itself (size, policy) will not
        # change, but an authentication failure (535) is fixed by an admin: keep it queued.
        permanent = 500 <= exc.code < 600 and exc.code not in (530, 534, 535)
        raise DeliveryError(
            f"SMTP {endpoint.host} answered {exc.code}: {exc.message}", retryable=not permanent
        ) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise DeliveryError(
            f"SMTP {endpoint.host}:{endpoint.port} unreachable: {exc}", retryable=True
        ) from exc
