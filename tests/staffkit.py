"""Helpers for tests that need staff users: an app with a movable clock, accounts made
directly in the store, and login through the real login endpoint.

    app, clock = staff_app(tmp_path)
    with staff_client(app) as client:
        add_staff(client, "agent@example.com", "agent")
        login(client, "agent@example.com")
        client.post(url, json=..., headers=csrf(client))

Staff cookies are Secure, so the client talks to https://testserver.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from smartsupport.app import create_app
from smartsupport.settings import Settings
from smartsupport.staff import ApiKeyPrincipal, passwords, require_api_key, require_workspace
from smartsupport.staff.config import StaffConfig
from smartsupport.staff.cookies import CSRF_COOKIE
from smartsupport.staff.store import StaffStore

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
