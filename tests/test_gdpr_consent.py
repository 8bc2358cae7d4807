"""Consent in the widget's API: the workspace's text and version in the customer's language,
nothing stored from the customer before they accept, the acceptance kept with its time, and
"people only": no automated answer, every message goes to the agent queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartsupport import messages
from smartsupport.app import create_app
from smartsupport.settings import Settings

WORKSPACE = """
id: acme
name: Acme
default_locale: en
faq:
  - keywords: [shipping]
    answer: "Shipping takes three days."
messages:
  consent.text:
    en: "Acme keeps this chat for 30 days to answer you."
    es: "Acme guarda este chat 30 días para responderte."
privacy:
  consent:
    version: "2026-01"
"""


def workspace_dir(root: Path, text: str = WORKSPACE) -> Path:
    (root / "ws" / "acme").mkdir(parents=True)
    (root / "ws" / "acme" / "workspace.yaml").write_text(text, encoding="utf-8")
    return root / "ws"


@pytest.fixture(params=["embedded", "postgres+redis"])
def client(request, tmp_path):
    options: dict[str, Any] = {}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    settings = Settings(
        data_dir=tmp_path, secret_key="t", demo=False, workspaces_dir=workspace_dir(tmp_path),
        **options,
    )  # fmt: skip
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def start(client, locale: str = "en") -> tuple[str, dict[str, str]]:
    body = {"workspace": "acme", "locale": locale}
    started = client.post("/api/v1/conversations", json=body).json()
    return started["id"], {"Authorization": f"Bearer {started['token']}"}


def say(client, conversation_id, auth, text):
    return client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"text": text}, headers=auth
    )


def test_the_consent_step_comes_in_the_customers_language(client):
    conversation_id, auth = start(client, "es-MX")
    shown = client.get(f"/api/v1/conversations/{conversation_id}/consent", headers=auth).json()
    assert shown["required"] and not shown["given"] and shown["version"] == "2026-01"
    assert shown["language"] == "es" and shown["text"].startswith("Acme guarda")
    assert shown["people_only_offered"] and "personas" in shown["people_only_label"]
    assert shown["accept_label"] == "Aceptar y empezar"


def test_nothing_the_customer_writes_is_stored_before_consent(client):
    conversation_id, auth = start(client)
    refused = say(client, conversation_id, auth, "my email is ada@example.com")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "consent_required"
    stale = client.post(
        f"/api/v1/conversations/{conversation_id}/consent",
        json={"version": "2025-01"},
        headers=auth,
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "consent_outdated"
    history = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth)
    assert [m["author"] for m in history.json()["messages"]] == ["bot"]  # the greeting only


def test_accepting_is_stored_with_its_version_text_hash_and_time(client):
    conversation_id, auth = start(client)
    accepted = client.post(
        f"/api/v1/conversations/{conversation_id}/consent",
        json={"version": "2026-01"},
        headers=auth,
    )
    assert accepted.status_code == 200 and accepted.json()["given"]
    answered = say(client, conversation_id, auth, "How long does shipping take?")
    assert answered.status_code == 201
    assert "three days" in answered.json()["replies"][0]["text"]

    async def stored(services):
        return await services.store.fetch("SELECT * FROM consents")

    [row] = client.portal.call(stored, client.app.state.services)
    assert row["conversation_id"] == conversation_id and row["version"] == "2026-01"
    assert row["language"] == "en" and row["people_only"] is False
    assert len(row["text_sha256"]) == 64 and row["created_at"].tzinfo is not None


def test_people_only_means_no_automated_answer_and_the_agent_queue(client):
    conversation_id, auth = start(client)
    client.post(
        f"/api/v1/conversations/{conversation_id}/consent",
        json={"version": "2026-01", "people_only": True},
        headers=auth,
    )
    first = say(client, conversation_id, auth, "How long does shipping take?").json()
    assert first["status"] == "waiting_for_agent"
    # The product's own "connecting you with a person", not the FAQ's answer.
    assert [r["text"] for r in first["replies"]] == [messages.text(None, "handoff.message", "en")]
    second = say(client, conversation_id, auth, "shipping?").json()
    assert second["replies"] == [] and second["status"] == "waiting_for_agent"
    shown = client.get(f"/api/v1/conversations/{conversation_id}/consent", headers=auth).json()
    assert shown["people_only"] is True


def test_a_workspace_without_a_consent_step_asks_nothing(tmp_path):
    plain = WORKSPACE.split("messages:")[0]
    settings = Settings(
        data_dir=tmp_path, secret_key="t", demo=False, workspaces_dir=workspace_dir(tmp_path, plain)
    )
    with TestClient(create_app(settings)) as client:
        conversation_id, auth = start(client)
        shown = client.get(f"/api/v1/conversations/{conversation_id}/consent", headers=auth)
        assert shown.json()["required"] is False and shown.json()["given"] is True
        assert say(client, conversation_id, auth, "shipping").status_code == 201


def test_a_wrong_privacy_section_stops_start_up(tmp_path):
    wrong = WORKSPACE.replace("conversations", "x") + "  retention:\n    chats: 10\n"
    settings = Settings(
        data_dir=tmp_path, secret_key="t", demo=False, workspaces_dir=workspace_dir(tmp_path, wrong)
    )
    with pytest.raises(Exception, match="unknown data kind 'chats'"):
        with TestClient(create_app(settings)):
            pass
