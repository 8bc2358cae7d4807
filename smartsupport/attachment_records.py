"""Attachments as records: what a file is (sniffed from its bytes, never from its name or
the sender's claim), where its bytes are (the attachment store, ``attachments/``) and which
message lists it (the ``attachments`` table, migration 0023).

    keep(services, ..., data, filename, source)   check type and size, store the bytes once
                                                  per content hash (keyed with a keyring:
                                                  ``content_name``), add the row
    link(services, ids, conversation_id, message_id)   the message that lists them
    find / for_message / read                     look them up, read the bytes
    delete_unreferenced(db, store, keys)          after an erasure or a purge: the files no
                                                  row names any more

A message lists its attachments in ``meta["attachments"]`` as ``descriptor``s (id, filename,
content type, kind, size), which is what the widget, the inbox and the channels show.
Serving a file (``channels/web_attachments.py``) always sends it as a download with
``X-Content-Type-Options: nosniff`` and a type from ``SNIFFED``: a file is never shown
inline as HTML or script, whatever it contains.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, cast

from smartsupport.attachments import AttachmentStore, attachments_url, open_attachment_store
from smartsupport.domain import utcnow
from smartsupport.errors import InvalidInput, NotFound, TooLarge
from smartsupport.ids import new_id
from smartsupport.services import Services
from smartsupport.storage.base import SqlExecutor

IMAGE, PDF, AUDIO, FILE = "image", "pdf", "audio", "file"
UPLOAD_KINDS = frozenset({IMAGE, PDF, AUDIO})  # what the widget and agents may send
OCTET = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Sniffed:
    content_type: str
    kind: str
    extension: str


def _riff(kind: bytes) -> Any:
    return lambda d: d[:4] == b"RIFF" and d[8:12] == kind


# Magic numbers of the types we accept (WHATWG MIME Sniffing §6, and the container formats'
# own specifications). SVG and HTML are left out on purpose: they carry script.
SNIFFED: list[tuple[Any, Sniffed]] = [
    (lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"), Sniffed("image/png", IMAGE, "png")),
    (lambda d: d.startswith(b"\xff\xd8\xff"), Sniffed("image/jpeg", IMAGE, "jpg")),
    (lambda d: d[:6] in (b"GIF87a", b"GIF89a"), Sniffed("image/gif", IMAGE, "gif")),
    (_riff(b"WEBP"), Sniffed("image/webp", IMAGE, "webp")),
    (lambda d: d.startswith(b"%PDF-"), Sniffed("application/pdf", PDF, "pdf")),
    (lambda d: d.startswith(b"OggS"), Sniffed("audio/ogg", AUDIO, "ogg")),
    (lambda d: d.startswith(b"\x1a\x45\xdf\xa3"), Sniffed("audio/webm", AUDIO, "webm")),
    (_riff(b"WAVE"), Sniffed("audio/wav", AUDIO, "wav")),
    (lambda d: d[4:8] == b"ftyp", Sniffed("audio/mp4", AUDIO, "m4a")),
    (
        lambda d: d.startswith(b"ID3") or (len(d) > 1 and d[0] == 0xFF and d[1] & 0xE0 == 0xE0),
        Sniffed("audio/mpeg", AUDIO, "mp3"),
    ),
]


def sniff(data: bytes) -> Sniffed | None:
    """The type of ``data`` from its first bytes; None for anything we do not accept."""
    head = data[:64]
    for matches, found in SNIFFED:
        if matches(head):
            return found
    return None


def clean_filename(name: str | None, extension: str) -> str:
    """A name to show and to offer as the download's name: the last path segment, no
    control characters, at most 120 characters; ``attachment.<ext>`` when nothing is left."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    base = "".join(
        c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C"
    )
    base = base.strip(" .")[:120]
    return base or f"attachment.{extension}"


@dataclass(slots=True)
class Attachment:
    id: str
    workspace_id: str
    conversation_id: str
    message_id: str | None
    source: str  # widget, agent, voice, email, whatsapp, ...
    filename: str
    content_type: str
    kind: str
    size: int
    sha256: str  # the content's name in the store (``content_name``): keyed with a keyring
    storage_key: str
    created_at: datetime

    def descriptor(self) -> dict[str, Any]:
        """How a message lists it (``meta["attachments"]``)."""
        return {
            "id": self.id,
            "filename": self.filename,
            "content_type": self.content_type,
            "kind": self.kind,
            "size": self.size,
            "stored": True,
            "sha256": self.sha256,
        }


def content_name(db: SqlExecutor, data: bytes) -> str:
    """The name a file's bytes are stored and de-duplicated under: with a keyring the keyed
    hash of their SHA-256 (HMAC under the index key, ``storage/fields.LOOKUPS``), so the
    directory's names say nothing to whoever cannot compute them; without one the SHA-256
    itself (the files are in clear then anyway). A row's ``storage_key`` is read as it was
    stored, never computed again, so files named before (by their SHA-256, or under an index
    key being changed) stay found; ``keys reindex`` names them again (reindex.py)."""
    digest = hashlib.sha256(data).hexdigest()
    return db.fields.lookup("attachment", digest) or digest


def storage_key(workspace_id: str, name: str, suffix: str) -> str:
    """Where a file is kept in the store: ``<workspace>/<name[:2]>/<name><suffix>``."""
    return f"{workspace_id}/{name[:2]}/{name}{suffix}"


