"""Log records without secrets or personal data.

At debug level the WebSocket library logs every handshake header, and the inbox socket's
handshake carries the staff ``__Host-ss_access`` and refresh cookies: the probe found enough
in a debug log to take over a staff session. Exceptions quote driver errors, which quote
the values of a failed statement (a customer's email, a message with a card number).

``redact`` rewrites a formatted message: cookie and authorization headers, bearer tokens,
JWTs, our visitor and identity tokens, ``token=``/``password=``-style pairs, then emails,
phones, card numbers, IBANs and IP addresses (``privacy.redact``). ``RedactingFilter`` applies
it to a record in place (message, arguments, exception and stack text). ``install`` puts it
on every record the process creates, through the record factory, because a filter on a
logger misses records propagated from its children and uvicorn replaces the handlers when it
starts; it is also attached to the root and uvicorn loggers, for handlers added later.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from smartsupport.privacy import redact as redact_personal

REDACTED = "[REDACTED]"
_HEADERS = re.compile(
    r"(?i)\b((?:set-)?cookie|(?:proxy-)?authorization|x-csrf-token|x-api-key)"
    r"(['\"]?\s*[:=,]\s*b?['\"]?)([^\r\n'\"]+)"
)
_COOKIES = re.compile(r"((?:__Host-|__Secure-)?ss_\w+)=([^;\s,'\"]+)")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[\w.~+/=-]+")
_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
# Visitor tokens (v2.<conversation>.<issued>.<mac>) and identity tokens (v1.<ts>.<id>.<mac>).
_OUR_TOKENS = re.compile(r"\bv[12](?:\.[\w-]+){1,3}\.[\w-]{20,}")
_PAIRS = re.compile(
    r"(?i)(['\"]?\b(?:[\w-]*token|password|passwd|secret|api[_-]?key|sessionid)['\"]?"
    r"\s*[:=]\s*b?['\"]?)([^'\"\s,;}&)]+)"
)


def redact(text: str) -> str:
    """``text`` with secrets and personal data replaced by placeholders."""
    text = _HEADERS.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _COOKIES.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _OUR_TOKENS.sub(REDACTED, text)
    text = _PAIRS.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return redact_personal(text)


class RedactingFilter(logging.Filter):
    """Redacts a record in place and lets it through; a record is redacted once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: keep only its template
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # Formatters render exc_info when exc_text is missing; keep the redacted text only.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._redacted = True
        return True


_FILTER = RedactingFilter()
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "smartsupport")


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "_smartsupport_redacting", False):

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            _FILTER.filter(record)
            return record

        redacting_factory._smartsupport_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(redacting_factory)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
