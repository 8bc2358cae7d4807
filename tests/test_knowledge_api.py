"""The admin API for articles, on a tiny FastAPI app over a real SQLite store."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from knowledge_samples import CountingEmbedder

from smartsupport.errors import RequestError
from smartsupport.knowledge.api import bearer_token, create_router
from smartsupport.knowledge.kb import KnowledgeBase
from smartsupport.storage import open_store

TOKEN = "admin-secret-token"
BASE = "/api/v1/admin/workspaces/demo/articles"


@pytest.fixture
async def client(sqlite_url):
    store = open_store(sqlite_url)
    await store.connect()
    await store.migrate()
    kb = KnowledgeBase(store, embedder=CountingEmbedder())
    app = FastAPI()
    app.state.kb = kb

    @app.exception_handler(RequestError)
    async def handle(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, exc.status_code)

    app.include_router(
        create_router(
            get_kb=lambda request: request.app.state.kb,
            authorize=bearer_token(lambda request: TOKEN),
            workspace_exists=lambda request, workspace: workspace == "demo",
        )
    )
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        c.kb = kb  # type: ignore[attr-defined]
        yield c
    await store.close()


async def test_create_get_list_update_delete(client):
    created = await client.post(
        BASE,
        json={
            "title": "Store pickup",
            "body": "## Where\n\nCollect orders at our Boston store.",
            "url": "https://help.example/pickup",
            "locale": "en",
        },
    )
    assert created.status_code == 201, created.text
    article = created.json()
    assert article["passages"] == 1 and article["source"] == "api"

    got = await client.get(f"{BASE}/{article['id']}")
    assert got.json()["body"] == "## Where\n\nCollect orders at our Boston store."
    listed = (await client.get(BASE)).json()["articles"]
    assert [a["title"] for a in listed] == ["Store pickup"] and "body" not in listed[0]

    hits = await client.kb.search("demo", "can I collect my order in a shop")
    assert hits[0].article_id == article["id"] and hits[0].section == "Where"

    updated = await client.put(f"{BASE}/{article['id']}", json={"body": "Pickup is in Denver."})
    assert updated.status_code == 200
    assert updated.json()["title"] == "Store pickup"
    assert updated.json()["content_hash"] != article["content_hash"]
    hits = await client.kb.search("demo", "where is store pickup")
    assert hits[0].text == "Pickup is in Denver."

    assert (await client.delete(f"{BASE}/{article['id']}")).status_code == 204
    assert (await client.get(f"{BASE}/{article['id']}")).status_code == 404
    assert await client.kb.search("demo", "store pickup") == []


async def test_requests_without_the_admin_token_are_refused(client):
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        response = await client.get(BASE, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


async def test_invalid_articles_and_unknown_ids(client):
    assert (await client.post(BASE, json={"title": "", "body": "x"})).status_code == 422
    assert (
        await client.post(BASE, json={"title": "T", "body": "x", "color": 1})
    ).status_code == 422
    bad_url = await client.post(
        BASE, json={"title": "T", "body": "x", "url": "javascript:alert(1)"}
    )
    assert bad_url.status_code == 422 and "url" in bad_url.json()["error"]["message"]
    assert (
        await client.post(BASE, json={"title": "T", "body": "x", "external_id": "e1"})
    ).status_code == 201
    dup = await client.post(BASE, json={"title": "U", "body": "y", "external_id": "e1"})
    assert dup.status_code == 409
    assert (await client.get(f"{BASE}/nope")).status_code == 404
    assert (await client.put(f"{BASE}/nope", json={"title": "x"})).status_code == 404
    other = await client.get("/api/v1/admin/workspaces/other/articles")
    assert other.status_code == 404 and "other" in other.json()["error"]["message"]