def store_of(services: Services) -> AttachmentStore:
    """The process's attachment store (opened by ``open_services``; built here for a
    container made by hand)."""
    if services.attachments is None:
        services.attachments = open_attachment_store(attachments_url(services.settings))
    return cast(AttachmentStore, services.attachments)


def _db(services: Services) -> SqlExecutor:
    return cast(SqlExecutor, services.store)  # every store backend is SQL


async def keep(
    services: Services,
    *,
    workspace_id: str,
    conversation_id: str,
    data: bytes,
    filename: str | None,
    source: str,
    kinds: frozenset[str] | None = UPLOAD_KINDS,
    max_bytes: int | None = None,
    message_id: str | None = None,
) -> Attachment:
    """Store one file and its row. ``kinds`` None accepts any file (channel media is kept
    as an opaque download when its type is not one we recognise). TooLarge over the limit,
    InvalidInput for an empty file or a type not in ``kinds``."""
    limit = max_bytes if max_bytes is not None else services.settings.attachment_max_bytes
    if len(data) > limit:
        raise TooLarge(f"the file is {len(data)} bytes; the limit is {limit} bytes")
    if not data:
        raise InvalidInput("the file is empty", code="empty_file")
    found = sniff(data)
    if found is None or (kinds is not None and found.kind not in kinds):
        if kinds is not None:
            raise InvalidInput(
                "only images (PNG, JPEG, GIF, WebP), PDF documents and voice notes can be sent",
                code="unsupported_type",
            )
        found = Sniffed(OCTET, FILE, "bin")
    name = content_name(_db(services), data)
    key = storage_key(workspace_id, name, f".{found.extension}")
    await store_of(services).put(key, data)
    attachment = Attachment(
        id=new_id(),
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        message_id=message_id,
        source=source,
        filename=clean_filename(filename, found.extension),
        content_type=found.content_type,
        kind=found.kind,
        size=len(data),
        sha256=name,
        storage_key=key,
        created_at=utcnow(),
    )
    await _db(services).execute(
        "INSERT INTO attachments (id, workspace_id, conversation_id, message_id, source, "
        "filename, content_type, kind, size, sha256, storage_key, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        attachment.id,
        attachment.workspace_id,
        attachment.conversation_id,
        attachment.message_id,
        attachment.source,
        _db(services).fields.seal("attachments", "filename", attachment.id, attachment.filename),
        attachment.content_type,
        attachment.kind,
        attachment.size,
        attachment.sha256,
        attachment.storage_key,
        attachment.created_at,
    )
    return attachment


async def link(services: Services, ids: list[str], conversation_id: str, message_id: str) -> None:
    """Record the message that lists these attachments (of this conversation only)."""
    for attachment_id in ids:
        await _db(services).execute(
            "UPDATE attachments SET message_id = ? WHERE id = ? AND conversation_id = ?",
            message_id,
            attachment_id,
            conversation_id,
        )


def _row(services: Services, row: dict[str, Any]) -> Attachment:
    row = _db(services).fields.open_row("attachments", row)  # the name is sealed
    return Attachment(**{k: row[k] for k in Attachment.__slots__})  # type: ignore[attr-defined]


async def find(services: Services, attachment_id: str) -> Attachment | None:
    row = await _db(services).fetchrow("SELECT * FROM attachments WHERE id = ?", attachment_id)
    return _row(services, row) if row else None


async def in_conversation(services: Services, conversation_id: str) -> list[Attachment]:
    rows = await _db(services).fetch(
        "SELECT * FROM attachments WHERE conversation_id = ? ORDER BY created_at, id",
        conversation_id,
    )
    return [_row(services, r) for r in rows]


async def read(services: Services, attachment: Attachment) -> bytes:
    """The file's bytes. A file renamed since its row was read (``keys reindex`` names files
    again under a new index key, reindex.py) is found under the name its row holds now."""
    try:
        return await store_of(services).get(attachment.storage_key)
    except NotFound:
        now = await find(services, attachment.id)
        if now is None or now.storage_key == attachment.storage_key:
            raise
        return await store_of(services).get(now.storage_key)


async def keys_of(db: SqlExecutor, conversation_ids: list[str]) -> list[str]:
    """The storage keys the attachments of these conversations use (before they are
    deleted with them)."""
    if not conversation_ids:
        return []
    marks = ", ".join("?" for _ in conversation_ids)
    rows = await db.fetch(
        f"SELECT DISTINCT storage_key FROM attachments WHERE conversation_id IN ({marks})",
        *conversation_ids,
    )
    return [r["storage_key"] for r in rows]


async def delete_unreferenced(db: SqlExecutor, store: AttachmentStore, keys: list[str]) -> int:
    """Delete the files no attachment row names any more (a file is stored once per
    content hash and workspace, and may be listed by another conversation)."""
    deleted = 0
    for key in sorted(set(keys)):
        still = await db.fetchrow(
            "SELECT 1 AS one FROM attachments WHERE storage_key = ? LIMIT 1", key
        )
        if still is None and await store.delete(key):
            deleted += 1
    return deleted


SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")


def download_name(filename: str) -> str:
    """The ASCII fallback of a download's file name (RFC 6266 ``filename=``)."""
    return SAFE_NAME.sub("_", filename)[:120] or "attachment"
