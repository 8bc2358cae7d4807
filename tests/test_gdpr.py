"""A customer's rights through the admin API, on the embedded defaults and on PostgreSQL +
Redis: the export holds everything about them and nothing about anyone else; erasure deletes
it all (the cached context in memory or Redis too), keeps analytics only anonymised, leaves a
tombstone without personal data, and spares the other customers."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from staffkit import add_staff, csrf, login, staff_app, staff_client

from smartsupport import audit
from smartsupport.domain import OutboxItem, utcnow
from smartsupport.ids import new_id
from smartsupport.outbox import enqueue

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "metadata": {"plan": "gold"}}
ADA_SAYS = "Where is my order? My phone is +44 20 7946 0958"
BOB = {"name": "Bob Builder", "email": "bob@example.com"}
BOB_SAYS = "Do you ship to Norway, asks Bob"
ADMIN = "/api/v1/admin/workspaces/demo/customers"


@pytest.fixture(params=["embedded", "postgres+redis"])
def admin(request, tmp_path):
    options: dict[str, Any] = {"conversation_rate_limit_per_minute": 1000}
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    app, _ = staff_app(tmp_path, **options)
    with staff_client(app) as client:
        add_staff(client, "admin@example.com", "admin", ["demo"])
        add_staff(client, "agent@example.com", "agent", ["demo"])
        assert login(client, "admin@example.com").status_code == 200
        yield client


def run(client, fn, *args):
    async def call():
        return await fn(client.app.state.services, *args)

    return client.portal.call(call)


def chat(client, customer: dict[str, Any], *texts: str) -> dict[str, Any]:
    started = client.post("/api/v1/conversations", json={"workspace": "demo", "customer": customer})
    assert started.status_code == 201, started.text
    conversation = started.json()
    auth = {"Authorization": f"Bearer {conversation['token']}"}
    for text in texts:
        sent = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"text": text},
            headers=auth,
        )
        assert sent.status_code == 201, sent.text
        conversation.setdefault("message_ids", []).append(sent.json()["message"]["id"])
    conversation["auth"] = auth
    return conversation


async def customer_of(services, conversation_id: str) -> str:
    conversation = await services.store.get_conversation(conversation_id)
    return conversation.customer_id


async def everything_else(services, conversation: dict[str, Any], customer_id: str) -> None:
    """What other features write about a conversation: helpdesk work, notes, a rating."""
    db, cid, now = services.store, conversation["id"], utcnow()
    ticket = {"conversation_id": cid, "email": ADA["email"], "question": ADA_SAYS}
    await enqueue(db, "demo", OutboxItem("ticket.create", ticket, f"ticket:{cid}"), now=now)
    note = {"ticket_id": "7001", "text": f"Customer wrote in the chat:\n{ADA_SAYS}"}
    first = conversation["message_ids"][0]
    await enqueue(db, "demo", OutboxItem("ticket.note", note, f"note:{first}"), now=now)
    notice = {"conversation_id": cid, "reason": "asked", "priority": "normal"}
    await enqueue(db, "demo", OutboxItem("notify.slack", notice, f"notify.slack:{cid}:k"), now=now)
    event = {"id": "e1", "type": "turn.completed", "conversation_id": cid, "data": {}}
    await enqueue(db, "demo", OutboxItem("event.publish", event, "event:e1"), now=now)
    await db.execute(
        "INSERT INTO helpdesk_tickets (id, workspace_id, conversation_id, provider, external_id,"
        " idempotency_key, created_at) VALUES (?, 'demo', ?, 'zendesk', '7001', ?, ?)",
        new_id(), cid, f"ticket:{cid}", now,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO helpdesk_batch_items (batch_key, workspace_id, conversation_id, payload,"
        " created_at) VALUES ('batch:demo:x', 'demo', ?, ?, ?)",
        cid, {"email": ADA["email"]}, now,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO inbox_notes (id, conversation_id, author_id, author_name, text, created_at)"
        " VALUES (?, ?, 's1', 'Agent', 'Ada is a VIP, lives in London', ?)",
        new_id(), cid, now,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO inbox_conversations (conversation_id, workspace_id, csat_rating, "
        "csat_comment, csat_at, updated_at) VALUES (?, 'demo', 4, 'Ada liked it', ?, ?)",
        cid, now, now,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO consents (id, workspace_id, customer_id, conversation_id, version, "
        "text_sha256, language, people_only, created_at) VALUES (?, 'demo', ?, ?, 'v1', ?, "
        "'en', FALSE, ?)",
        new_id(), customer_id, cid, "0" * 64, now,
    )  # fmt: skip


async def attach(services, ada_message: str, bob_message: str) -> dict[str, Path]:
    """Email attachments as the email channel stores them: one file per content hash, listed
    in the message's meta. Ada and Bob happen to have sent one identical file."""
    folder = services.settings.data_dir / "attachments" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, digest in (("own", "a" * 64), ("shared", "b" * 64)):
        files[name] = folder / f"{digest}.pdf"
        files[name].write_bytes(b"%PDF " + name.encode())
    listed = [
        {"filename": "scan.pdf", "stored": True, "sha256": p.stem, "path": str(p)}
        for p in files.values()
    ]
    await services.store.update_message_meta(ada_message, {"attachments": listed})
    await services.store.update_message_meta(bob_message, {"attachments": listed[1:]})
    return files


