"""Helpers for tests that need staff users: an app with a movable clock, accounts made
directly in the store, and login through the real login endpoint.

    app, clock = staff_app(tmp_path)
    with staff_client(app) as client:
        add_staff(client, "agent@example.com", "agent")
        login(client, "agent@example.com")
        client.post(url, json=..., headers=csrf(client))

Staff cookies are Secure, so the client talks to https://testserver.

Against a real server (tests/servers.py), accounts are made through the command line and
staff sign in through the login page in chromium, or over plain HTTP:

    add_user(server, "ana@example.com", "agent", "Ana Agent")
    page = new_page(browser)
    sign_in(page, server, "ana@example.com", "/inbox")
    ...
    close(page)                                    # fails on the page's script errors

    live_login(http, server, "ana@example.com")    # an httpx.Client
    http.post(server.url + path, json=..., headers=live_headers(http))

``new_page`` and ``close`` serve the widget's browser tests too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from smartsupport.app import create_app
from smartsupport.settings import Settings
from smartsupport.staff import ApiKeyPrincipal, passwords, require_api_key, require_workspace
from smartsupport.staff.config import StaffConfig
from smartsupport.staff.cookies import CSRF_COOKIE
from smartsupport.staff.store import StaffStore
from tests.servers import LiveServer

PASSWORD = "correct horse battery staple"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def staff_app(tmp_path: Any, **settings: Any) -> tuple[FastAPI, FakeClock]:
    options = {"data_dir": tmp_path, "secret_key": "test-secret", **settings}
    app = create_app(Settings(**options))
    clock = FakeClock()
    # Rate-limit windows are fixed and aligned; a long one keeps a boundary from falling
    # inside a test and resetting the counts halfway.
    app.state.staff_config = StaffConfig(clock=clock, attempt_window_seconds=10**6)
    return app, clock


def staff_client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="https://testserver")


def add_staff(
    client: TestClient,
    email: str,
    role: str,
    workspaces: list[str] | None = None,
    password: str = PASSWORD,
) -> str:
    """Create an account in the app's store; returns its id."""
    app: Any = client.app

    async def create() -> str:
        record = await StaffStore(app.state.services.store).create_user(
            email=email,
            name=email.split("@")[0],
            role=role,  # type: ignore[arg-type]
            workspaces=workspaces or ["demo"],
            password_hash=await passwords.hash_password(password),
            now=datetime.now(UTC),
        )
        return record.id

    assert client.portal is not None, "use the client inside 'with'"
    return client.portal.call(create)


def csrf(client: TestClient) -> dict[str, str]:
    """The X-CSRF-Token header for the client's current csrf cookie."""
    return {"X-CSRF-Token": client.cookies.get(CSRF_COOKIE, "")}


def login(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """GET the login page (csrf cookie), then POST JSON credentials."""
    client.get("/inbox/login")
    return client.post(
        "/inbox/login", json={"email": email, "password": password}, headers=csrf(client)
    )


def add_probe_routes(app: FastAPI) -> None:
    """Two server-to-server routes of the kind features will add (named, as every route in
    the API description must be: smartsupport/api_docs.py)."""

    @app.get("/probe/{workspace}/conversations", operation_id="readProbeConversations")
    async def read_conversations(
        workspace: str,
        key: Annotated[ApiKeyPrincipal, Depends(require_api_key("conversations:read"))],
    ) -> dict[str, str]:
        require_workspace(key, workspace)
        return {"key": key.id}

    @app.post("/probe/{workspace}/tickets", operation_id="writeProbeTickets")
    async def write_tickets(
        workspace: str,
        key: Annotated[ApiKeyPrincipal, Depends(require_api_key("tickets:write"))],
    ) -> dict[str, str]:
        require_workspace(key, workspace)
        return {"key": key.id}


# -- a real server: accounts from the command line, sign-in in chromium or over HTTP ---------


def add_user(
    server: LiveServer,
    email: str,
    role: str,
    name: str | None = None,
    *,
    workspace: str | None = None,
    password: str = PASSWORD,
) -> None:
    """Through the command line, the way an operator does it (password on stdin)."""
    command = [sys.executable, "-m", "smartsupport", "users", "add", email, "--role", role]
    command += ["--name", name] if name is not None else []
    command += ["--workspace", workspace] if workspace is not None else []
    done = subprocess.run(
        command,
        input=password + "\n",
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def new_page(browser: Browser, width: int = 1400, height: int = 860, **options: object) -> Page:
    """A page in its own browser context (``options``: more context options, a locale, a
    permission) that collects the page's script errors for ``close``."""
    context = browser.new_context(viewport={"width": width, "height": height}, **options)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.script_errors = errors  # type: ignore[attr-defined]
    return page


def close(*pages: Page) -> None:
    """Close each page's context; fails if a page had script errors."""
    for page in pages:
        errors = page.script_errors  # type: ignore[attr-defined]
        page.context.close()
        assert errors == [], f"script errors in the page: {errors}"


def sign_in(
    page: Page, server: LiveServer, email: str, next_path: str = "/inbox", password: str = PASSWORD
) -> None:
    """Through the login page; on ``next_path`` when it returns."""
    page.goto(f"{server.url}/inbox/login?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}{next_path}")


def live_login(
    http: httpx.Client, server: LiveServer, email: str, password: str = PASSWORD
) -> None:
    """Sign ``http`` in on ``server`` over plain HTTP; ``live_headers(http)`` then carries the
    session on every request."""
    http.get(f"{server.url}/inbox/login")
    r = http.post(
        f"{server.url}/inbox/login",
        json={"email": email, "password": password},
        headers=live_headers(http),
    )
    assert r.status_code == 200, r.text


def live_headers(http: httpx.Client) -> dict[str, str]:
    """The Cookie and X-CSRF-Token headers of ``http``'s session. Staff cookies are Secure,
    which an HTTP client keeps but does not send to http:// on its own: sent by hand."""
    cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    return {"Cookie": cookie, "X-CSRF-Token": http.cookies.get(CSRF_COOKIE) or ""}
