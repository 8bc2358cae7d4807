"""The role x endpoint matrix: every route of the app, for anonymous callers, an agent, a
supervisor and an admin of the demo workspace, and an admin of another workspace.

Every route must be listed here: as public (with the reason), as authorised by a visitor
token (the web channel: a staff session grants nothing there), or as a staff route with
its minimum role. A new endpoint that is not added fails ``test_every_route_is_in_the_matrix``,
so nobody ships a route whose access rule was never decided and tested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIWebSocketRoute
from staffkit import PASSWORD, add_staff, csrf, login, staff_app, staff_client
from starlette.routing import Mount, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from smartsupport.staff.cookies import ACCESS_COOKIE

# (method, path) -> (why it needs no login, the status an anonymous caller gets)
PUBLIC: dict[tuple[str, str], tuple[str, int]] = {
    ("GET", "/"): ("the demo page", 200),
    ("GET", "/healthz"): ("liveness probe, no data", 200),
    ("GET", "/readyz"): ("readiness probe, backend states only", 200),
    # Served only with SMARTSUPPORT_METRICS_TOKEN set, then to that bearer token alone
    # (tests/test_metrics.py): here the token is unset.
    ("GET", "/metrics"): ("Prometheus metrics, off without a token", 404),
    ("GET", "/openapi.json"): ("the API description, no data", 200),
    ("GET", "/asyncapi.json"): ("the WebSocket protocols' description, no data", 200),
    ("GET", "/docs"): ("API docs page, no data", 200),
    ("GET", "/docs/oauth2-redirect"): ("part of the API docs page", 200),
    ("GET", "/redoc"): ("API docs page, no data", 200),
    ("GET", "/widget.js"): ("the widget loader, embedded on customer sites", 200),
    ("GET", "/widget/app.js"): ("the widget, embedded on customer sites", 200),
    ("MOUNT", "/static"): ("static widget assets", 200),
    ("GET", "/inbox/static/{name}"): ("the inbox's CSS and script, no data", 200),
    ("GET", "/inbox/review/static/{name}"): ("the review page's script, no data", 404),
    ("GET", "/inbox/login"): ("the login page", 200),
    ("POST", "/inbox/login"): ("logging in (csrf-checked, rate-limited)", 401),
    ("POST", "/inbox/logout"): ("ends whatever session the cookie names (csrf-checked)", 303),
    # Single sign-on (tests/test_sso_*.py): off here, as no SMARTSUPPORT_SSO_ISSUER is set.
    ("GET", "/inbox/login/sso"): ("starts an SSO sign-in; off without an issuer", 404),
    ("GET", "/inbox/login/sso/callback"): ("the provider's return; off without an issuer", 404),
    # The demo has no helpdesk (404); with one, an unsigned call is refused with 401
    # (tests/test_helpdesk_*.py).
    ("POST", "/api/v1/webhooks/{provider}/{workspace_id}"): (
        "helpdesk webhooks: authenticated by the helpdesk's HMAC signature, not a login",
        404,
    ),
    ("MOUNT", "/demo-shop/api"): ("the demo shop's sample API (demo only, sample data)", 200),
    # Messaging channels and the business's own systems (docs/channels.md): authenticated by
    # the provider's signature or the business's API key, never a staff session; the demo
    # configures no channel (tests/test_channel_*.py and test_proactive.py test the rest).
    ("GET", "/api/v1/channels/whatsapp/{workspace_id}"): ("WhatsApp's verification handshake", 404),
    ("POST", "/api/v1/channels/whatsapp/{workspace_id}"): ("WhatsApp webhooks, signed", 404),
    ("POST", "/api/v1/channels/twilio/{workspace_id}/{kind}"): ("Twilio webhooks, signed", 404),
    ("POST", "/api/v1/channels/api/{workspace_id}/messages"): ("the API channel, API key", 401),
    ("POST", "/api/v1/channels/api/{workspace_id}/messages/{message_id}/feedback"): (
        "the API channel's thumbs, API key",
        401,
    ),
    ("POST", "/api/v1/workspaces/{workspace_id}/proactive"): ("proactive sends, API key", 401),
    ("GET", "/api/v1/workspaces/{workspace_id}/proactive/{entry_id}"): (
        "their state, API key",
        401,
    ),
    ("DELETE", "/api/v1/workspaces/{workspace_id}/proactive/{entry_id}"): (
        "cancelling one, API key",
        401,
    ),
    ("PUT", "/api/v1/workspaces/{workspace_id}/contacts/{channel}/{to}/consent"): (
        "consent recorded by the business, API key",
        401,
    ),
    # A thumbs link under an answer mail: the signed token is the authority, and all it can
    # do is rate the answer it names (tests/test_channel_thumbs.py); a forged one gets 403.
    ("GET", "/api/v1/feedback/{token}/{vote}"): ("a signed thumbs link from a mail", 403),
}
# Server-to-server calls carry no browser cookie, so CSRF does not apply to them.
CSRF_EXEMPT = {
    ("POST", "/api/v1/webhooks/{provider}/{workspace_id}"),
    ("POST", "/api/v1/channels/whatsapp/{workspace_id}"),
    ("POST", "/api/v1/channels/twilio/{workspace_id}/{kind}"),
    ("POST", "/api/v1/channels/api/{workspace_id}/messages"),
    ("POST", "/api/v1/channels/api/{workspace_id}/messages/{message_id}/feedback"),
    ("POST", "/api/v1/workspaces/{workspace_id}/proactive"),
}

# (method, path) -> why: authorised by a visitor token for one conversation (tokens.py)
VISITOR: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/conversations"): "a visitor starts a chat (rate-limited per address)",
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): "the visitor writes",
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): "the visitor reads",
    ("GET", "/api/v1/conversations/{conversation_id}"): "the visitor's conversation state",
    ("DELETE", "/api/v1/conversations/{conversation_id}/token"): "the visitor signs out",
    ("WS", "/api/v1/conversations/{conversation_id}/ws"): "the widget's live feed",
    ("GET", "/api/v1/conversations/{conversation_id}/queue"): "the visitor's wait estimate",
    ("GET", "/api/v1/conversations/{conversation_id}/csat"): "the visitor's rating state",
    ("POST", "/api/v1/conversations/{conversation_id}/csat"): "the visitor rates the chat",
    ("POST", "/api/v1/conversations/{conversation_id}/contact"): "the visitor's contact form",
    ("GET", "/api/v1/conversations/{conversation_id}/contact"): "the contact form's labels",
    ("GET", "/api/v1/conversations/{conversation_id}/consent"): "the privacy notice to accept",
    ("POST", "/api/v1/conversations/{conversation_id}/consent"): "the visitor accepts it",
    ("POST", "/api/v1/conversations/{conversation_id}/attachments"): "the visitor sends a file",
    ("GET", "/api/v1/conversations/{conversation_id}/attachments/{attachment_id}"): (
        "the visitor opens a file of their own conversation"
    ),
    ("POST", "/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback"): (
        "the visitor rates an answer"
    ),
}


@dataclass(frozen=True)
class Staff:
    """A route behind a staff session.

    role: the lowest role allowed. kind: api (401/403 JSON), page (303 to the login page,
    403 page), fragment (401/403 without a page) or ws. body: a valid body, so a refusal
    after validation is really the access rule. foreign: what an admin of another workspace
    gets (None: the route shows only the caller's own workspaces, so they are allowed).
    ok: the exact status for allowed callers (None: anything but 401, 403 and 5xx, for
    routes whose answer depends on the conversation's state)."""

    role: str
    kind: str = "api"
    body: dict[str, Any] | None = None
    foreign: int | None = None
    ok: int | None = None


CONVERSATION = "/api/v1/inbox/conversations/{conversation_id}"
ARTICLES = "/api/v1/admin/workspaces/{workspace}/articles"
ARTICLE = ARTICLES + "/{article_id}"
CUSTOMERS = "/api/v1/admin/workspaces/{workspace}/customers"
REVIEW = "/api/v1/review/{workspace}"
STAFF: dict[tuple[str, str], Staff] = {
    # staff accounts (smartsupport/staff)
    ("GET", "/api/v1/auth/me"): Staff("agent", ok=200),
    ("POST", "/api/v1/auth/refresh"): Staff("agent", ok=200),
    ("POST", "/api/v1/auth/totp/enrol"): Staff("agent", body={"password": PASSWORD}, ok=200),
    # 409 before enrolment, 422 after it (a wrong code): either way past the access rule.
    ("POST", "/api/v1/auth/totp/confirm"): Staff("agent", body={"code": "000000"}),
    ("GET", "/api/v1/admin/staff"): Staff("admin", ok=200),
    ("POST", "/api/v1/admin/staff"): Staff(
        "admin",
        foreign=403,
        ok=201,
        body={
            "email": "new@example.com",
            "role": "agent",
            "workspaces": ["demo"],
            "password": PASSWORD,
        },
    ),
    ("POST", "/api/v1/admin/staff/{user_id}/disable"): Staff("admin", foreign=404, ok=200),
    ("POST", "/api/v1/admin/staff/{user_id}/enable"): Staff("admin", foreign=404, ok=200),
    ("GET", "/api/v1/admin/staff/api-keys"): Staff("admin", ok=200),
    ("POST", "/api/v1/admin/staff/api-keys"): Staff(
        "admin", foreign=403, ok=201, body={"workspace": "demo", "scopes": ["conversations:read"]}
    ),
    ("DELETE", "/api/v1/admin/staff/api-keys/{key_id}"): Staff("admin", foreign=404, ok=200),
    # The same role again: allowed callers pass the access rule without changing anything.
    ("POST", "/api/v1/admin/staff/{user_id}/role"): Staff(
        "admin", foreign=404, ok=200, body={"role": "agent"}
    ),
    # TOTP enrolment as a page (staff/mfa_page.py); the JSON bodies here are not its form,
    # so allowed callers get the page back with a message (400).
    ("GET", "/inbox/mfa"): Staff("agent", kind="page", ok=200),
    ("POST", "/inbox/mfa"): Staff("agent", kind="page", ok=400),
    ("POST", "/inbox/mfa/confirm"): Staff("agent", kind="page", ok=400),
    # the agent inbox (smartsupport/inbox)
    ("GET", "/inbox"): Staff("agent", kind="page", ok=200),
    ("GET", "/inbox/conversations/{conversation_id}"): Staff(
        "agent", kind="page", foreign=403, ok=200
    ),
    ("GET", "/inbox/fragments/lists"): Staff("agent", kind="fragment", ok=200),
    ("GET", "/inbox/fragments/conversations/{conversation_id}/{part}"): Staff(
        "agent", kind="fragment", foreign=403, ok=200
    ),
    ("GET", "/inbox/team"): Staff("supervisor", kind="page", ok=200),
    ("GET", "/inbox/admin"): Staff("admin", kind="page", ok=200),
    ("WS", "/api/v1/inbox/ws"): Staff("agent", kind="ws"),
    ("GET", "/api/v1/inbox/queue"): Staff("agent", ok=200),
    ("GET", CONVERSATION): Staff("agent", foreign=403, ok=200),
    ("POST", CONVERSATION + "/claim"): Staff("agent", foreign=403),
    ("POST", CONVERSATION + "/decline"): Staff("agent", foreign=403),
    ("POST", CONVERSATION + "/messages"): Staff("agent", foreign=403, body={"text": "hello"}),
    # files (inbox/attachments.py): an empty body is refused after the access rule (422)
    ("POST", CONVERSATION + "/attachments"): Staff("agent", foreign=403),
    ("GET", "/api/v1/inbox/attachments/{attachment_id}"): Staff("agent"),
    ("POST", CONVERSATION + "/transfer"): Staff("agent", foreign=403, body={"team": "billing"}),
    ("POST", CONVERSATION + "/handback"): Staff("agent", foreign=403),
    ("POST", CONVERSATION + "/resolve"): Staff("agent", foreign=403),
    ("POST", CONVERSATION + "/reopen"): Staff("agent", foreign=403),
    ("POST", CONVERSATION + "/priority"): Staff("agent", foreign=403, body={"priority": "high"}),
    ("POST", CONVERSATION + "/read"): Staff("agent", foreign=403, body={"seq": 1}),  # unread
    ("GET", CONVERSATION + "/notes"): Staff("agent", foreign=403, ok=200),
    ("POST", CONVERSATION + "/notes"): Staff("agent", foreign=403, body={"text": "a note"}, ok=201),
    ("GET", CONVERSATION + "/canned"): Staff("agent", foreign=403, ok=200),
    ("GET", CONVERSATION + "/copilot"): Staff("agent", foreign=403, ok=200),  # summary, drafts
    ("GET", "/api/v1/inbox/canned"): Staff("agent", ok=200),
    # 201 for the first allowed caller, 409 (shortcut taken) for the next.
    ("POST", "/api/v1/inbox/canned"): Staff(
        "supervisor",
        foreign=403,
        body={
            "workspace": "demo",
            "shortcut": "hi",
            "title": "Hello",
            "body": "Hello {customer_name}",
        },
    ),
    ("DELETE", "/api/v1/inbox/canned/{canned_id}"): Staff("supervisor", foreign=403),
    ("PUT", "/api/v1/inbox/me/status"): Staff("agent", body={"status": "away"}, ok=200),
    ("GET", "/api/v1/inbox/agents"): Staff("agent", ok=200),
    ("PUT", "/api/v1/inbox/agents/{staff_id}"): Staff(
        "admin", foreign=404, ok=200, body={"capacity": 3}
    ),
    # the knowledge base's admin API (smartsupport/knowledge/api.py)
    ("GET", ARTICLES): Staff("admin", foreign=403, ok=200),
    ("POST", ARTICLES): Staff(
        "admin",
        foreign=403,
        ok=201,
        body={"title": "Gift wrapping", "body": "We gift-wrap any order for $5."},
    ),
    ("GET", ARTICLE): Staff("admin", foreign=403, ok=200),
    ("PUT", ARTICLE): Staff("admin", foreign=403, ok=200, body={"title": "Renamed"}),
    ("PATCH", ARTICLE): Staff("admin", foreign=403, ok=200, body={"title": "Renamed"}),
    ("DELETE", ARTICLE): Staff("admin", foreign=403, ok=204),
    # background jobs (issue 17, jobs.py): ingest the articles folder, a job's status
    ("POST", ARTICLES + "/ingest"): Staff("admin", foreign=403, ok=202),
    ("GET", ARTICLES + "/jobs/{job_id}"): Staff("admin", foreign=403, ok=404),
    # the helpdesk outbox's dead letters (smartsupport/outbox.py)
    ("GET", "/api/v1/admin/outbox"): Staff("admin", ok=200),
    ("POST", "/api/v1/admin/outbox/{entry_id}/requeue"): Staff("admin", foreign=404, ok=404),
    # customers' data and the audit log (smartsupport/privacy_api.py, inbox/audit_page.py)
    ("GET", CUSTOMERS): Staff("admin", foreign=403, ok=422),  # no external_id or email given
    ("GET", CUSTOMERS + "/{customer_id}/export"): Staff("admin", foreign=403, ok=404),
    ("DELETE", CUSTOMERS + "/{customer_id}"): Staff("admin", foreign=403, ok=404),
    ("GET", "/api/v1/admin/workspaces/{workspace}/audit"): Staff("admin", foreign=403, ok=200),
    ("GET", "/api/v1/admin/audit/verify"): Staff("admin", ok=200),
    ("GET", "/inbox/audit"): Staff("admin", kind="page", ok=200),
    # history, search and tags (inbox/history_api.py, inbox/history_page.py; issue 16)
    ("GET", "/api/v1/inbox/search"): Staff("agent", ok=200),
    ("POST", CONVERSATION + "/tags"): Staff("agent", foreign=403, body={"tags": ["vip"]}, ok=200),
    ("DELETE", CONVERSATION + "/tags/{tag}"): Staff("agent", foreign=403, ok=200),
    ("GET", "/inbox/history"): Staff("agent", kind="page", ok=200),
    ("POST", "/inbox/conversations/{conversation_id}/tags"): Staff(
        "agent", kind="page", foreign=403
    ),
    # macros and order cards (inbox/macro_api.py; issue 16): admins write macros, each run
    # is checked against the macro's own role (tests/test_macros.py)
    ("GET", "/api/v1/inbox/macros"): Staff("agent", ok=200),
    ("GET", "/inbox/macros"): Staff("admin", kind="page", ok=200),
    # 201 for the first allowed caller, 409 (name taken) for the next.
    ("POST", "/api/v1/inbox/macros"): Staff(
        "admin", foreign=403, body={"workspace": "demo", "name": "hi", "title": "Hi", "reply": "Hi"}
    ),
    ("PUT", "/api/v1/inbox/macros/{macro_id}"): Staff(
        "admin", foreign=403, body={"name": "edited", "title": "Edited", "reply": "Hello"}
    ),
    ("DELETE", "/api/v1/inbox/macros/{macro_id}"): Staff("admin", foreign=403, ok=204),
    ("GET", CONVERSATION + "/macros"): Staff("agent", foreign=403, ok=200),
    ("POST", CONVERSATION + "/macros/{macro_id}/runs"): Staff(
        "agent", foreign=403, body={"run_id": "matrix", "confirm": True}
    ),
    ("GET", CONVERSATION + "/cards"): Staff("agent", foreign=403, ok=200),
    ("GET", "/inbox/fragments/cards/{conversation_id}"): Staff(
        "agent", kind="fragment", foreign=403, ok=200
    ),
    # analytics and feedback (issue 15)
    ("GET", "/api/v1/analytics/workspaces/{workspace_id}/report"): Staff("supervisor", foreign=403),
    ("GET", "/api/v1/analytics/workspaces/{workspace_id}/conversations.csv"): Staff(
        "supervisor", foreign=403
    ),
    ("GET", "/api/v1/analytics/workspaces/{workspace_id}/resolution-checks"): Staff(
        "supervisor", foreign=403
    ),
    (
        "PUT",
        "/api/v1/analytics/workspaces/{workspace_id}/conversations/{conversation_id}"
        "/resolution-review",
    ): Staff("supervisor", foreign=403, body={"verdict": "resolved"}),
    ("GET", "/inbox/dashboard"): Staff("supervisor", kind="page"),
    # reviewers' verdicts on the LLM check, as pages (inbox/resolution_page.py); the matrix's
    # JSON body is not the form, so an allowed POST is refused for its missing verdict (422)
    ("GET", "/inbox/resolutions/{workspace}"): Staff(
        "supervisor", kind="page", foreign=403, ok=200
    ),
    ("GET", "/inbox/resolutions/{workspace}/{conversation_id}"): Staff(
        "supervisor", kind="page", foreign=403, ok=200
    ),
    ("POST", "/inbox/resolutions/{workspace}/{conversation_id}"): Staff(
        "supervisor", kind="page", foreign=403, ok=422
    ),
    ("POST", CONVERSATION + "/messages/{message_id}/flag"): Staff(
        "agent", foreign=403, body={"reason": "wrong"}
    ),
    # the review queue (issue 15, docs/review.md)
    ("GET", REVIEW + "/queue"): Staff("supervisor", foreign=403),
    ("POST", REVIEW + "/decisions"): Staff(
        "supervisor", foreign=403, body={"message_ids": ["0" * 32], "action": "dismiss"}
    ),
    ("POST", REVIEW + "/retrain"): Staff("supervisor", foreign=403),
    ("GET", REVIEW + "/jobs/{job_id}"): Staff("supervisor", foreign=403, ok=404),
    ("GET", REVIEW + "/models"): Staff("supervisor", foreign=403),
    ("GET", REVIEW + "/models/{model_id}/agreement"): Staff("supervisor", foreign=403),
    ("POST", REVIEW + "/models/{model_id}/shadow"): Staff("supervisor", foreign=403),
    ("DELETE", REVIEW + "/shadow"): Staff("supervisor", foreign=403),
    # The file name (?name=) is checked before the workspace: 422 for everyone without it.
    ("POST", REVIEW + "/imports"): Staff("supervisor", foreign=422),
    ("GET", REVIEW + "/suggestions"): Staff("supervisor", foreign=403),
    ("POST", REVIEW + "/suggestions/{suggestion_id}/accept"): Staff("supervisor", foreign=403),
    ("POST", REVIEW + "/suggestions/{suggestion_id}/reject"): Staff("supervisor", foreign=403),
    ("GET", REVIEW + "/experiments"): Staff("supervisor", foreign=403),
    ("POST", REVIEW + "/experiments"): Staff(
        "supervisor",
        foreign=403,
        body={
            "name": "Greeting test",
            "intent": "greeting",
            "variants": [{"name": "a", "text": "Hi!"}, {"name": "b", "text": "Hello!"}],
        },
    ),
    ("GET", REVIEW + "/experiments/{experiment_id}"): Staff("supervisor", foreign=403),
    ("POST", REVIEW + "/experiments/{experiment_id}/promote"): Staff(
        "supervisor", foreign=403, body={"variant": "a"}
    ),
    ("POST", REVIEW + "/experiments/{experiment_id}/stop"): Staff("supervisor", foreign=403),
    ("GET", "/inbox/review"): Staff("supervisor", kind="page"),
    ("POST", "/inbox/review/{workspace}/decide"): Staff("supervisor", kind="page", foreign=403),
    ("POST", "/inbox/review/{workspace}/retrain"): Staff("supervisor", kind="page", foreign=403),
    ("POST", "/inbox/review/{workspace}/shadow"): Staff("supervisor", kind="page", foreign=403),
    ("POST", "/inbox/review/{workspace}/experiments"): Staff(
        "supervisor", kind="page", foreign=403
    ),
    ("POST", "/inbox/review/{workspace}/experiments/{experiment_id}"): Staff(
        "supervisor", kind="page", foreign=403
    ),
    ("POST", "/inbox/review/{workspace}/suggestions/{suggestion_id}"): Staff(
        "supervisor", kind="page", foreign=403
    ),
}

PRINCIPALS = ("anonymous", "agent", "supervisor", "foreign_admin", "admin")
RANK = {"agent": 0, "supervisor": 1, "admin": 2}


def app_routes(app) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, included routers flattened."""
    try:  # FastAPI >= 0.16x keeps included routers lazily; this flattens them.
        from fastapi.routing import iter_route_contexts

        contexts = [(c.original_route, c.path) for c in iter_route_contexts(app.routes)]
    except ImportError:  # older FastAPI: routes are already flat
        contexts = [(r, r.path) for r in app.routes]
    found: set[tuple[str, str]] = set()
    for route, path in contexts:
        if isinstance(route, Mount):
            found.add(("MOUNT", path))
        elif isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.add(("WS", path))
        else:
            found.update((m, path) for m in route.methods - {"HEAD"})
    return found


def test_every_route_is_in_the_matrix(tmp_path):
    app, _ = staff_app(tmp_path)
    routes = app_routes(app)
    listed = set(PUBLIC) | set(VISITOR) | set(STAFF)
    assert not set(PUBLIC) & set(STAFF) and not set(VISITOR) & set(STAFF)
    unlisted = sorted(routes - listed)
    assert not unlisted, (
        f"routes missing from the access matrix in {__file__}: {unlisted}. Add each to "
        "STAFF (with its minimum role), VISITOR or PUBLIC (with the reason)."
    )
    stale = sorted(listed - routes)
    assert not stale, f"the matrix lists routes that no longer exist: {stale}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A demo conversation waiting for a person, and a logged-in client (cookie jar) for
    each principal. Shared by the module's tests (logins are slow on purpose); the rules
    whose answer depends on earlier calls (claim, resolve, ...) accept any allowed status."""
    app, _ = staff_app(tmp_path_factory.mktemp("matrix"))
    with staff_client(app) as client:
        ids = {
            name: add_staff(client, f"{name}@example.com", name, ["demo"])
            for name in ("agent", "supervisor", "admin")
        }
        ids["foreign_admin"] = add_staff(client, "foreign@example.com", "admin", ["other"])
        ids["target"] = add_staff(client, "target@example.com", "agent", ["demo"])
        jars: dict[str, Any] = {}
        for name in PRINCIPALS[1:]:
            client.cookies.clear()
            email = "foreign@example.com" if name == "foreign_admin" else f"{name}@example.com"
            assert login(client, email).status_code == 200
            jars[name] = copy_jar(client.cookies)
        client.cookies.clear()
        client.get("/inbox/login")  # an anonymous caller with a valid (anonymous) csrf token
        jars["anonymous"] = copy_jar(client.cookies)
        started = client.post("/api/v1/conversations", json={"workspace": "demo"}).json()
        client.post(
            f"/api/v1/conversations/{started['id']}/messages",
            json={"text": "I want to talk to a person please"},
            headers={"Authorization": f"Bearer {started['token']}"},
        )
        yield World(client, jars, ids, started["id"], started["token"])


def copy_jar(cookies: Any) -> Any:
    """A copy keeping each cookie's domain and path (the refresh cookie's path matters).
    Made with the client's own Cookies class (the test client may use httpx or httpx2)."""
    copied = type(cookies)()
    for cookie in cookies.jar:
        copied.jar.set_cookie(cookie)
    return copied


@dataclass
class World:
    client: Any
    jars: dict[str, Any]
    ids: dict[str, str]
    conversation_id: str
    visitor_token: str
    made: list[str] = field(default_factory=list)

    def as_(self, principal: str) -> None:
        self.client.cookies = copy_jar(self.jars[principal])

    def remember(self, principal: str) -> None:
        self.jars[principal] = copy_jar(self.client.cookies)

    def fill(self, path: str) -> str:
        values = {
            "conversation_id": self.conversation_id,
            "user_id": self.ids["target"],
            "staff_id": self.ids["target"],
            "part": "context",
            "name": "inbox.css",
            "workspace": "demo",
            "entry_id": "0" * 32,
            "customer_id": "0" * 32,
            "provider": "zendesk",
            "workspace_id": "demo",
            "tag": "vip",
            "attachment_id": "0" * 32,  # no such file: 404 once the access rule lets through
            "message_id": "0" * 32,
            "experiment_id": "0" * 32,
            "model_id": "0" * 32,
            "suggestion_id": "0" * 32,
            "job_id": "0" * 32,  # no such job: 404 once the access rule lets through
            "kind": "sms",
            "channel": "sms",
            "to": "+15550100",
            "token": "0" * 32 + ".forged",  # a thumbs link's token that no key signed
            "vote": "up",
        }
        if "{article_id}" in path:
            self.as_("admin")
            values["article_id"] = self.client.post(
                "/api/v1/admin/workspaces/demo/articles",
                headers=csrf(self.client),
                json={"title": f"Article {len(self.made)}", "body": "Some help text."},
            ).json()["id"]
            self.made.append(values["article_id"])
            self.remember("admin")
        if "{key_id}" in path:
            self.as_("admin")
            values["key_id"] = self.client.post(
                "/api/v1/admin/staff/api-keys",
                headers=csrf(self.client),
                json={"workspace": "demo", "scopes": ["conversations:read"]},
            ).json()["id"]
            self.remember("admin")
        if "{macro_id}" in path:
            self.as_("admin")
            values["macro_id"] = self.client.post(
                "/api/v1/inbox/macros",
                headers=csrf(self.client),
                json={"workspace": "demo", "name": f"m{len(self.made)}", "title": "Hello",
                      "reply": "Hello"},
            ).json()["id"]  # fmt: skip
            self.made.append(values["macro_id"])
            self.remember("admin")
        if "{canned_id}" in path:
            self.as_("supervisor")
            values["canned_id"] = self.client.post(
                "/api/v1/inbox/canned",
                headers=csrf(self.client),
                json={
                    "workspace": "demo",
                    "shortcut": f"bye{len(self.made)}",
                    "title": "Bye",
                    "body": "Bye",
                },
            ).json()["id"]
            self.made.append(values["canned_id"])
            self.remember("supervisor")
        return path.format(**values)

    def call(
        self, principal: str, method: str, path: str, body: Any = None, with_csrf: bool = True
    ) -> httpx.Response:
        url = self.fill(path)
        self.as_(principal)
        headers = csrf(self.client) if with_csrf and method != "GET" else {}
        kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
        if body is not None:
            kwargs["json"] = body
        response = self.client.request(method, url, **kwargs)
        self.remember(principal)
        return response

    def socket(self, principal: str, path: str, hello: dict[str, Any] | None = None) -> str:
        """How a WebSocket goes for the principal: 'ready', or the close code. ``hello``
        is sent first when given (the widget's protocol)."""
        self.as_(principal)
        # The test client speaks ws://, which never carries Secure cookies: send it by hand.
        token = self.client.cookies.get(ACCESS_COOKIE)
        headers = {"cookie": f"{ACCESS_COOKIE}={token}"} if token else {}
        try:
            with self.client.websocket_connect(self.fill(path), headers=headers) as ws:
                if hello is not None:
                    ws.send_text(json.dumps(hello))
                return json.loads(ws.receive_text())["type"]
        except WebSocketDisconnect as exc:
            return str(exc.code)


def expected(rule: Staff, principal: str) -> int | None:
    """The status the principal must get; None: any allowed answer (not 401/403/5xx)."""
    if principal == "anonymous":
        return {"page": 303}.get(rule.kind, 401)
    role = "admin" if principal == "foreign_admin" else principal
    if RANK[role] < RANK[rule.role]:
        return 403
    if principal == "foreign_admin" and rule.foreign is not None:
        return rule.foreign
    return rule.ok


@pytest.mark.parametrize(("method", "path"), sorted(STAFF))
def test_staff_routes_follow_the_role_matrix(world, method, path):
    rule = STAFF[(method, path)]
    for principal in PRINCIPALS:
        if rule.kind == "ws":
            outcome = world.socket(principal, path)
            assert outcome == ("4401" if principal == "anonymous" else "ready"), principal
            continue
        response = world.call(principal, method, path, rule.body)
        want = expected(rule, principal)
        where = f"{principal} {method} {path}: {response.status_code} {response.text[:200]}"
        if want is None:
            assert response.status_code not in (401, 403) and response.status_code < 500, where
        else:
            assert response.status_code == want, where
        if want == 303:
            assert response.headers["location"].startswith("/inbox/login?next="), where
        if principal == "foreign_admin" and method == "GET":
            # Nothing of the demo workspace leaks into another workspace's answers.
            for secret in (world.conversation_id, "agent@example.com", world.ids["target"]):
                assert secret not in response.text, where


@pytest.mark.parametrize(("method", "path"), sorted(k for k in STAFF if k[0] not in ("GET", "WS")))
def test_unsafe_staff_routes_refuse_a_missing_csrf_token(world, method, path):
    response = world.call("admin", method, path, STAFF[(method, path)].body, with_csrf=False)
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize(("method", "path"), sorted(k for k in PUBLIC if k[0] != "MOUNT"))
def test_public_routes_answer_without_a_login(world, method, path):
    reason, status = PUBLIC[(method, path)]
    body = {"email": "nobody@example.com", "password": "x"} if method == "POST" else None
    response = world.call("anonymous", method, path, body)
    assert response.status_code == status, f"{method} {path} ({reason}): {response.text[:200]}"
    if method == "POST" and (method, path) not in CSRF_EXEMPT:
        refused = world.call("anonymous", method, path, body, with_csrf=False)
        assert refused.status_code == 403


def test_the_static_mount_is_public(world):
    world.as_("anonymous")
    assert world.client.get("/static/demo.html").status_code == 200


@pytest.mark.parametrize(("method", "path"), sorted(VISITOR))
def test_a_staff_session_grants_nothing_on_visitor_routes(world, method, path):
    """Visitor routes answer to the conversation's visitor token only: even an admin's
    session cookie, without the token, is refused."""
    if method == "WS":
        # The hello frame carries no visitor token; the admin's session cookie goes along.
        assert world.socket("admin", path, hello={"type": "hello", "after": 0}) == "4401"
        return
    if path == "/api/v1/conversations":
        assert world.call("anonymous", method, path, {"workspace": "demo"}).status_code == 201
        return
    body = {"text": "hi"} if path.endswith("/messages") else {"rating": 5}
    for principal in PRINCIPALS:
        response = world.call(principal, method, path, body if method == "POST" else None)
        assert response.status_code == 401, f"{principal} {method} {path}: {response.text}"