@pytest.fixture
def two_customers(admin):
    ada = chat(admin, ADA, ADA_SAYS, "thanks")
    bob = chat(admin, BOB, BOB_SAYS)
    ada["customer_id"] = run(admin, customer_of, ada["id"])
    bob["customer_id"] = run(admin, customer_of, bob["id"])
    run(admin, everything_else, ada, ada["customer_id"])
    ada["files"] = run(admin, attach, ada["message_ids"][0], bob["message_ids"][0])
    return ada, bob


def test_the_export_holds_everything_about_the_customer_and_nothing_else(admin, two_customers):
    ada, bob = two_customers
    response = admin.get(f"{ADMIN}/{ada['customer_id']}/export")
    assert response.status_code == 200, response.text
    doc = response.json()
    dump = json.dumps(doc, ensure_ascii=False)
    assert doc["customer"]["email"] == ADA["email"] and doc["customer"]["metadata"] == {
        "plan": "gold"
    }
    [conversation] = doc["conversations"]
    texts = [m["text"] for m in conversation["messages"]]
    assert ADA_SAYS in texts and "thanks" in texts
    assert {e["type"] for e in conversation["events"]} >= {"conversation.started", "turn"}
    assert conversation["context"]["conversation_id"] == ada["id"]  # the cached dialogue state
    assert {o["kind"] for o in doc["outbox"]} == {
        "ticket.create", "ticket.note", "notify.slack", "event.publish"
    }  # fmt: skip
    assert doc["helpdesk_tickets"][0]["external_id"] == "7001"
    assert doc["helpdesk_batched_requests"][0]["payload"] == {"email": ADA["email"]}
    assert doc["staff_notes"][0]["text"].startswith("Ada is a VIP")
    assert doc["feedback"] == [
        {"conversation_id": ada["id"], "csat_rating": 4, "csat_comment": "Ada liked it",
         "csat_at": doc["feedback"][0]["csat_at"]}
    ]  # fmt: skip
    assert doc["consents"][0]["version"] == "v1"
    # The export itself is audited, and the entry comes with the data.
    assert [e["action"] for e in doc["audit"]] == ["customer.exported"]
    for other in (BOB["email"], BOB["name"], BOB_SAYS, bob["id"], bob["customer_id"]):
        assert other not in dump


