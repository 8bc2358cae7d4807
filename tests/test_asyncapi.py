"""/asyncapi.json describes both WebSockets from the frame models the sockets use, and every
frame type the package sends or accepts is in it. (The socket tests check each frame they
receive against the same models: the ``checked_frames`` fixture.)"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect

from smartsupport import __version__, frames
from smartsupport.app import create_app
from smartsupport.settings import Settings

PACKAGE = Path(frames.__file__).parent


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), secret_key="k")
    app = create_app(settings)
    with TestClient(app) as client:
        response = client.get("/asyncapi.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        yield client, response.json()


def kind(model: type) -> str:
    [value] = get_args(model.model_fields["type"].annotation)
    return value


def union(annotated: Any) -> list[type]:
    return list(get_args(get_args(annotated)[0]))


def messages(document: dict[str, Any], operation: str) -> set[str]:
    """The payload schema names of an operation's messages, resolved through the refs."""
    found = set()
    for ref in document["operations"][operation]["messages"]:
        _, _, channel, _, name = ref["$ref"].split("/")
        message_ref = document["channels"][channel]["messages"][name]["$ref"]
        message = document["components"]["messages"][message_ref.rsplit("/", 1)[1]]
        payload = message["payload"]["$ref"].rsplit("/", 1)[1]
        assert payload in document["components"]["schemas"]
        found.add(payload)
    return found


def websocket_paths() -> set[str]:
    """The path of every ``@router.websocket(...)`` in the package."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", "") == "websocket"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def test_the_document_is_asyncapi_3_and_names_every_socket_of_the_app(served):
    client, document = served
    assert document["asyncapi"] == "3.0.0" and document["info"]["version"] == __version__
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == websocket_paths()
    # Both addresses are live sockets: a bad hello, and no staff session, are refused.
    for address, code in (
        ("/api/v1/conversations/{conversation_id}/ws", 4400),
        ("/api/v1/inbox/ws", 4401),
    ):
        with client.websocket_connect(address.format(conversation_id="c0ffee")) as ws:
            ws.send_json({"type": "wave"})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == code
    assert document["channels"]["widget"]["parameters"] == {
        "conversation_id": {"description": "The id createConversation returned."}
    }


def test_what_each_socket_accepts_and_sends_is_documented(served):
    _, document = served
    for channel, inbound, outbound in (
        ("Widget", frames.WIDGET_INBOUND, frames.WidgetServerFrame),
        ("Inbox", frames.AGENT_INBOUND, frames.AgentServerFrame),
    ):
        accepted = messages(document, f"receive{channel}Frames")
        sent = messages(document, f"send{channel}Frames")
        assert {m.__name__ for m in inbound.values()} <= accepted
        assert {m.__name__ for m in union(outbound)} == sent
    assert messages(document, "receiveWidgetFrames") == {
        "Hello",
        "CustomerMessage",
        "CustomerTyping",
        "Ping",
    }


def test_payload_schemas_carry_the_frame_type_and_its_fields(served):
    _, document = served
    schemas = document["components"]["schemas"]
    assert schemas["Hello"]["properties"]["type"]["const"] == "hello"
    assert set(schemas["Hello"]["required"]) == {"type"}
    assert set(schemas["CustomerMessage"]["required"]) == {"text"}
    event = schemas["ConversationFrame"]["properties"]["event"]
    assert event["discriminator"] == "type"  # AsyncAPI's form: the property name
    assert {o["$ref"].rsplit("/", 1)[1] for o in event["oneOf"]} == {
        m.__name__ for m in union(frames.ConversationEvent)
    }
    assert schemas["ErrorFrame"]["additionalProperties"] is False


def published_types() -> dict[str, str]:
    """Every ``{"type": "..."}`` literal the package publishes on a channel: the arguments
    of ``publish`` and ``conversation_event`` calls, and the events ``fanout`` builds."""
    found: dict[str, str] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            candidates: list[ast.AST] = []
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in ("publish", "conversation_event"):
                    candidates = list(node.args)
            elif isinstance(node, ast.Dict) and path.name == "fanout.py":
                candidates = [node]
            for candidate in candidates:
                if not isinstance(candidate, ast.Dict):
                    continue
                for key, value in zip(candidate.keys, candidate.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "type"
                        and isinstance(value, ast.Constant)
                    ):
                        found[value.value] = f"{path.relative_to(PACKAGE)}:{candidate.lineno}"
    return found


def test_every_event_the_package_publishes_is_a_documented_frame():
    published = published_types()
    assert {"message", "status", "typing", "queue", "csat", "delta", "inbox"} <= set(published)
    documented = {kind(m) for m in union(frames.WidgetServerFrame)} | {"inbox"}
    undocumented = {t: where for t, where in published.items() if t not in documented}
    assert not undocumented, f"publish a documented frame model (frames.py): {undocumented}"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"type": "ping", "extra": 1}, frames.Ping),
        ({"type": "typing", "on": "yes"}, frames.CustomerTyping),
        ({"type": "message", "text": "hi", "client_id": "c"}, frames.CustomerMessage),
    ],
)
def test_inbound_frames_pick_their_model_by_type(frame, expected):
    assert type(frames.inbound(frame, frames.WIDGET_INBOUND)) is expected


def test_an_unknown_inbound_type_is_refused_by_name():
    with pytest.raises(frames.UnknownFrame, match="unknown frame type 'dance'"):
        frames.inbound({"type": "dance"}, frames.WIDGET_INBOUND)


def test_outbound_frames_dump_the_keys_given_in_model_order():
    assert frames.ErrorFrame(code="x", message="m").dump() == {
        "type": "error",
        "code": "x",
        "message": "m",
    }
    error = frames.ErrorFrame(client_id=None, code="x", message="m").dump()
    assert list(error) == ["type", "client_id", "code", "message"]


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "dance"}',
        '{"type": "pong", "extra": 1}',
        '{"type": "typing", "author": "customer"}',
        '{"type": "status", "status": "sleeping"}',
    ],
)
def test_the_socket_tests_frame_check_refuses_what_is_not_documented(frame):
    """What ``checked_frames`` relies on: an undocumented frame does not validate."""
    with pytest.raises(ValidationError):
        TypeAdapter(frames.WidgetServerFrame).validate_json(frame)
