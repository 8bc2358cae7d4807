"""Helpers for the inbox tests: an app with opened services driven by async httpx clients
(so two agents can really act at the same time), staff accounts, customers who ask for a
person.

    async with inbox_app(sqlite_url) as h:
        agent = await h.staff("ana@example.com", "agent")
        conversation = await h.customer_waiting("Ada")
        r = await agent.post(f"/api/v1/inbox/conversations/{conversation.id}/claim")

And the ``services`` fixture: the product's services opened on each engine, SQLite then
PostgreSQL, with the test workspace ``acme`` (``helpdesk_fakes.open_test_services``). A
module uses it by importing it:

    from tests.inboxkit import services_on_each_engine  # noqa: F401 - the services fixture
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from smartsupport.app import create_app
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.staff import passwords
from smartsupport.staff.cookies import CSRF_COOKIE
from smartsupport.staff.store import StaffStore
from smartsupport.wiring import assemble
from tests.helpdesk_fakes import open_test_services

PASSWORD = "correct horse battery staple"
HUMAN = "I want to talk to a person please"


@pytest.fixture(params=["sqlite", "postgresql"], name="services")
async def services_on_each_engine(
    request: pytest.FixtureRequest, tmp_path: Any, sqlite_url: str, postgres_url: str
) -> AsyncIterator[Services]:
    url = sqlite_url if request.param == "sqlite" else postgres_url
    running = await open_test_services(tmp_path, url, {})
    try:
        yield running
    finally:
        await running.close()


class StaffClient(httpx.AsyncClient):
    """A logged-in staff member; unsafe methods carry the CSRF header automatically."""

    user_id: str = ""
    name: str = ""

    async def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRF-Token", self.cookies.get(CSRF_COOKIE, ""))
            kwargs["headers"] = headers
        return await super().request(method, url, **kwargs)


@dataclass
class Visitor:
    id: str
    token: str
    client: httpx.AsyncClient

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def say(self, text: str) -> dict[str, Any]:
        r = await self.client.post(
            f"/api/v1/conversations/{self.id}/messages", json={"text": text}, headers=self.auth
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def messages(self) -> list[dict[str, Any]]:
        r = await self.client.get(f"/api/v1/conversations/{self.id}/messages", headers=self.auth)
        assert r.status_code == 200, r.text
        return r.json()["messages"]


class Harness:
    def __init__(self, app: FastAPI, services: Services) -> None:
        self.app, self.services = app, services
        self.clients: list[httpx.AsyncClient] = []

    def client(self, cls: type[httpx.AsyncClient] = httpx.AsyncClient) -> Any:
        client = cls(transport=httpx.ASGITransport(app=self.app), base_url="https://testserver")
        self.clients.append(client)
        return client

    async def staff(
        self, email: str, role: str = "agent", workspaces: list[str] | None = None
    ) -> StaffClient:
        record = await StaffStore(self.services.store).create_user(
            email=email,
            name=email.split("@")[0].capitalize(),
            role=role,  # type: ignore[arg-type]
            workspaces=workspaces or ["demo"],
            password_hash=await passwords.hash_password(PASSWORD),
            now=datetime.now(UTC),
        )
        client: StaffClient = self.client(StaffClient)
        await client.get("/inbox/login")
        r = await client.post("/inbox/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.user_id, client.name = record.id, record.name
        return client

    async def visitor(self, name: str | None = "Ada", **customer: Any) -> Visitor:
        client = self.client()
        body = {"workspace": "demo", "customer": {"name": name, **customer}}
        r = await client.post("/api/v1/conversations", json=body)
        assert r.status_code == 201, r.text
        return Visitor(r.json()["id"], r.json()["token"], client)

    async def customer_waiting(self, name: str | None = "Ada", **customer: Any) -> Visitor:
        visitor = await self.visitor(name, **customer)
        turn = await visitor.say(HUMAN)
        assert turn["status"] == "waiting_for_agent", turn
        return visitor

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


@asynccontextmanager
async def inbox_app(
    database_url: str, redis_url: str = "", **settings: Any
) -> AsyncIterator[Harness]:
    data_dir = settings.pop("data_dir", None)
    options: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "secret_key": "test-secret",
        "conversation_rate_limit_per_minute": 10_000,
        **settings,
    }
    if data_dir is not None:
        options["data_dir"] = data_dir
    app = create_app(Settings(**options))
    services = await assemble(app.state.settings, shops=app.state.shops)
    app.state.services = services
    harness = Harness(app, services)
    try:
        yield harness
    finally:
        await harness.close()
        await services.close()


async def queue(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/api/v1/inbox/queue")
    assert r.status_code == 200, r.text
    return r.json()
