"""How log lines look: plain text (the default) or one JSON object per line
(``SMARTSUPPORT_LOG_FORMAT=json``), for log shippers that index fields.

A JSON line carries ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and,
when the line is logged while they are known, ``request_id`` (the request's X-Request-ID or
one we made up; ``http_telemetry`` sets it) and ``conversation_id`` (set for the whole of a
customer turn by ``telemetry``). They travel in context variables, so every line of a turn
carries them, whichever module logs it, without passing them around.

This module only formats. Filters (e.g. redaction) are installed on the same handler by
whoever owns them; ``configure`` returns the handler for that.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str | None] = ContextVar("smartsupport_request_id", default=None)
CONVERSATION_ID: ContextVar[str | None] = ContextVar("smartsupport_conversation_id", default=None)

FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; an exception's traceback goes in ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        conversation_id = CONVERSATION_ID.get()
        if conversation_id is not None:
            entry["conversation_id"] = conversation_id
        # As logging.Formatter does: the traceback is rendered once into exc_text (a filter
        # may already have put a cleaned one there).
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"log format {log_format!r}: use one of {', '.join(FORMATS)}")


def configure(level: str, log_format: str) -> logging.Handler:
    """Send the process's logs to stderr in ``log_format`` at ``level``; return the handler
    so that filters can be added to it."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    return handler
