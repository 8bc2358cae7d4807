"""Running a whole app inside the test's own event loop: its lifespan (store, backplane,
assistant) and an httpx client over ASGI. Local servers the test starts in the same loop
(tests/llmkit.py) can then answer the app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from smartsupport.app import create_app
from smartsupport.settings import Settings


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def start(http: httpx.AsyncClient, workspace: str = "demo") -> dict[str, Any]:
    response = await http.post("/api/v1/conversations", json={"workspace": workspace})
    assert response.status_code == 201, response.text
    return response.json()


async def say(
    http: httpx.AsyncClient, conversation: dict[str, Any], text: str, client_id: str, **headers: str
) -> httpx.Response:
    response = await http.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": text, "client_id": client_id},
        headers={"Authorization": f"Bearer {conversation['token']}", **headers},
    )
    assert response.status_code == 201, response.text
    return response
