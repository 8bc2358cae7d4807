"""A local stand-in for Meta's WhatsApp Cloud API, Twilio's Messages API and a business's
webhook endpoint (the API channel): real HTTP on a free port.

It checks what we send the way the documentation says those services do (Meta's message
reference: text 4096, interactive body 1024, at most 3 reply buttons titled at most 20
characters, at most 10 list rows titled at most 24, template parameters without newlines;
Twilio's Messages resource: Basic auth, To, From or MessagingServiceSid, Body of at most
1600 characters or a ContentSid, whatsapp: on both ends of a WhatsApp message; the API
channel's signature, recomputed here from the published recipe, not with our code). A
shape it refuses is answered as the service answers it and listed in ``problems``.

The webhooks those services send us are built by the helpers below from the published
payload examples and signed with their published algorithms (written out here again, so a
mistake in our verification code cannot hide behind the same mistake in the test).

    fake.fail(500, times=3, path_prefix="/v21.0")     outages and rate limits
    fake.fail(400, body={"error": {...}})             a provider's own error body
    fake.unsubscribed.add("+15551234567")             Twilio answers 21610 for it
    fake.whatsapp_media(data, "image/jpeg") -> id     a customer's file on Meta's media
                                                      store (GET /{media-id}, then its URL)
    fake.twilio_media(data, "image/png") -> url       a MediaUrl: Basic auth, a redirect to
                                                      the CDN, streamed without a length
    fake.content({"twilio/quick-reply": ...}) -> sid  a Content template of the account (the
                                                      ``types`` of POST /v1/Content); a message
                                                      naming it is rendered with its
                                                      ContentVariables and checked as Twilio
                                                      documents it for a WhatsApp session

Nothing here can prove that the real services still behave as documented: their SaaS cannot
be reached from this project's test machines (docs/channels.md says so).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from smartsupport.workspaces import DEMO_DIR

PHONE_NUMBER_ID = "106540352242922"
WA_TOKEN = "EAAGtesttoken"
APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "verify-token-for-tests"
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token-for-tests"
SMS_FROM = "+15005550006"
WA_FROM = "whatsapp:+14155238886"
TEMPLATE_SID = "HX" + "2" * 32
API_SECRET = "api-channel-secret-" + "x" * 24
HOOK_PATH = "/hooks/support"
GRAPH_PREFIX = "/v21.0"
ENV = {
    "TEST_WA_TOKEN": WA_TOKEN,
    "TEST_WA_APP_SECRET": APP_SECRET,
    "TEST_WA_VERIFY": VERIFY_TOKEN,
    "TEST_TWILIO_TOKEN": TWILIO_TOKEN,
    "TEST_API_SECRET": API_SECRET,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class _Failure:
    status: int
    times: int | None
    path_prefix: str
    body: Any
    retry_after: int | None


@dataclass
class FakeMessaging:
    whatsapp_sent: list[dict[str, Any]] = field(default_factory=list)
    twilio_sent: list[dict[str, Any]] = field(default_factory=list)
    hook_deliveries: list[dict[str, Any]] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    media_requests: list[str] = field(default_factory=list)
    contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # -- control -----------------------------------------------------------------------
    def fail(
        self,
        status: int,
        *,
        times: int | None = None,
        path_prefix: str = "/",
        body: Any = None,
        retry_after: int | None = None,
    ) -> None:
        self._failures.append(_Failure(status, times, path_prefix, body, retry_after))

    def content(self, types: dict[str, Any], sid: str | None = None) -> str:
        """A Content template created in the account (twilio.com/docs/content); its sid."""
        sid = sid or f"HX{next(self._ids):032x}"
        self.contents[sid] = types
        return sid

    def whatsapp_media(self, data: bytes, mime_type: str) -> str:
        """A file a WhatsApp customer sent, as Meta keeps it; returns its media id."""
        media_id = str(1_000_000_000_000_000 + next(self._ids))
        self.media[media_id] = (data, mime_type)
        return media_id

    def twilio_media(self, data: bytes, content_type: str) -> str:
        """A file on a Twilio message; returns its MediaUrl."""
        media_sid = f"ME{next(self._ids):032x}"
        self.media[media_sid] = (data, content_type)
        message_sid = f"MM{next(self._ids):032x}"
        messages = f"{self.url}/2010-04-01/Accounts/{TWILIO_SID}/Messages"
        return f"{messages}/{message_sid}/Media/{media_sid}"

    def recover(self) -> None:
        self._failures.clear()

    def texts_to(self, wa_id: str) -> list[dict[str, Any]]:
        return [m for m in self.whatsapp_sent if m["to"] == wa_id]

    def sms_to(self, number: str) -> list[dict[str, Any]]:
        return [m for m in self.twilio_sent if m["To"] == number]

    async def __aenter__(self) -> FakeMessaging:
        app = Starlette(
            routes=[
                Route("/{path:path}", self._dispatch, methods=["POST"]),
                Route("/{path:path}", self._download, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
            ws="none", access_log=False,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(300):
            if self._server.started:
                break
            await asyncio.sleep(0.01)
        assert self._server.started, "the fake messaging server did not start"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task

    # -- dispatch ----------------------------------------------------------------------
    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        raw = await request.body()
        for failure in self._failures:
            if path.startswith(failure.path_prefix) and failure.times != 0:
                if failure.times is not None:
                    failure.times -= 1
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
                return JSONResponse(failure.body or {"error": "simulated"}, failure.status, headers)
        if path == f"{GRAPH_PREFIX}/{PHONE_NUMBER_ID}/messages":
            return self._graph_send(request, raw)
        if path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
            return self._twilio_send(request, raw)
        if path == HOOK_PATH:
            return self._hook(request, raw)
        return JSONResponse({"error": "no such endpoint"}, 404)

    # -- media downloads ---------------------------------------------------------------
    def _failure(self, path: str) -> Response | None:
        for failure in self._failures:
            if path.startswith(failure.path_prefix) and failure.times != 0:
                if failure.times is not None:
                    failure.times -= 1
                return JSONResponse(failure.body or {"error": "simulated"}, failure.status)
        return None

    async def _download(self, request: Request) -> Response:
        path = request.url.path
        self.media_requests.append(path)
        failed = self._failure(path)
        if failed is not None:
            return failed
        authorization = request.headers.get("authorization")
        if path.startswith(f"{GRAPH_PREFIX}/"):  # Retrieve Media URL
            if authorization != f"Bearer {WA_TOKEN}":
                return self._graph_error("Invalid OAuth access token", code=190, status=401)
            media_id = path.removeprefix(f"{GRAPH_PREFIX}/")
            if media_id not in self.media:
                return self._graph_error("Unsupported get request", code=100)
            if request.query_params.get("phone_number_id") not in (None, PHONE_NUMBER_ID):
                return self._graph_error("media of another phone number", code=100)
            data, mime_type = self.media[media_id]
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "url": f"{self.url}/whatsapp_business/attachments/?mid={media_id}"
                    f"&ext={int(time.time())}&hash=ATsignedhash",
                    "mime_type": mime_type,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "file_size": str(len(data)),
                    "id": media_id,
                }
            )
        if path == "/whatsapp_business/attachments/":  # Download Media: the bearer again
            if authorization != f"Bearer {WA_TOKEN}":
                self.problems.append("media downloaded without the access token")
                return JSONResponse({"error": "unauthorized"}, 401)
            data, mime_type = self.media[request.query_params["mid"]]
            return Response(data, media_type=mime_type)
        prefix = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/"
        if path.startswith(prefix) and "/Media/" in path:  # a MediaUrl: Basic, then the CDN
            expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
            if authorization != f"Basic {expected}":
                return self._twilio_error(20003, "Authenticate", 401)
            media_sid = path.rsplit("/", 1)[1]
            if media_sid not in self.media:
                return self._twilio_error(20404, "The requested resource was not found", 404)
            return RedirectResponse(f"{self.url}/twilio-cdn/{media_sid}", 307)
        if path.startswith("/twilio-cdn/"):
            data, content_type = self.media[path.rsplit("/", 1)[1]]

            async def chunks() -> Any:  # no Content-Length: the limit must hold while reading
                for start in range(0, len(data), 1024):
                    yield data[start : start + 1024]

            return StreamingResponse(chunks(), media_type=content_type)
        return JSONResponse({"error": "no such endpoint"}, 404)

    # -- WhatsApp Cloud API: POST /{phone-number-id}/messages --------------------------
    def _graph_error(self, problem: str, code: int = 100, status: int = 400) -> Response:
        self.problems.append(problem)
        return JSONResponse(
            {
                "error": {
                    "message": f"(#{code}) Invalid parameter",
                    "type": "OAuthException",
                    "code": code,
                    "error_data": {"messaging_product": "whatsapp", "details": problem},
                    "fbtrace_id": "AbCdEf123",
                }
            },
            status,
        )

    def _graph_send(self, request: Request, raw: bytes) -> Response:
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            return self._graph_error("Invalid OAuth access token", code=190, status=401)
        try:
            body = json.loads(raw)
        except ValueError:
            return self._graph_error("the body is not JSON")
        problem = whatsapp_problem(body)
        if problem:
            return self._graph_error(problem)
        self.whatsapp_sent.append(body)
        wamid = f"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI{next(self._ids):08d}"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            }
        )

    # -- Twilio: POST /2010-04-01/Accounts/{sid}/Messages.json -------------------------
    def _twilio_error(self, code: int, message: str, status: int = 400) -> Response:
        if code != 21610:
            self.problems.append(message)
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return JSONResponse(body, status)

    def _twilio_send(self, request: Request, raw: bytes) -> Response:
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return self._twilio_error(20003, "Authenticate", 401)
        pairs = parse_qsl(raw.decode(), keep_blank_values=True)
        form: dict[str, Any] = {}
        for name, value in pairs:
            form[name] = (
                [*form[name], value]
                if name == "MediaUrl" and name in form
                else ([value] if name == "MediaUrl" else value)
            )
        if not form.get("To"):
            return self._twilio_error(21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self._twilio_error(21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.get("ContentSid") or form.get("MediaUrl")):
            return self._twilio_error(21602, "Message body is required.")
        if len(form.get("Body", "")) > 1600:
            return self._twilio_error(21617, "The concatenated message body exceeds 1600.")
        whatsapp = str(form.get("From", "")).startswith("whatsapp:")
        if whatsapp != form["To"].startswith("whatsapp:"):
            return self._twilio_error(21910, "Invalid From and To pair: both whatsapp:")
        if form.get("ContentSid") and "ContentVariables" in form:
            try:
                json.loads(form["ContentVariables"])
            except ValueError:
                return self._twilio_error(21656, "ContentVariables is not valid JSON")
        if form.get("ContentSid") in self.contents:
            rendered = self._render_content(form)
            if isinstance(rendered, str):
                return self._twilio_error(21656, rendered)
            form["Content"] = rendered
        if form["To"].removeprefix("whatsapp:") in self.unsubscribed:
            return self._twilio_error(21610, "Attempt to send to unsubscribed recipient")
        self.twilio_sent.append(form)
        sid = f"SM{next(self._ids):032x}"
        return JSONResponse(
            {
                "sid": sid,
                "account_sid": TWILIO_SID,
                "to": form["To"],
                "from": form.get("From"),
                "body": form.get("Body", ""),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json",
            },
            201,
        )

    def _render_content(self, form: dict[str, Any]) -> dict[str, Any] | str:
        """A twilio/quick-reply template filled with ContentVariables as Twilio documents it
        (twilio.com/docs/content/twilio-quick-reply): body at most 1,024 characters; in a
        WhatsApp session at most 3 buttons (WhatsApp: titles of at most 20, unique). A
        problem is returned as its message."""
        variables = json.loads(form.get("ContentVariables") or "{}")
        missing: list[str] = []

        def fill(text: str) -> str:
            def value(found: re.Match[str]) -> str:
                if found.group(1) not in variables:
                    missing.append(found.group(1))
                return str(variables.get(found.group(1), ""))

            return re.sub(r"\{\{\s*(\w+)\s*\}\}", value, text)

        quick = self.contents[form["ContentSid"]].get("twilio/quick-reply")
        if quick is None:
            return "the fake renders twilio/quick-reply templates only"
        body = fill(quick["body"])
        buttons = [{"title": fill(a["title"]), "id": fill(a.get("id", a["title"]))}
                   for a in quick["actions"]]  # fmt: skip
        titles = [b["title"] for b in buttons]
        if missing:
            return f"ContentVariables has no value for {sorted(set(missing))}"
        if not body or len(body) > 1024:
            return "a quick-reply body is 1 to 1,024 characters"
        if not 1 <= len(buttons) <= 3:
            return "a quick-reply in a WhatsApp session has 1 to 3 buttons"
        if any(not t or len(t) > 20 for t in titles) or len(set(titles)) != len(titles):
            return f"WhatsApp button titles are unique, 1 to 20 characters: {titles}"
        return {"body": body, "buttons": buttons}

    # -- a business's endpoint for the API channel --------------------------------------
    def _hook(self, request: Request, raw: bytes) -> Response:
        header = request.headers.get("smartsupport-signature", "")
        fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        expected = hmac.new(
            API_SECRET.encode(), f"{fields.get('t', '')}.".encode() + raw, hashlib.sha256
        ).hexdigest()
        fresh = fields.get("t", "").isdigit() and abs(time.time() - int(fields["t"])) <= 300
        if not fresh or not hmac.compare_digest(expected, fields.get("v1", "")):
            self.problems.append(f"bad API channel signature: {header!r}")
            return JSONResponse({"error": "bad signature"}, 401)
        delivery = request.headers.get("smartsupport-delivery")
        body = json.loads(raw)
        if body.get("delivery_id") != delivery:
            self.problems.append("the delivery id header and body differ")
        self.hook_deliveries.append(body)
        return JSONResponse({"ok": True})


def whatsapp_problem(body: dict[str, Any]) -> str | None:
    """What Meta would refuse in a message body (its message reference), or None."""
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if not str(body.get("to", "")).isdigit():
        return "to must be a WhatsApp id (digits)"
    kind = body.get("type")
    value = body.get(kind) if isinstance(kind, str) else None
    if not isinstance(value, dict):
        return f"a {kind!r} message needs its {kind!r} object"
    if kind == "text":
        text = value.get("body")
        return None if isinstance(text, str) and 0 < len(text) <= 4096 else "text.body 1-4096"
    if kind == "interactive":
        return interactive_problem(value)
    if kind == "template":
        if not value.get("name") or not value.get("language", {}).get("code"):
            return "a template needs name and language.code"
        for component in value.get("components", []):
            for parameter in component.get("parameters", []):
                text = parameter.get("text", "")
                if "\n" in text or "\t" in text or "     " in text:
                    return "template parameters cannot have newlines, tabs or 5 spaces"
        return None
    if kind in ("image", "audio", "video", "document", "sticker"):
        return None if value.get("link") or value.get("id") else "media needs link or id"
    return f"unknown message type {kind!r}"


def interactive_problem(value: dict[str, Any]) -> str | None:
    text = value.get("body", {}).get("text", "")
    if not 0 < len(text) <= 1024:
        return "interactive body.text 1-1024"
    action = value.get("action", {})
    if value.get("type") == "button":
        buttons = action.get("buttons", [])
        if not 1 <= len(buttons) <= 3:
            return "reply buttons: 1 to 3"
        titles = [b["reply"]["title"] for b in buttons]
        if any(not 0 < len(t) <= 20 for t in titles) or len(set(titles)) != len(titles):
            return "button titles: 1-20 characters, unique"
        if any(len(b["reply"]["id"]) > 256 for b in buttons):
            return "button ids: at most 256 characters"
        return None
    if value.get("type") == "list":
        if not 0 < len(action.get("button", "")) <= 20:
            return "list button label 1-20"
        rows = [r for s in action.get("sections", []) for r in s.get("rows", [])]
        if not 1 <= len(rows) <= 10:
            return "list rows: 1 to 10"
        for row in rows:
            if not 0 < len(row["title"]) <= 24 or len(row["id"]) > 200:
                return "row title 1-24, id at most 200"
            if len(row.get("description", "")) > 72:
                return "row description at most 72"
        return None
    return "interactive type must be button or list"


# -- webhooks as Meta and Twilio send them --------------------------------------------------
def meta_signature(body: bytes, secret: str = APP_SECRET) -> str:
    """X-Hub-Signature-256 as Meta computes it: HMAC-SHA256 of the raw body, hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_webhook(
    messages: list[dict[str, Any]] = (),  # type: ignore[assignment]
    statuses: list[dict[str, Any]] = (),  # type: ignore[assignment]
    *,
    name: str = "Maria Lopez",
    wa_id: str = "16505551234",
) -> bytes:
    """A webhook body of the shape in Meta's "messages" webhook reference."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(body).encode()


_wamids = itertools.count(1)


def wa_message(
    kind: str, content: dict[str, Any], *, wa_id: str = "16505551234", **extra: Any
) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": f"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz{next(_wamids):08d}",
        "timestamp": str(int(time.time())),
        "type": kind,
        kind: content,
        **extra,
    }


def wa_text(text: str, **kwargs: Any) -> dict[str, Any]:
    return wa_message("text", {"body": text}, **kwargs)


def wa_status(
    wamid: str, status: str, *, wa_id: str = "16505551234", **extra: Any
) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": wa_id,
        **extra,
    }


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    """X-Twilio-Signature as Twilio documents it: the URL, then each POST parameter sorted by
    name as name+value, HMAC-SHA1 under the Auth Token, base64."""
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


_sids = itertools.count(1)


def twilio_inbound(
    body: str, *, sender: str = "+15551234567", whatsapp: bool = False, **extra: str
) -> dict[str, str]:
    """The form parameters of Twilio's incoming-message webhook."""
    prefix = "whatsapp:" if whatsapp else ""
    params = {
        "ToCountry": "US",
        "SmsMessageSid": (sid := f"SM{next(_sids):032x}"),
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": WA_FROM if whatsapp else SMS_FROM,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": TWILIO_SID,
        "From": prefix + sender,
        "ApiVersion": "2010-04-01",
    }
    if whatsapp:
        params.update(ProfileName="Maria", WaId=sender.lstrip("+"))
    return {**params, **extra}


