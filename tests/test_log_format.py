"""SMARTSUPPORT_LOG_FORMAT=json: one JSON object per line with timestamp, level, logger and
message; the request id (the client's X-Request-ID, or one made up, echoed in the response)
and the conversation id on every line logged during a turn, whichever module logs it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
from appkit import say, served, start

from smartsupport import log_format
from smartsupport.assistant import Assistant
from smartsupport.settings import Settings


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger at debug, through the JSON formatter, into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(log_format.formatter("json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_json_line_has_the_fields_and_an_exception_its_traceback(json_lines):
    log = logging.getLogger("smartsupport.test")
    log.info("plain %s", "text")
    try:
        raise ValueError("broken")
    except ValueError:
        log.exception("it failed")
    first, second = lines(json_lines)
    assert first["level"] == "info" and first["logger"] == "smartsupport.test"
    assert first["message"] == "plain text"
    assert datetime.fromisoformat(first["timestamp"]).utcoffset().total_seconds() == 0
    assert "request_id" not in first and "conversation_id" not in first  # outside any request
    assert second["level"] == "error" and "ValueError: broken" in second["exception"]


def test_an_unknown_log_format_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="text, json"):
        log_format.formatter("xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")


async def test_every_line_of_a_turn_carries_the_request_and_conversation_ids(
    tmp_path, json_lines, monkeypatch
):
    decide = Assistant.decide

    async def deciding(self, turn):
        # Any module's line during the turn: the ids come from context, not arguments.
        logging.getLogger("smartsupport.somewhere.deep").warning("deciding now")
        return await decide(self, turn)

    monkeypatch.setattr(Assistant, "decide", deciding)
    async with served(Settings(data_dir=tmp_path, secret_key="k" * 32)) as (_, http):
        conversation = await start(http)
        json_lines.truncate(0), json_lines.seek(0)
        given = await say(http, conversation, "hello", "m1", **{"X-Request-ID": "edge-42.a"})
        during_given = lines(json_lines)
        json_lines.truncate(0), json_lines.seek(0)
        made_up = await say(http, conversation, "What is your returns policy?", "m2")
        during_made_up = lines(json_lines)
        refused = await say(http, conversation, "hi", "m3", **{"X-Request-ID": 'bad "id"\t'})
    assert given.headers["x-request-id"] == "edge-42.a"
    request_id = made_up.headers["x-request-id"]
    assert len(request_id) == 32 and request_id != "edge-42.a"
    assert refused.headers["x-request-id"] != 'bad "id"\t'  # not copied into logs
    for captured, expected in ((during_given, "edge-42.a"), (during_made_up, request_id)):
        turn_lines = [line for line in captured if line["logger"].startswith("smartsupport")]
        assert {line["message"] for line in turn_lines} >= {"deciding now"}
        assert any(line["logger"] == "smartsupport.turn" for line in turn_lines)
        for line in turn_lines:
            assert line["request_id"] == expected, line
            assert line["conversation_id"] == conversation["id"], line
    # After the turn the conversation id is gone from the context.
    logging.getLogger("smartsupport.test").info("later")
    assert "conversation_id" not in lines(json_lines)[-1]
