"""The whole app with every messaging channel pointed at tests/messaging_fakes.py, and the
calls Meta, Twilio and a business's app make to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from smartsupport import outbox
from smartsupport.domain import Author, Message, utcnow
from smartsupport.services import Services
from smartsupport.settings import Settings
from smartsupport.staff import apikeys
from smartsupport.staff.store import StaffStore
from tests.appkit import served
from tests.messaging_fakes import (
    ENV,
    FakeMessaging,
    channel_workspace,
    meta_signature,
    twilio_signature,
)

PUBLIC_URL = "https://support.example.com"


@pytest.fixture(autouse=True)
def channel_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@dataclass
class Running:
    app: FastAPI
    http: httpx.AsyncClient
    fake: FakeMessaging

    @property
    def services(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    async def whatsapp(self, body: bytes, signature: str | None = "sign") -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            signature = meta_signature(body)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.http.post("/api/v1/channels/whatsapp/demo", content=body, headers=headers)

    async def twilio(
        self, kind: str, params: dict[str, str], signature: str | None = "sign"
    ) -> httpx.Response:
        path = f"/api/v1/channels/twilio/demo/{kind}"
        if signature == "sign":
            signature = twilio_signature(PUBLIC_URL + path, params)
        headers = {"X-Twilio-Signature": signature} if signature is not None else {}
        return await self.http.post(path, data=params, headers=headers)

    async def messages(self, conversation_id: str) -> list[Message]:
        return await self.services.store.list_messages(conversation_id)

    async def customer_texts(self, conversation_id: str) -> list[str]:
        return [m.text for m in await self.messages(conversation_id) if m.author is Author.CUSTOMER]

    async def api_key(self, *scopes: str, workspace: str = "demo") -> str:
        key, prefix, key_hash = apikeys.generate()
        await StaffStore(self.services.store).create_api_key(
            prefix=prefix, key_hash=key_hash, name="shop backend", workspace_id=workspace,
            scopes=list(scopes or ("messages:write",)), created_by=None, now=utcnow(),
        )  # fmt: skip
        return key


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, database_url: str = "", workspace: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[Running]:
    async with FakeMessaging() as fake:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "secret_key": "k" * 32,
            "demo": False,
            "workspaces_dir": channel_workspace(tmp_path, fake, **(workspace or {})),
            "public_url": PUBLIC_URL,
            "outbox_poll_seconds": 0.05,
            **({"database_url": database_url} if database_url else {}),
            **settings,
        }
        async with served(Settings(**values)) as (app, http):
            yield Running(app, http, fake)


async def wait_for(check: Callable[[], bool], seconds: float = 20.0, what: str = "it") -> None:
    """Until ``check()``: the app's own worker delivers through the outbox in the background."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def settle(services: Services) -> None:
    """Run every outbox entry due now (and those they add), here, not in the background."""
    while await outbox.run_due(services) >= outbox.BATCH:
        pass
    await asyncio.sleep(0.05)
