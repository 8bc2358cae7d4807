"""Logs carry no secrets or personal data (issue 14, items 2 and 8).

Probe: at ``SMARTSUPPORT_LOG_LEVEL=debug`` the inbox WebSocket handshake logged the staff
``__Host-ss_access`` and refresh cookies, enough to take over a staff session. Here a real
server (``smartsupport serve``: uvicorn and its WebSocket library, as deployed) runs at
debug level through a visitor chat with an email, a phone and a card number, a staff
sign-in and the inbox and widget sockets; then its whole log is scanned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

import httpx
import websockets

from smartsupport.log_redaction import RedactingFilter, redact
from tests.servers import LiveServer
from tests.staffkit import PASSWORD, add_user

EMAIL, PHONE, CARD = "maria.lopez@example.org", "+44 20 7946 0958", "4111 1111 1111 1111"


def test_redact_covers_every_kind_of_secret():
    line = (
        "< Cookie: __Host-ss_access=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abc; "
        "__Secure-ss_refresh=r3fr3sh-t0ken-value"
    )
    assert "eyJ" not in redact(line) and "r3fr3sh" not in redact(line)
    assert "Sm9obg" not in redact("authorization: Bearer Sm9obgxyz.abc")
    assert "hunter2" not in redact('{"email": "x", "password": "hunter2"}')
    assert "s3cr3t" not in redact("GET /x?token=s3cr3t&after=1")
    visitor = "v2.0123456789abcdef0123456789abcdef.1796290192.Q1JTeDQ0a2V5LXNpZ25hdHVyZS0x"
    assert visitor not in redact(f"hello {visitor}")
    said = redact(f"mail {EMAIL} call {PHONE} pay {CARD}")
    assert EMAIL not in said and "7946" not in said and "1111 1111" not in said
    assert redact("turn took 12 ms for ORD-10234") == "turn took 12 ms for ORD-10234"


def test_the_filter_redacts_arguments_and_exceptions():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "user %s", (EMAIL,), None)
    try:
        raise ValueError(f"duplicate key {EMAIL}")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    RedactingFilter().filter(record)
    assert EMAIL not in record.getMessage() and EMAIL not in (record.exc_text or "")


def test_a_debug_level_server_log_holds_no_secret_or_personal_data():
    env = {
        "SMARTSUPPORT_LOG_LEVEL": "debug",
        "SMARTSUPPORT_CONVERSATION_RATE_LIMIT_PER_MINUTE": "1000",
    }
    with LiveServer(env) as server:
        add_user(server, "ana@example.com", "agent", "Ana Agent")
        secrets = asyncio.run(_scenario(server.url))
        server.stop()
        log = server.log_path.read_text(errors="replace")
    assert "< GET /api/v1/inbox/ws" in log or "GET /api/v1/inbox/ws" in log, log[-2000:]
    assert re.search(r"(?i)cookie", log), "the handshake headers were not logged at debug"
    leaked = [name for name, value in secrets.items() if value in log]
    assert not leaked, f"found in the debug log: {leaked}"


async def _scenario(base: str) -> dict[str, str]:
    """Chat, sign in, open both sockets; every secret and personal value it used."""
    host = base.removeprefix("http://")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        started = await http.post(
            "/api/v1/conversations",
            json={"workspace": "demo", "customer": {"name": "Maria", "email": EMAIL}},
        )
        conversation = started.json()
        token = conversation["token"]
        auth = {"Authorization": f"Bearer {token}"}
        text = f"My email is {EMAIL}, phone {PHONE}, card {CARD}; where is my order?"
        posted = await http.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"text": text},
            headers=auth,
        )
        assert posted.status_code == 201, posted.text
        page = await http.get("/inbox/login")
        csrf = page.cookies.get("__Host-ss_csrf") or _cookie(page, "__Host-ss_csrf")
        signed_in = await http.post(
            "/inbox/login",
            json={"email": "ana@example.com", "password": PASSWORD},
            headers={"X-CSRF-Token": csrf, "Cookie": f"__Host-ss_csrf={csrf}"},
        )
        assert signed_in.status_code == 200, signed_in.text
        access = _cookie(signed_in, "__Host-ss_access")
        refresh = _cookie(signed_in, "__Secure-ss_refresh")
    cookie = f"__Host-ss_access={access}; __Secure-ss_refresh={refresh}; __Host-ss_csrf={csrf}"
    async with websockets.connect(
        f"ws://{host}/api/v1/inbox/ws",
        additional_headers={"Cookie": cookie, "Origin": base},
    ) as inbox:
        assert json.loads(await inbox.recv())["type"] == "ready"
    async with websockets.connect(
        f"ws://{host}/api/v1/conversations/{conversation['id']}/ws"
    ) as widget:
        await widget.send(json.dumps({"type": "hello", "token": token, "after": 0}))
        assert json.loads(await widget.recv())["type"] == "ready"
        await widget.send(json.dumps({"type": "message", "text": f"card {CARD}"}))
        await widget.recv()
    return {
        "access cookie": access,
        "refresh cookie": refresh,
        "visitor token": token,
        "visitor token signature": token.rsplit(".", 1)[-1],
        "email": EMAIL,
        "phone": PHONE,
        "card": CARD,
        "card digits": CARD.replace(" ", ""),
        "staff password": PASSWORD,
    }


def _cookie(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")