def test_erasure_deletes_everything_and_leaves_an_anonymous_tombstone(admin, two_customers):
    ada, bob = two_customers
    services = admin.app.state.services
    key = services.contexts.key(ada["id"])
    assert run(admin, lambda s: s.backplane.get(key)) is not None

    erased = admin.delete(f"{ADMIN}/{ada['customer_id']}", headers=csrf(admin))
    assert erased.status_code == 200, erased.text
    done = erased.json()
    assert done["conversations"] == 1 and done["messages"] >= 4  # greeting, 2 + replies
    assert done["outbox"] == 4 and done["notes"] == 1 and done["consents"] == 1
    assert done["helpdesk_tickets"] == [{"provider": "zendesk", "external_id": "7001"}]
    assert done["attachments"] == 2
    assert not ada["files"]["own"].exists()
    assert ada["files"]["shared"].exists()  # Bob's message still lists the same file

    async def left(services) -> dict[str, Any]:
        db, cid, customer = services.store, ada["id"], ada["customer_id"]
        counts = {}
        for table, column, value in [
            ("customers", "id", customer), ("conversations", "customer_id", customer),
            ("messages", "conversation_id", cid), ("events", "conversation_id", cid),
            ("helpdesk_tickets", "conversation_id", cid),
            ("helpdesk_batch_items", "conversation_id", cid),
            ("inbox_notes", "conversation_id", cid),
            ("inbox_conversations", "conversation_id", cid), ("consents", "customer_id", customer),
        ]:  # fmt: skip
            row = await db.fetchrow(f"SELECT count(*) AS n FROM {table} WHERE {column} = ?", value)
            counts[table] = row["n"]
        outbox = await db.fetch("SELECT payload, idempotency_key FROM outbox")
        events = await db.fetch("SELECT data FROM events WHERE conversation_id IS NULL")
        return {
            "counts": counts,
            "outbox": json.dumps(outbox, default=str),
            "anonymous_events": [e["data"] for e in events],
            "context": await services.backplane.get(key),
            "tombstone": [e.as_json() for e in await audit.entries(db, action="customer.erased")],
            "chain": await audit.verify(db),
        }

    state = run(admin, left)
    assert set(state["counts"].values()) == {0}, state["counts"]
    assert ada["id"] not in state["outbox"] and ADA["email"] not in state["outbox"]
    assert state["context"] is None
    # Analytics survive without anything that points to Ada or quotes her.
    anonymous = state["anonymous_events"]
    assert anonymous and all(e["anonymised"] is True for e in anonymous)
    assert {"intent", "step"} & set().union(*anonymous)
    assert not {"customer_id", "message_id", "reason"} & set().union(*anonymous)
    [tombstone] = state["tombstone"]
    assert tombstone["customer_id"] == ada["customer_id"]
    assert tombstone["actor"].startswith("staff:") and tombstone["details"]["messages"] >= 4
    text = json.dumps(tombstone, ensure_ascii=False)
    for personal in (ADA["email"], ADA["name"], ADA_SAYS, "7946", "London", "7001"):
        assert personal not in text
    assert state["chain"].ok
    # Gone for the widget and the admin alike; Bob is untouched.
    assert (
        admin.get(f"/api/v1/conversations/{ada['id']}/messages", headers=ada["auth"]).status_code
        == 404
    )
    assert admin.get(f"{ADMIN}/{ada['customer_id']}/export").status_code == 404
    kept = admin.get(f"/api/v1/conversations/{bob['id']}/messages", headers=bob["auth"]).json()
    assert BOB_SAYS in [m["text"] for m in kept["messages"]]
    assert (
        admin.get(f"{ADMIN}/{bob['customer_id']}/export").json()["customer"]["name"] == BOB["name"]
    )


def test_customers_are_found_by_external_id_or_email(admin, two_customers):
    ada, _ = two_customers
    found = admin.get(ADMIN, params={"email": "ADA@example.com"}).json()["customers"]
    assert [c["id"] for c in found] == [ada["customer_id"]]
    assert admin.get(ADMIN).status_code == 422


def test_only_admins_of_the_workspace_reach_a_customers_data(admin, two_customers):
    ada, _ = two_customers
    admin.post("/inbox/logout", headers=csrf(admin))
    assert login(admin, "agent@example.com").status_code == 200
    assert admin.get(f"{ADMIN}/{ada['customer_id']}/export").status_code == 403
    assert admin.delete(f"{ADMIN}/{ada['customer_id']}", headers=csrf(admin)).status_code == 403
    # An admin elsewhere: 403 for the workspace, and no customer of it under their own.
    add_staff(admin, "other@example.com", "admin", ["elsewhere"])
    admin.post("/inbox/logout", headers=csrf(admin))
    assert login(admin, "other@example.com").status_code == 200
    assert admin.get(f"{ADMIN}/{ada['customer_id']}/export").status_code == 403


def test_erasure_needs_the_csrf_header(admin, two_customers):
    ada, _ = two_customers
    assert admin.delete(f"{ADMIN}/{ada['customer_id']}").status_code == 403


def test_the_sqlite_database_is_readable_by_its_owner_only(tmp_path):
    app, _ = staff_app(tmp_path)
    with staff_client(app) as client:
        assert client.get("/healthz").status_code == 200
        files = [p for p in tmp_path.iterdir() if p.name.startswith("smartsupport.db")]
        assert {p.name for p in files} >= {"smartsupport.db", "smartsupport.db-wal"}
        for path in files:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_an_older_world_readable_database_is_tightened(tmp_path):
    path = tmp_path / "smartsupport.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    app, _ = staff_app(tmp_path)
    with staff_client(app):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
