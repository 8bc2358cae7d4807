"""Identity and tokens (issue 14, items 3 and 8): each probe finding as a regression test.

The probe found: an anonymous visitor could declare ``segment: vip`` and be prioritised; a
used signed identity was accepted again after a restart; visitor tokens never expired and
could not be revoked; five wrong passwords from any addresses locked a staff account for 15
minutes; client addresses came from ``X-Forwarded-For`` whatever the peer; the demo shop's
API (a demo customer's email and phone) was served whenever the demo was on.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartsupport.app import create_app
from smartsupport.identity import sign
from smartsupport.proxies import client_address, networks
from smartsupport.settings import Settings
from smartsupport.visitor_tokens import issue_token
from tests.staffkit import add_staff, login, staff_app

SECRET = "northwind-identity-secret-0123456789"


@pytest.fixture
def identity_workspace(tmp_path, monkeypatch):
    """The demo workspace plus one that accepts signed identities."""
    root = tmp_path / "workspaces" / "shop"
    root.mkdir(parents=True)
    (root / "workspace.yaml").write_text(
        "id: shop\nname: Shop\nidentity_secret_env: SHOP_IDENTITY_SECRET\n"
    )
    monkeypatch.setenv("SHOP_IDENTITY_SECRET", SECRET)
    return tmp_path / "workspaces"


def customer_of(client: TestClient, conversation_id: str) -> Any:
    services = client.app.state.services  # type: ignore[attr-defined]

    async def load() -> Any:
        conversation = await services.store.get_conversation(conversation_id)
        return await services.store.get_customer(conversation.customer_id)

    assert client.portal is not None
    return client.portal.call(load)


def test_an_anonymous_visitor_cannot_declare_a_segment(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, secret_key="k"))) as client:
        body = {"workspace": "demo", "customer": {"name": "Eve", "segment": "vip"}}
        created = client.post("/api/v1/conversations", json=body)
        assert created.status_code == 201
        assert customer_of(client, created.json()["id"]).segment is None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_signed_identity_carries_the_segment_and_is_refused_again_after_a_restart(
    request, tmp_path, identity_workspace, backend
):
    options: dict[str, Any] = {
        "data_dir": tmp_path,
        "secret_key": "k",
        "workspaces_dir": identity_workspace,
    }
    if backend == "postgres":
        options["database_url"] = request.getfixturevalue("postgres_url")
    token = sign(SECRET, "cust-maria", segment="vip")
    body = {"workspace": "shop", "identity": {"token": token}, "customer": {"segment": "gold"}}
    with TestClient(create_app(Settings(**options))) as client:
        created = client.post("/api/v1/conversations", json=body)
        assert created.status_code == 201, created.text
        customer = customer_of(client, created.json()["id"])
        assert (customer.external_id, customer.segment) == ("cust-maria", "vip")
    # A new process on the same database: the replay memory is there, not in the old one.
    with TestClient(create_app(Settings(**options))) as client:
        again = client.post("/api/v1/conversations", json=body)
        assert again.status_code == 401 and "already used" in again.json()["error"]["message"]


def test_visitor_tokens_expire(tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="k", visitor_token_ttl_seconds=3600)
    with TestClient(create_app(settings)) as client:
        conversation = client.post("/api/v1/conversations", json={"workspace": "demo"}).json()
        url = f"/api/v1/conversations/{conversation['id']}"
        old = issue_token(b"k", conversation["id"], now=time.time() - 3601)
        expired = client.get(url, headers={"Authorization": f"Bearer {old}"})
        assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
        fresh = client.get(url, headers={"Authorization": f"Bearer {conversation['token']}"})
        assert fresh.status_code == 200
        with client.websocket_connect(url + "/ws") as ws:
            ws.send_json({"type": "hello", "token": old})
            ws.receive()  # the close
        # 0.1 tokens (no expiry) are refused.
        v1 = "v1." + conversation["id"] + ".c2lnbmF0dXJlLW9mLWEtMC4xLXRva2Vu"
        assert client.get(url, headers={"Authorization": f"Bearer {v1}"}).status_code == 401


def test_visitor_tokens_can_be_revoked(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, secret_key="k"))) as client:
        conversation = client.post("/api/v1/conversations", json={"workspace": "demo"}).json()
        url = f"/api/v1/conversations/{conversation['id']}"
        headers = {"Authorization": f"Bearer {conversation['token']}"}
        assert client.delete(url + "/token", headers=headers).status_code == 204
        revoked = client.get(url, headers=headers)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
        posted = client.post(url + "/messages", json={"text": "hi"}, headers=headers)
        assert posted.status_code == 401
        with client.websocket_connect(url + "/ws") as ws:
            ws.send_json({"type": "hello", "token": conversation["token"]})
            assert ws.receive()["code"] == 4401


def test_failures_from_one_address_do_not_lock_the_staff_member_out_elsewhere(tmp_path, caplog):
    """Probe: five wrong passwords from any addresses locked a known account for 15 min."""
    app, _clock = staff_app(tmp_path)
    attacker = TestClient(app, base_url="https://testserver", client=("203.0.113.66", 4000))
    agent = TestClient(app, base_url="https://testserver", client=("198.51.100.7", 4000))
    with attacker, agent:
        add_staff(attacker, "agent@example.com", "agent")
        with caplog.at_level(logging.WARNING, logger="smartsupport.staff"):
            answers = [
                login(attacker, "agent@example.com", "guess!!").status_code for _ in range(8)
            ]
        assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
        assert login(agent, "agent@example.com", "correct horse battery staple").status_code == 200
        # The admins hear of it, without the email or the address in the log.
        notice = [r.getMessage() for r in caplog.records if "failures in a row" in r.getMessage()]
        assert notice and "agent@example.com" not in notice[0] and "203.0.113" not in notice[0]
        store = app.state.services.store
        assert attacker.portal is not None
        rows = attacker.portal.call(
            store.fetch, "SELECT target, ip FROM audit_log WHERE action = 'staff.login_throttled'"
        )
        assert [r["ip"] for r in rows] == ["203.0.113.66"]


def test_many_addresses_are_slowed_per_account_but_a_known_address_is_not(tmp_path):
    app, _clock = staff_app(tmp_path)
    agent = TestClient(app, base_url="https://testserver", client=("198.51.100.7", 4000))
    with agent:
        add_staff(agent, "agent@example.com", "agent")
        assert login(agent, "agent@example.com", "correct horse battery staple").status_code == 200
        answers = []
        for i in range(12):  # a guesser spread over many addresses
            bot = TestClient(app, base_url="https://testserver", client=(f"203.0.113.{i}", 1))
            answers.append(login(bot, "agent@example.com", "guess!!").status_code)
        # Ten attempts per window from new addresses; the agent's own first sign-in was one.
        assert answers[:9] == [401] * 9 and set(answers[9:]) == {429}
        agent.cookies.clear()
        assert login(agent, "agent@example.com", "correct horse battery staple").status_code == 200


def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path):
    trusted = networks(["10.0.0.0/8"])
    assert client_address("10.1.2.3", "198.51.100.9, 10.0.0.7", trusted) == "198.51.100.9"
    assert client_address("203.0.113.5", "198.51.100.9", trusted) == "203.0.113.5"
    assert client_address("10.1.2.3", "garbage", trusted) == "10.1.2.3"
    for proxies, expected in (([], [201, 429]), (["10.0.0.0/8"], [201, 201])):
        settings = Settings(
            data_dir=tmp_path / str(len(proxies)),
            secret_key="k",
            conversation_rate_limit_per_minute=1,
            trusted_proxies=proxies,
        )
        app = create_app(settings)
        with TestClient(app, client=("10.0.0.5", 1)) as client:
            answers = [
                client.post(
                    "/api/v1/conversations",
                    json={"workspace": "demo"},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                ).status_code
                for i in range(2)
            ]
        assert answers == expected, proxies


def test_a_wrong_trusted_proxy_setting_names_the_fix():
    with pytest.raises(ValueError, match="trusted proxy"):
        Settings(trusted_proxies=["not-an-address"])


def test_the_demo_shop_api_answers_only_this_machine_unless_made_public(tmp_path):
    path = "/demo-shop/api/customers/cust-aisha"
    for client_host, public, headers, expected in (
        ("203.0.113.9", False, {}, 404),
        ("127.0.0.1", False, {}, 200),
        ("127.0.0.1", False, {"X-Forwarded-For": "203.0.113.9"}, 404),  # a local proxy
        ("203.0.113.9", True, {}, 200),
    ):
        settings = Settings(data_dir=tmp_path, secret_key="k", demo_shop_public=public)
        with TestClient(create_app(settings), client=(client_host, 1)) as client:
            assert client.get(path, headers=headers).status_code == expected, client_host
    settings = Settings(data_dir=tmp_path, secret_key="k", demo=False)
    with TestClient(create_app(settings), client=("127.0.0.1", 1)) as client:
        assert client.get(path).status_code == 404
