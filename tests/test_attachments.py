"""Attachments: the widget's uploads and downloads, the agents' files, erasure and retention,
on the embedded defaults and on PostgreSQL + Redis.

A file's type is read from its bytes; what is not an image, a PDF or audio is refused; a
download is never shown inline (attachment disposition, nosniff, a sandboxing CSP); a file
stored once per content hash is deleted when the last conversation that lists it goes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartsupport import attachment_records, customer_data, retention
from smartsupport.app import create_app
from smartsupport.attachments import open_attachment_store
from smartsupport.domain import utcnow
from smartsupport.errors import ConfigurationError
from smartsupport.settings import Settings


def png(width: int = 2, height: int = 2, seed: int = 0) -> bytes:
    """A real PNG image (signature, IHDR, IDAT, IEND with their CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes([seed % 256, 40, 200] * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(params=["embedded", "postgres+redis"])
def client(request, tmp_path):
    options: dict[str, Any] = {
        "data_dir": tmp_path,
        "secret_key": "test-secret",
        "attachment_max_bytes": 64 * 1024,
    }
    if request.param == "postgres+redis":
        options["database_url"] = request.getfixturevalue("postgres_url")
        options["redis_url"] = request.getfixturevalue("redis_url")
    with TestClient(create_app(Settings(**options))) as test_client:
        yield test_client


def start(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/v1/conversations", json={"workspace": "demo"})
    assert response.status_code == 201, response.text
    return response.json()


def upload(client: TestClient, conversation: dict[str, Any], data: bytes, **params: str) -> Any:
    return client.post(
        f"/api/v1/conversations/{conversation['id']}/attachments",
        params=params,
        content=data,
        headers={
            "Authorization": f"Bearer {conversation['token']}",
            "Content-Type": "application/octet-stream",
        },
    )


def files(client: TestClient) -> list[Path]:
    root = Path(client.app.state.services.settings.data_dir) / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file())


def stored_name(client: TestClient, data: bytes) -> str:
    """The name ``data`` is stored under: with the suite's keyring (tests/conftest.py) a
    keyed hash of its SHA-256, never the SHA-256 itself, which anyone holding the file could
    compute and look for in the directory (docs/security.md)."""
    name = attachment_records.content_name(client.app.state.services.store, data)
    assert name != hashlib.sha256(data).hexdigest()
    return name


def test_an_uploaded_image_is_listed_and_downloads_as_a_file_never_inline(client):
    conversation = start(client)
    image = png()
    response = upload(client, conversation, image, filename="../../damaged box.png", client_id="u1")
    assert response.status_code == 201, response.text
    message = response.json()["message"]
    assert message["author"] == "customer" and message["text"] == "📎 damaged box.png"
    (listed,) = message["attachments"]
    assert listed["kind"] == "image" and listed["content_type"] == "image/png"
    assert listed["filename"] == "damaged box.png" and listed["size"] == len(image)
    # A file alone asks nothing: no automatic answer to a photo.
    assert response.json()["replies"] == []
    got = client.get(listed["url"], headers={"Authorization": f"Bearer {conversation['token']}"})
    assert got.status_code == 200 and got.content == image
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith('attachment; filename="damaged box.png"')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    # The history lists it too, and the bytes are stored once under their hash.
    history = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers={"Authorization": f"Bearer {conversation['token']}"},
    ).json()["messages"]
    assert [m["attachments"] for m in history if m["author"] == "customer"] == [[listed]]
    name = stored_name(client, image)
    assert [p.name for p in files(client)] == [f"{name}.png"]


def test_a_retried_upload_is_stored_once(client):
    conversation = start(client)
    first = upload(client, conversation, png(), filename="a.png", client_id="same")
    again = upload(client, conversation, png(), filename="a.png", client_id="same")
    assert again.status_code == 201 and again.headers.get("idempotent-replay") == "true"
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    rows = client.portal.call(
        attachment_records.in_conversation, client.app.state.services, conversation["id"]
    )
    assert len(rows) == 1 and rows[0].message_id == first.json()["message"]["id"]


@pytest.mark.parametrize(
    "data, name",
    [
        (b"<html><script>alert(1)</script></html>", "invoice.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "logo.svg"),
        (b"MZ\x90\x00 an executable", "setup.pdf"),
    ],
)
def test_a_file_that_is_not_an_image_pdf_or_audio_is_refused_whatever_its_name(client, data, name):
    conversation = start(client)
    response = upload(client, conversation, data, filename=name)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_type"
    assert files(client) == []


def test_a_file_over_the_limit_gets_413_naming_the_limit(client):
    conversation = start(client)
    big = PDF + b"0" * (64 * 1024)
    response = upload(client, conversation, big, filename="scan.pdf")
    assert response.status_code == 413
    assert "65536" in response.json()["error"]["message"]
    assert files(client) == []


def test_a_pdf_with_a_caption_goes_through_the_conversation_path(client):
    conversation = start(client)
    response = upload(
        client, conversation, PDF, filename="receipt.pdf", caption="where is my order ORD-10234"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"]["text"] == "where is my order ORD-10234"
    assert body["message"]["attachments"][0]["kind"] == "pdf"
    assert body["replies"], "the caption is answered like a typed message"


def test_files_are_only_served_to_their_own_conversation(client):
    mine, theirs = start(client), start(client)
    listed = upload(client, mine, png(), filename="a.png").json()["message"]["attachments"][0]
    path = listed["url"]
    assert client.get(path).status_code == 401
    other = client.get(path, headers={"Authorization": f"Bearer {theirs['token']}"})
    assert other.status_code in (401, 403)
    crossed = path.replace(mine["id"], theirs["id"])
    sneaky = client.get(crossed, headers={"Authorization": f"Bearer {theirs['token']}"})
    assert sneaky.status_code == 404


def test_erasure_deletes_a_customers_files_but_keeps_one_another_conversation_lists(client):
    services = client.app.state.services
    ada, bob = start(client), start(client)
    shared, own = png(seed=1), png(seed=2)
    upload(client, ada, shared, filename="shared.png")
    upload(client, ada, own, filename="own.png")
    upload(client, bob, shared, filename="same.png")
    assert len(files(client)) == 2
    conversation = client.portal.call(services.store.get_conversation, ada["id"])

    async def erase() -> Any:
        return await customer_data.erase_customer(services, conversation.customer_id, actor="test")

    done = client.portal.call(erase)
    assert done.attachments == 2
    assert [p.name.split(".")[0] for p in files(client)] == [stored_name(client, shared)]
    assert client.portal.call(attachment_records.in_conversation, services, ada["id"]) == []


def test_the_retention_purge_deletes_old_conversations_files(client):
    services = client.app.state.services
    conversation = start(client)
    upload(client, conversation, PDF, filename="old.pdf")
    assert len(files(client)) == 1

    async def purge() -> Any:
        return await retention.purge(services, now=utcnow() + timedelta(days=400))

    client.portal.call(purge)
    assert files(client) == []


def test_the_attachment_store_is_chosen_by_url(tmp_path):
    assert open_attachment_store(f"file://{tmp_path}").root == tmp_path  # type: ignore[attr-defined]
    assert open_attachment_store(str(tmp_path)).root == tmp_path  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="file://"):
        open_attachment_store("s3://bucket/files")
    with pytest.raises(ConfigurationError, match="three slashes"):
        open_attachment_store("file://elsewhere/files")


async def test_the_directory_store_keeps_keys_inside_its_folder(tmp_path):
    store = open_attachment_store(str(tmp_path / "files"))
    await store.put("demo/ab/abc.pdf", b"one")
    await store.put("demo/ab/abc.pdf", b"two")  # content-addressed: the first copy stays
    assert await store.get("demo/ab/abc.pdf") == b"one"
    for key in ("../escape", "demo/../../x", "/etc/passwd", "demo/a b"):
        with pytest.raises(ValueError):
            await store.put(key, b"x")
    assert await store.delete("demo/ab/abc.pdf") and not await store.delete("demo/ab/abc.pdf")


def test_an_agents_file_is_attached_to_the_reply_mail():
    from smartsupport.channels.email import EmailChannel
    from smartsupport.channels.email_sender import compose
    from smartsupport.domain import Author, Conversation, Message

    thread = {
        "address": "ada@example.com",
        "subject": "Return",
        "domain": "support.example",
        "last": "<m1@mail.example>",
        "thread": ["<m1@mail.example>"],
    }
    conversation = Conversation(
        id="c1", workspace_id="demo", customer_id="u1", channel="email", metadata={"email": thread}
    )
    listed = {"id": "a1", "filename": "label.pdf", "kind": "pdf", "size": len(PDF), "stored": True}
    message = Message(
        id="m2",
        conversation_id="c1",
        seq=3,
        author=Author.AGENT,
        text="Here is your return label.",
        meta={"attachments": [listed]},
    )
    (item,) = EmailChannel().deliveries(conversation, [message])
    assert item.payload["attachments"] == ["a1"]
    assert "[label.pdf]" in item.payload["text"]
    mail = compose(
        item.payload, "Support <help@support.example>", [("label.pdf", "application/pdf", PDF)]
    )
    (part,) = list(mail.iter_attachments())
    assert part.get_filename() == "label.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_payload(decode=True) == PDF
    assert mail.get_body(("plain",)).get_content().startswith("Here is your return label.")
