"""A local stand-in for Zendesk, Freshdesk, Slack and Teams: real HTTP on a free port.

It answers the request formats of the published APIs (Zendesk Support API users/tickets,
Freshdesk v2 contacts/tickets/search, Slack chat.postMessage and incoming webhooks, Teams
incoming webhooks), validates what the connectors send the way those services do (auth,
required fields, value ranges), records every request, and can misbehave on purpose:

    fake.fail(500, times=None)              every matching request fails until ``recover()``
    fake.fail(429, times=3, retry_after=7)  rate limited three times
    fake.lose_responses(times=1)            do the work, then answer 500 (a lost response)

This is as close to the real services as a test can get here; it cannot prove that the
real services still behave as their documentation says.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
import yaml
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from smartsupport.helpdesk.webhooks import router as webhook_router
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.wiring import assemble

ZENDESK_EMAIL = "bot@acme.example"
ZENDESK_TOKEN = "zd-token-123"
FRESHDESK_KEY = "fd-key-456"
SLACK_TOKEN = "xoxb-test-789"
SLACK_CHANNELS = {"C0SUPPORT", "#support"}
SLACK_HOOK_PATH = "/services/T000/B000/secretsecret"
TEAMS_HOOK_PATH = "/webhookb2/abc@def/IncomingWebhook/0123456789/secret-guid"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Failure:
    status: int
    times: int | None
    retry_after: float | None
    path_prefix: str


@dataclass
class FakeApis:
    requests: list[Recorded] = field(default_factory=list)
    zendesk_users: dict[int, dict[str, Any]] = field(default_factory=dict)
    zendesk_tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    freshdesk_contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    freshdesk_tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    slack_messages: list[dict[str, Any]] = field(default_factory=list)
    teams_cards: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _lose: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1001))

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # -- control -------------------------------------------------------------------
    def fail(
        self,
        status: int,
        *,
        times: int | None = None,
        retry_after: float | None = None,
        path_prefix: str = "/",
    ) -> None:
        self._failures.append(_Failure(status, times, retry_after, path_prefix))

    def recover(self) -> None:
        self._failures.clear()
        self._lose = 0

    def lose_responses(self, times: int = 1) -> None:
        self._lose = times

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    async def __aenter__(self) -> FakeApis:
        app = Starlette(
            routes=[Route("/{path:path}", self._dispatch, methods=["GET", "POST", "PUT"])]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="none",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(200):
            if self._server.started:
                break
            await asyncio.sleep(0.01)
        assert self._server.started, "the fake API server did not start"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task

    # -- dispatch ------------------------------------------------------------------
    async def _dispatch(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = request.url.path
        self.requests.append(
            Recorded(request.method, path, request.url.query, dict(request.headers), body)
        )
        for failure in self._failures:
            if path.startswith(failure.path_prefix) and failure.times != 0:
                if failure.times is not None:
                    failure.times -= 1
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(int(failure.retry_after))
                return JSONResponse({"error": "simulated"}, failure.status, headers=headers)
        handler = ROUTES.get((request.method, path))
        if handler is None:
            if request.method == "POST" and path == SLACK_HOOK_PATH:
                handler = FakeApis._slack_webhook
            elif request.method == "POST" and path == TEAMS_HOOK_PATH:
                handler = FakeApis._teams_webhook
            elif request.method == "PUT" and re.fullmatch(r"/api/v2/tickets/\d+\.json", path):
                handler = FakeApis._zendesk_ticket_update
            elif request.method == "POST" and re.fullmatch(r"/api/v2/tickets/\d+/notes", path):
                handler = FakeApis._freshdesk_note
            else:
                return JSONResponse({"error": "InvalidEndpoint"}, 404)
        response = handler(self, request, body)
        if self._lose and request.method == "POST" and response.status_code < 300:
            self._lose -= 1
            return JSONResponse({"error": "simulated lost response"}, 502)
        return response

    # -- Zendesk ---------------------------------------------------------------------
    def _zendesk_auth(self, request: Request) -> bool:
        expected = base64.b64encode(f"{ZENDESK_EMAIL}/token:{ZENDESK_TOKEN}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def _zendesk_user_search(self, request: Request, body: Any) -> Response:
        if not self._zendesk_auth(request):
            return JSONResponse({"error": "Couldn't authenticate you"}, 401)
        query = request.query_params.get("query", "")
        email = query.removeprefix("email:").strip('"').casefold()
        users = [u for u in self.zendesk_users.values() if u["email"].casefold() == email]
        return JSONResponse({"users": users, "count": len(users), "next_page": None})

    def _zendesk_user_create(self, request: Request, body: Any) -> Response:
        if not self._zendesk_auth(request):
            return JSONResponse({"error": "Couldn't authenticate you"}, 401)
        user = (body or {}).get("user") or {}
        if not user.get("name"):
            return JSONResponse({"error": "RecordInvalid", "details": {"name": ["blank"]}}, 422)
        uid = next(self._ids)
        self.zendesk_users[uid] = {
            "id": uid,
            "name": user["name"],
            "email": user.get("email"),
            "role": user.get("role", "end-user"),
        }
        return JSONResponse({"user": self.zendesk_users[uid]}, 201)

    def _zendesk_ticket_list(self, request: Request, body: Any) -> Response:
        if not self._zendesk_auth(request):
            return JSONResponse({"error": "Couldn't authenticate you"}, 401)
        external_id = request.query_params.get("external_id")
        tickets = [
            t
            for t in self.zendesk_tickets.values()
            if external_id is None or t["external_id"] == external_id
        ]
        return JSONResponse({"tickets": tickets, "count": len(tickets), "next_page": None})

    def _zendesk_ticket_create(self, request: Request, body: Any) -> Response:
        if not self._zendesk_auth(request):
            return JSONResponse({"error": "Couldn't authenticate you"}, 401)
        ticket = (body or {}).get("ticket") or {}
        comment = ticket.get("comment") or {}
        if not comment.get("body"):
            return JSONResponse(
                {
                    "error": "RecordInvalid",
                    "details": {"base": [{"description": "Description: cannot be blank"}]},
                },
                422,
            )
        if ticket.get("priority") not in (None, "low", "normal", "high", "urgent"):
            return JSONResponse({"error": "RecordInvalid"}, 422)
        rid = ticket.get("requester_id")
        if rid is not None and rid not in self.zendesk_users:
            return JSONResponse(
                {"error": "RecordInvalid", "details": {"requester": ["invalid"]}}, 422
            )
        tid = next(self._ids)
        self.zendesk_tickets[tid] = {
            "id": tid,
            "url": f"{self.url}/api/v2/tickets/{tid}.json",
            "subject": ticket.get("subject"),
            "description": comment["body"],
            "comment_public": comment.get("public", True),
            "priority": ticket.get("priority"),
            "status": "new",
            "tags": ticket.get("tags", []),
            "requester_id": rid,
            "external_id": ticket.get("external_id"),
        }
        return JSONResponse({"ticket": self.zendesk_tickets[tid]}, 201)

    def _zendesk_ticket_update(self, request: Request, body: Any) -> Response:
        if not self._zendesk_auth(request):
            return JSONResponse({"error": "Couldn't authenticate you"}, 401)
        tid = int(request.url.path.rsplit("/", 1)[1].removesuffix(".json"))
        if tid not in self.zendesk_tickets:
            return JSONResponse({"error": "RecordNotFound", "description": "Not found"}, 404)
        comment = ((body or {}).get("ticket") or {}).get("comment") or {}
        if not comment.get("body"):
            return JSONResponse({"error": "RecordInvalid"}, 422)
        self.zendesk_tickets[tid].setdefault("comments", []).append(comment)
        return JSONResponse({"ticket": self.zendesk_tickets[tid]})

    # -- Freshdesk -------------------------------------------------------------------
    def _freshdesk_auth(self, request: Request) -> bool:
        expected = base64.b64encode(f"{FRESHDESK_KEY}:X".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def _fd_unauthorized(self) -> Response:
        return JSONResponse(
            {
                "code": "invalid_credentials",
                "message": "You have to be logged in to perform this action.",
            },
            401,
        )

    def _freshdesk_contacts(self, request: Request, body: Any) -> Response:
        if not self._freshdesk_auth(request):
            return self._fd_unauthorized()
        email = (request.query_params.get("email") or "").casefold()
        return JSONResponse(
            [
                c
                for c in self.freshdesk_contacts.values()
                if not email or c["email"].casefold() == email
            ]
        )

    def _freshdesk_contact_create(self, request: Request, body: Any) -> Response:
        if not self._freshdesk_auth(request):
            return self._fd_unauthorized()
        if not (body or {}).get("name") or not body.get("email"):
            return JSONResponse(
                {
                    "description": "Validation failed",
                    "errors": [
                        {
                            "field": "name",
                            "message": "It should be a/an String",
                            "code": "missing_field",
                        }
                    ],
                },
                400,
            )
        cid = next(self._ids)
        self.freshdesk_contacts[cid] = {"id": cid, "name": body["name"], "email": body["email"]}
        return JSONResponse(self.freshdesk_contacts[cid], 201)

    def _freshdesk_ticket_create(self, request: Request, body: Any) -> Response:
        if not self._freshdesk_auth(request):
            return self._fd_unauthorized()
        body = body or {}
        errors = []
        for name in ("subject", "description"):
            if not body.get(name):
                errors.append(
                    {"field": name, "message": "It should be a/an String", "code": "missing_field"}
                )
        if not (body.get("email") or body.get("requester_id")):
            errors.append(
                {
                    "field": "requester_id",
                    "message": "Please fill at least 1 of requester_id, email",
                    "code": "missing_field",
                }
            )
        if body.get("priority") not in (1, 2, 3, 4) or body.get("status") not in (2, 3, 4, 5):
            errors.append(
                {
                    "field": "priority",
                    "message": "It should be one of these values: '1,2,3,4'",
                    "code": "invalid_value",
                }
            )
        if any(len(t) > 32 for t in body.get("tags", [])):
            errors.append({"field": "tags", "message": "too long", "code": "invalid_value"})
        if errors:
            return JSONResponse({"description": "Validation failed", "errors": errors}, 400)
        tid = next(self._ids)
        self.freshdesk_tickets[tid] = {"id": tid, **body}
        return JSONResponse(self.freshdesk_tickets[tid], 201)

    def _freshdesk_search(self, request: Request, body: Any) -> Response:
        if not self._freshdesk_auth(request):
            return self._fd_unauthorized()
        query = request.query_params.get("query", "")
        if not (query.startswith('"') and query.endswith('"') and query[1:-1].startswith("tag:'")):
            return JSONResponse(
                {
                    "description": "Validation failed",
                    "errors": [
                        {
                            "field": "query",
                            "message": "Query must be enclosed in double quotes",
                            "code": "invalid_value",
                        }
                    ],
                },
                400,
            )
        tag = query[1:-1].removeprefix("tag:'").removesuffix("'")
        results = [t for t in self.freshdesk_tickets.values() if tag in t.get("tags", [])]
        return JSONResponse({"results": results, "total": len(results)})

    def _freshdesk_note(self, request: Request, body: Any) -> Response:
        if not self._freshdesk_auth(request):
            return self._fd_unauthorized()
        tid = int(request.url.path.split("/")[4])
        if tid not in self.freshdesk_tickets:
            return JSONResponse({"code": "access_denied"}, 404)
        if not (body or {}).get("body"):
            return JSONResponse({"description": "Validation failed", "errors": []}, 400)
        note = {"id": next(self._ids), "body": body["body"], "private": body.get("private", True)}
        self.freshdesk_tickets[tid].setdefault("notes", []).append(note)
        return JSONResponse(note, 201)

    # -- Slack and Teams -------------------------------------------------------------
    def _slack_post(self, request: Request, body: Any) -> Response:
        if request.headers.get("authorization") != f"Bearer {SLACK_TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        body = body or {}
        if body.get("channel") not in SLACK_CHANNELS:
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return JSONResponse({"ok": False, "error": "no_text"})
        self.slack_messages.append(body)
        ts = f"1700000000.{len(self.slack_messages):06d}"
        return JSONResponse(
            {
                "ok": True,
                "channel": "C0SUPPORT",
                "ts": ts,
                "message": {"text": body.get("text"), "ts": ts},
            }
        )

    def _slack_webhook(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return PlainTextResponse("invalid_payload", 400)
        self.slack_messages.append(body)
        return PlainTextResponse("ok")

    def _teams_webhook(self, request: Request, body: Any) -> Response:
        attachments = (body or {}).get("attachments") if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or body.get("type") != "message"
            or not attachments
            or any(
                a.get("contentType") != "application/vnd.microsoft.card.adaptive"
                or (a.get("content") or {}).get("type") != "AdaptiveCard"
                for a in attachments
            )
        ):
            return PlainTextResponse("Bad payload received by generic incoming webhook.", 400)
        self.teams_cards.append(body)
        return PlainTextResponse("1")


ROUTES = {
    ("GET", "/api/v2/users/search.json"): FakeApis._zendesk_user_search,
    ("POST", "/api/v2/users.json"): FakeApis._zendesk_user_create,
    ("GET", "/api/v2/tickets.json"): FakeApis._zendesk_ticket_list,
    ("POST", "/api/v2/tickets.json"): FakeApis._zendesk_ticket_create,
    ("GET", "/api/v2/contacts"): FakeApis._freshdesk_contacts,
    ("POST", "/api/v2/contacts"): FakeApis._freshdesk_contact_create,
    ("POST", "/api/v2/tickets"): FakeApis._freshdesk_ticket_create,
    ("GET", "/api/v2/search/tickets"): FakeApis._freshdesk_search,
    ("POST", "/api/chat.postMessage"): FakeApis._slack_post,
}


def workspace_dir(root: Any, escalation: dict[str, Any], workspace_id: str = "acme") -> Any:
    """A workspace directory with ``escalation.yaml``; returns the parent directory."""
    directory = root / "workspaces" / workspace_id
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "workspace.yaml").write_text(
        yaml.safe_dump({"id": workspace_id, "name": "Acme Shoes"}), encoding="utf-8"
    )
    (directory / "escalation.yaml").write_text(yaml.safe_dump(escalation), encoding="utf-8")
    return root / "workspaces"


def zendesk_config(fake: FakeApis, **extra: Any) -> dict[str, Any]:
    return {"provider": "zendesk", "url": fake.url, "email": ZENDESK_EMAIL, **extra}


def freshdesk_config(fake: FakeApis, **extra: Any) -> dict[str, Any]:
    return {"provider": "freshdesk", "url": fake.url, **extra}


async def open_test_services(
    tmp_path: Any, database_url: str, escalation: dict[str, Any], **settings: Any
) -> Services:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "demo": False,
        "workspaces_dir": workspace_dir(tmp_path, escalation),
        "secret_key": "test-secret",
        "public_url": "https://support.acme.example",
        "helpdesk_api_token": ZENDESK_TOKEN,
        "helpdesk_webhook_secret": "whsec-test",
    }
    values.update(settings)
    return await assemble(Settings(**values))


def webhook_client(services: Services) -> httpx.AsyncClient:
    """A client for our helpdesk webhook endpoints, served in process (no port needed)."""
    app = FastAPI()
    app.state.services = services
    app.include_router(webhook_router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