# -- a demo workspace with every messaging channel -----------------------------------------
def channel_workspace(root: Path, fake: FakeMessaging, **overrides: Any) -> Path:
    """A copy of the demo workspace whose workspace.yaml configures WhatsApp, Twilio and the
    API channel against ``fake``; returns the workspaces directory."""
    directory = root / "workspaces" / "demo"
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(DEMO_DIR, directory)
    config = yaml.safe_load((directory / "workspace.yaml").read_text(encoding="utf-8"))
    config["whatsapp"] = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token_env": "TEST_WA_TOKEN",
        "app_secret_env": "TEST_WA_APP_SECRET",
        "verify_token_env": "TEST_WA_VERIFY",
        "template": {"name": "support_follow_up", "language": "en_US"},
        "api_url": fake.url + GRAPH_PREFIX,
    }
    config["twilio"] = {
        "account_sid": TWILIO_SID,
        "auth_token_env": "TEST_TWILIO_TOKEN",
        "sms_from": SMS_FROM,
        "whatsapp_from": WA_FROM,
        "whatsapp_template_sid": TEMPLATE_SID,
        "api_url": fake.url,
    }
    config["api_channel"] = {"webhook_url": fake.url + HOOK_PATH, "secret_env": "TEST_API_SECRET"}
    for section, values in overrides.items():
        if values is None:
            config.pop(section, None)
        else:
            config[section] = {**config.get(section, {}), **values}
    (directory / "workspace.yaml").write_text(
        yaml.safe_dump(config, allow_unicode=True), encoding="utf-8"
    )
    return root / "workspaces"
