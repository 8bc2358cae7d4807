"""Reading an inbound mail: what the customer wrote, which thread it belongs to, what it
carries, and whether it is a machine's mail we must never answer.

    parse_mail(raw)        -> ParsedMail: Message-ID, In-Reply-To, References, sender,
                              subject, the new text (quoted reply and signature stripped,
                              HTML turned into text), attachments
    ignore_reason(mail, own)  why a mail must not be answered (auto-replies, bulk and list
                              mail, bounces, our own mails), or None

Pure functions over bytes: no I/O, so every rule is tested on its own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from bs4 import BeautifulSoup

_MSGID = re.compile(r"<[^<>\s]+>")

# Where the quoted earlier mail starts in a reply, as mail clients write it (Gmail, Apple
# Mail, Thunderbird: "On ... wrote:"; Outlook: a "From:" block or "-----Original
# Message-----"), in the languages the assistant answers in.
_QUOTE_HEADERS = [
    re.compile(p, re.IGNORECASE | re.MULTILINE)
    for p in (
        r"^\s*On\b.{0,300}?\bwrote:\s*$",
        r"^\s*Am\b.{0,300}?\bschrieb\b.{0,100}:\s*$",
        r"^\s*Le\b.{0,300}?\ba écrit\s*:\s*$",
        r"^\s*El\b.{0,300}?\bescribió:\s*$",
        r"^\s*Em\b.{0,300}?\bescreveu:\s*$",
        r"^\s*Il giorno\b.{0,300}?\bha scritto:\s*$",
        r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$",
        r"^\s*-{2,}\s*Ursprüngliche Nachricht\s*-{2,}\s*$",
        r"^\s*_{10,}\s*$",  # Outlook's rule above the quoted headers
        r"^\s*From:\s.+\n\s*(Sent|Date):\s",
        r"^\s*Von:\s.+\n\s*(Gesendet|Datum):\s",
    )
]
# Where a signature starts: the standard "-- " line (RFC 3676), and phone-client footers.
_SIGNATURE = re.compile(
    r"^(-- ?|Sent from my \w+.*|Get Outlook for \w+.*|Envoyé de mon \w+.*|Von meinem \w+.*)$",
    re.MULTILINE,
)

# Senders that are mail systems, not people (RFC 3834 section 2, RFC 5321 section 4.5.5).
_SYSTEM_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", re.I)


@dataclass(slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class ParsedMail:
    message_id: str
    in_reply_to: str | None
    references: list[str]
    sender: str  # the address replies go to (Reply-To, else From), lower-cased
    sender_name: str
    subject: str
    text: str  # what the customer wrote now
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # those loop checks read

    @property
    def thread_ids(self) -> list[str]:
        """Earlier mails this one answers, nearest first."""
        found = [self.in_reply_to] if self.in_reply_to else []
        return found + [m for m in reversed(self.references) if m not in found]


_LOOP_HEADERS = (
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "list-id",
    "return-path",
    "content-type",
    "from",
)


def parse_mail(raw: bytes) -> ParsedMail:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    message_id = _first_id(msg.get("Message-ID", ""))
    if message_id is None:
        # Some senders omit it; the content still identifies the mail across restarts.
        message_id = f"<{hashlib.sha256(raw).hexdigest()[:32]}@missing-message-id>"
    name, address = parseaddr(str(msg.get("Reply-To") or msg.get("From") or ""))
    plain, html, attachments = _parts(msg)
    body = plain if plain.strip() else html_to_text(html)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=_first_id(msg.get("In-Reply-To", "")),
        references=_MSGID.findall(str(msg.get("References", ""))),
        sender=address.lower(),
        sender_name=name,
        subject=" ".join(str(msg.get("Subject", "")).split()),
        text=new_text(body),
        attachments=attachments,
        headers={h: str(msg.get(h, "")) for h in _LOOP_HEADERS if msg.get(h) is not None},
    )


def _first_id(value: object) -> str | None:
    found = _MSGID.findall(str(value or ""))
    return found[0] if found else None


def _parts(msg: EmailMessage) -> tuple[str, str, list[Attachment]]:
    """The first text/plain and text/html bodies, and every attachment."""
    plain, html = "", ""
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if disposition == "attachment" or (disposition == "inline" and part.get_filename()):
            data = part.get_payload(decode=True) or b""
            name = part.get_filename() or "attachment"
            attachments.append(Attachment(name, ctype, bytes(data)))
        elif ctype == "text/plain" and not plain:
            plain = _decoded(part)
        elif ctype == "text/html" and not html:
            html = _decoded(part)
    return plain, html, attachments


def _decoded(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, UnicodeDecodeError):  # an unknown or lying charset
        data = part.get_payload(decode=True) or b""
        return bytes(data).decode("utf-8", errors="replace")


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail: paragraphs and line breaks kept, quoted blocks
    (``blockquote``, Gmail's ``gmail_quote``) and styles dropped."""
    if not html.strip():
        return ""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "blockquote"]):
        tag.decompose()
    for tag in soup.select(".gmail_quote, #divRplyFwdMsg, #appendonsend"):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(["p", "div", "li", "tr", "h1", "h2", "h3"]):
        block.insert_after("\n")
    lines = [" ".join(line.split()) for line in soup.get_text().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def new_text(body: str) -> str:
    """What the customer wrote in this mail: the quoted earlier mail and the signature cut."""
    text = body.replace("\r\n", "\n")
    cut = len(text)
    for pattern in _QUOTE_HEADERS:
        match = pattern.search(text)
        if match and match.start() < cut:
            cut = match.start()
    text = text[:cut]
    signature = _SIGNATURE.search(text)
    if signature:
        text = text[: signature.start()]
    kept = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def ignore_reason(mail: ParsedMail, own_addresses: set[str]) -> str | None:
    """Why this mail must not be answered, or None. Answering machines answer each other
    forever; RFC 3834 asks responders to leave these alone."""
    headers = mail.headers
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted: {auto}"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"precedence: {precedence}"
    if "x-autoreply" in headers or "x-autorespond" in headers:
        return "auto-reply header"
    if "list-id" in headers:
        return "mailing list"
    if headers.get("return-path", "").strip() == "<>":
        return "bounce (empty return path)"
    if "multipart/report" in headers.get("content-type", "").lower():
        return "delivery report"
    senders = [a.lower() for _, a in getaddresses([headers.get("from", "")]) if a]
    if not mail.sender or any(_SYSTEM_SENDERS.match(a) for a in [mail.sender, *senders]):
        return "mail system sender"
    if mail.sender in own_addresses or any(a in own_addresses for a in senders):
        return "our own mail"
    return None
