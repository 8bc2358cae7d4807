"""Field-level encryption at the store boundary: which columns hold sealed values, and
how a value is sealed for, and opened from, one row.

Every ``SqlExecutor`` carries a ``FieldCipher`` (``fields``): the stores seal values as they
write them and open them as they read them, so the rest of the code sees plaintext. Without
a keyring (``SMARTSUPPORT_ENCRYPTION=off``, or a store opened directly in a test) values pass
through unchanged. Rows written before encryption was turned on hold plaintext and are
read as they are; ``smartsupport keys reencrypt`` seals them (storage/reencrypt.py).

A sealed value is text: ``MARK`` and the URL-safe base64 of ``keyring.Keyring.seal``. It is
bound to its place (``table.column:row``), so it cannot be copied into another row. JSON
columns hold ``{MARK: sealed text}``: still a JSON object, which both dialects store and
hand back alike.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from smartsupport.domain import Conversation, Customer, Message, OutboxItem
from smartsupport.errors import EncryptionError
from smartsupport.keyring import Keyring, key_id_of

MARK = "ssenc:"

# table -> (the unique columns that name a row in the associated data, sealed columns).
# Outbox rows are named by their idempotency key: it is known before the row id is made.
SEALED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "messages": (("id",), ("text",)),  # and parts of meta: sealed_meta
    # a file's name as the customer chose it ("passport-ada-lovelace.pdf")
    "attachments": (("id",), ("filename",)),
    "customers": (("id",), ("external_id", "name", "email", "metadata")),
    # a note's words, and the staff member who wrote it (who served whom is personal too)
    "inbox_notes": (("id",), ("text", "author_name")),
    "inbox_conversations": (("conversation_id",), ("csat_comment",)),  # the customer's words
    # the result and the last error may name the customer (an email delivery's recipient, a
    # provider's "unknown number +1555...")
    "outbox": (("idempotency_key",), ("payload", "result", "last_error")),
    "helpdesk_batch_items": (("batch_key", "conversation_id"), ("payload",)),
    # a messaging contact's phone number / WhatsApp id / app user id, named by its keyed hash
    # (channels/contacts.py: the hash is the look-up key, the sealed address is what is sent to)
    "channel_contacts": (("workspace_id", "channel", "address_hash"), ("address",)),
    # the email channel's thread index: a Message-ID (which often names the sender's host or
    # address), named by its keyed hash like a contact (channels/email_state.py, 0039)
    "email_threads": (("workspace_id", "message_hash"), ("message_id",)),
    # the review queue's copies of customers' messages (review/store.py, review/shadow.py)
    # and questions from imported chats (review/bootstrap.py; its examples, a sealed JSON
    # text inside {"text": ...}, are re-sealed by storage/reencrypt.py on their own)
    "review_decisions": (("id",), ("text",)),
    "shadow_results": (("id",), ("text",)),
    "review_suggestions": (("id",), ("name", "answer")),
    # a messaging provider's reason a message failed, which may quote the customer's phone
    # number or echo the message (channels/contacts.py advance_delivery)
    "channel_deliveries": (("channel", "provider_id"), ("error",)),
    # a language model's and a reviewer's reasons for their verdicts on whether a
    # conversation was resolved: written about the customer (resolution_checks.py, 0042)
    "resolution_checks": (("conversation_id",), ("reason",)),
    "resolution_reviews": (("conversation_id",), ("reason",)),
    # a language model's summary of a customer's conversation, and why one was not kept
    # (it may quote the model): written from the messages (inbox/memory_summaries.py, 0045)
    "customer_memories": (("conversation_id",), ("summary", "method_note")),
}
JSON_COLUMNS = frozenset(
    {
        ("customers", "metadata"),
        ("outbox", "payload"),
        ("outbox", "result"),
        ("helpdesk_batch_items", "payload"),
    }
)
# Conversation metadata keys that hold personal data: the contact form's email and name, the
# email channel's thread (the customer's address, name, subject and Message-IDs). Sealed one
# by one, so the rest of the metadata (priority, escalation) stays plain JSON that SQL merges
# and reads.
SEALED_METADATA = frozenset({"contact", "email"})
# Keys of the ``events`` table's data that hold personal data (a mail's sender, an error
# that may quote what was sent, a person's name), in any event type; sealed one by one like
# SEALED_METADATA, so what analytics and experiments read in SQL (status, reason, intent,
# variant) stays plain. Erasure keeps none of them (customer_data.ANALYTICS_KEYS).
# ``named_reason``: a staff change's reason with the staff members' names ("transferred to
# the billing team by Bo"), beside the nameless ``reason`` analytics counts (inbox/changes.py).
SEALED_EVENT_KEYS = frozenset(
    {
        "address", "author_name", "comment", "email", "error", "from", "name", "named_reason",
        "subject", "text",
    }
)  # fmt: skip
# ... and in one type only: elsewhere ``message_id`` is our own message's id, not a mail's
SEALED_EVENT_TYPE_KEYS = {"email.ignored": frozenset({"message_id"})}

# The sealed parts of a message's meta (FieldCipher.sealed_meta), as the bound column names
META_ENTITIES = "meta.nlu.entities"
META_FILENAME = "meta.attachments.filename"
# ... top-level meta strings: the agent who wrote (inbox replies: agent_name; helpdesk
# replies: author_name), and a provider's reason a delivery failed (meta.delivery.error)
META_NAMES = ("agent_name", "author_name")
META_DELIVERY_ERROR = "meta.delivery.error"

# Keyed hashes of customers' identifiers, for look-ups: kind -> how a value is normalised.
LOOKUPS: dict[str, Callable[[str], str]] = {
    "email": lambda value: value.strip().lower(),
    "external_id": lambda value: value,
    "phone": lambda value: "".join(ch for ch in value if ch.isdigit() or ch == "+"),
    # a channel address as its channel wrote it (already normalised there; an app's user id
    # is not a phone number, so no digits-only form)
    "address": lambda value: value,
    # a mail's Message-ID, as its header wrote it (angle brackets included)
    "message_id": lambda value: value,
    # an attachment's SHA-256 (hex): the name its file is stored under
    # (attachment_records.content_name)
    "attachment": lambda value: value,
}


class FieldCipher:
    """Seals and opens the ``SEALED`` columns with a keyring, or passes them through."""

    def __init__(self, keyring: Keyring | None = None) -> None:
        self.keyring = keyring

    @property
    def enabled(self) -> bool:
        return self.keyring is not None

    def seal(self, table: str, column: str, row: str, value: Any) -> Any:
        """The stored form of ``value`` (None stays None; JSON columns take any JSON)."""
        if self.keyring is None or value is None:
            return value
        if (table, column) in JSON_COLUMNS:
            return self._seal_json(table, column, row, value)
        blob = self.keyring.seal(value.encode(), _context(table, column, row))
        return MARK + base64.urlsafe_b64encode(blob).decode()

    def open(self, table: str, column: str, row: str, value: Any) -> Any:
        """The plaintext of a stored value; plaintext (an older row) is returned as it is."""
        if not is_sealed(value):
            return value
        if self.keyring is None:
            raise EncryptionError(
                f"{table}.{column} of row {row!r} is encrypted, and no keyring is configured "
                "(SMARTSUPPORT_ENCRYPTION=off). Set SMARTSUPPORT_ENCRYPTION_KEYS or "
                "SMARTSUPPORT_ENCRYPTION_KEY_FILE to the keys it was written with."
            )
        text = value[MARK] if isinstance(value, dict) else value
        try:
            blob = base64.urlsafe_b64decode(text[len(MARK) :].encode())
        except (binascii.Error, ValueError):
            raise EncryptionError(
                f"{table}.{column} of row {row!r} is not valid sealed text: it was changed "
                "in the database. Restore it from a backup."
            ) from None
        plain = self.keyring.open(blob, _context(table, column, row)).decode()
        return json.loads(plain) if isinstance(value, dict) else plain

    def seal_row(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``row`` with its sealed columns sealed (those it has)."""
        name_of, columns = SEALED[table]
        key = row_key(row, name_of)
        return {
            name: self.seal(table, name, key, value) if name in columns else value
            for name, value in row.items()
        }

    def open_row(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``row`` with its sealed columns opened (those it has)."""
        name_of, columns = SEALED[table]
        key = row_key(row, name_of)
        return {
            name: self.open(table, name, key, value) if name in columns else value
            for name, value in row.items()
        }

    # -- domain objects: sealed copies to write, opened copies to hand out -------------------
    def sealed_message(self, m: Message) -> Message:
        text = self.seal("messages", "text", m.id, m.text)
        return replace(m, text=text, meta=self.sealed_meta(m.id, m.meta))

    def opened_message(self, m: Message) -> Message:
        text = self.open("messages", "text", m.id, m.text)
        return replace(m, text=text, meta=self.opened_meta(m.id, m.meta))

    def sealed_meta(self, message_id: str, meta: dict[str, Any]) -> dict[str, Any]:
        """A message's meta (or changes to it) with its personal parts sealed: the entities
        the NLU found (an email address, a phone or order number, as written), the names
        of attached files, the writing agent's name and a failed delivery's error. The rest
        (intent, step, experiment, agent id, delivery status) stays plain JSON that SQL
        reads."""
        if self.keyring is None or not meta:
            return meta
        return self._meta(meta, lambda column, value: self._seal_meta(message_id, column, value))

    def opened_meta(self, message_id: str, meta: dict[str, Any]) -> dict[str, Any]:
        if not meta:
            return meta
        return self._meta(
            meta, lambda column, value: self.open("messages", column, message_id, value)
        )

    @staticmethod
    def _meta(meta: dict[str, Any], change: Callable[[str, Any], Any]) -> dict[str, Any]:
        """``meta`` with ``change(column, value)`` applied to each sealed part (``meta``
        itself when it has none, as most messages)."""
        nlu, files, delivery = meta.get("nlu"), meta.get("attachments"), meta.get("delivery")
        entities = nlu.get("entities") if isinstance(nlu, dict) else None
        names = [key for key in META_NAMES if isinstance(meta.get(key), str) and meta[key]]
        error = delivery.get("error") if isinstance(delivery, dict) else None
        if not entities and not isinstance(files, list) and not names and error is None:
            return meta
        out = dict(meta)
        if entities:
            out["nlu"] = {**meta["nlu"], "entities": change(META_ENTITIES, entities)}
        if isinstance(files, list):
            out["attachments"] = [
                {**a, "filename": change(META_FILENAME, a["filename"])}
                if isinstance(a, dict) and a.get("filename")
                else a
                for a in files
            ]
        for key in names:
            out[key] = change(f"meta.{key}", meta[key])
        if isinstance(delivery, dict) and isinstance(error, str):
            out["delivery"] = {**delivery, "error": change(META_DELIVERY_ERROR, error)}
        return out

    def _seal_meta(self, message_id: str, column: str, value: Any) -> Any:
        if is_sealed(value):
            return value  # (meta merged from a stored row holds sealed parts already)
        if column == META_ENTITIES:
            return self._seal_json("messages", column, message_id, value)
        return self.seal("messages", column, message_id, value)

    def sealed_outbox(self, item: OutboxItem) -> OutboxItem:
        payload = self.seal("outbox", "payload", item.idempotency_key, item.payload)
        return replace(item, payload=payload)

    def sealed_customer(self, c: Customer) -> Customer:
        """A copy with its identifiers, name and metadata sealed."""
        sealed = self.seal_row("customers", {"id": c.id, **_customer_fields(c)})
        return replace(c, **{k: v for k, v in sealed.items() if k != "id"})

    def opened_customer(self, c: Customer) -> Customer:
        opened = self.open_row("customers", {"id": c.id, **_customer_fields(c)})
        return replace(c, **{k: v for k, v in opened.items() if k != "id"})

    def sealed_metadata(self, conversation_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Conversation metadata (or changes to it) with its ``SEALED_METADATA`` keys sealed."""
        return {
            key: self._seal_json("conversations", f"metadata.{key}", conversation_id, value)
            if key in SEALED_METADATA
            else value
            for key, value in changes.items()
        }

    def open_metadata(self, conversation_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        return {
            key: self.open("conversations", f"metadata.{key}", conversation_id, value)
            if key in SEALED_METADATA
            else value
            for key, value in metadata.items()
        }

    def sealed_conversation(self, c: Conversation) -> Conversation:
        return replace(c, metadata=self.sealed_metadata(c.id, c.metadata))

    def opened_conversation(self, c: Conversation) -> Conversation:
        if not any(key in c.metadata for key in SEALED_METADATA):
            return c
        return replace(c, metadata=self.open_metadata(c.id, c.metadata))

    def sealed_event(
        self, workspace_id: str, conversation_id: str | None, type: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """An event's data with its personal keys (``event_keys``) sealed."""
        if self.keyring is None:
            return data
        row, keys = event_row(workspace_id, conversation_id, type), event_keys(type)
        return {
            key: self._seal_json("events", f"data.{key}", row, value) if key in keys else value
            for key, value in data.items()
        }

    def opened_event(
        self, workspace_id: str, conversation_id: str | None, type: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        row, keys = event_row(workspace_id, conversation_id, type), event_keys(type)
        return {
            key: self.open("events", f"data.{key}", row, value) if key in keys else value
            for key, value in data.items()
        }

    def opened_event_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of an ``events`` row (with workspace_id, conversation_id, type and data)
        whose data is opened."""
        data = row["data"] or {}
        opened = self.opened_event(row["workspace_id"], row["conversation_id"], row["type"], data)
        return {**row, "data": opened}

    def _seal_json(self, table: str, column: str, row: str, value: Any) -> Any:
        if self.keyring is None or value is None:
            return value
        blob = self.keyring.seal(json.dumps(value).encode(), _context(table, column, row))
        return {MARK: MARK + base64.urlsafe_b64encode(blob).decode()}

    def customer_lookups(self, c: Customer) -> tuple[str | None, str | None]:
        """The keyed hashes stored beside a customer: (external_id_hash, email_hash)."""
        return self.lookup("external_id", c.external_id), self.lookup("email", c.email)

    def lookup(self, kind: str, value: str | None) -> str | None:
        """The keyed hash stored beside a sealed identifier (None without a keyring)."""
        if self.keyring is None or value is None:
            return None
        return self.keyring.blind(kind, LOOKUPS[kind](value))

    def lookups(self, kind: str, value: str | None) -> tuple[str | None, str | None]:
        """The keyed hashes a look-up matches: under the next index key, then the current
        one (the same twice when the index key is not changing; ``keyring.Keyring.blinds``)."""
        if self.keyring is None or value is None:
            return None, None
        return self.keyring.blinds(kind, LOOKUPS[kind](value))

    def search_blind(self) -> Callable[[str], str] | None:
        """What the transcript search index passes each word through (search_terms.py):
        keyed hashes when encryption is on, so the index never holds a word."""
        keyring = self.keyring
        if keyring is None:
            return None
        return lambda term: keyring.blind("search_term", term)


def event_keys(type: str) -> frozenset[str]:
    """The data keys sealed in an event of ``type``."""
    return SEALED_EVENT_KEYS | SEALED_EVENT_TYPE_KEYS.get(type, frozenset())


def event_row(workspace_id: str, conversation_id: str | None, type: str) -> str:
    """How an event's sealed values are bound: to its conversation and type (an event's id
    is made by the database as it is inserted, after the values are sealed), or, for a
    workspace's own events (a mail ignored before it had a conversation), to the workspace.
    Erasure detaches events from their conversation, and keeps none of these keys."""
    if conversation_id:
        return f"{conversation_id}:{type}"
    return f"workspace:{workspace_id}:{type}"


def _customer_fields(c: Customer) -> dict[str, Any]:
    return {"external_id": c.external_id, "name": c.name, "email": c.email, "metadata": c.metadata}


def row_key(row: Mapping[str, Any], columns: tuple[str, ...]) -> str:
    """How the associated data names a row: its unique columns' values."""
    return ":".join(str(row[column]) for column in columns)


def is_sealed(value: Any) -> bool:
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(MARK), str):
        value = value[MARK]
    return isinstance(value, str) and value.startswith(MARK)


def sealed_key_id(value: Any) -> str | None:
    """The id of the key that sealed ``value`` (None for plaintext)."""
    if not is_sealed(value):
        return None
    text = value[MARK] if isinstance(value, dict) else value
    try:
        return key_id_of(base64.urlsafe_b64decode(text[len(MARK) :].encode()))[0]
    except (binascii.Error, ValueError, EncryptionError):
        return "(unreadable)"


def _context(table: str, column: str, row: str) -> bytes:
    return f"{table}.{column}:{row}".encode()


PLAINTEXT = FieldCipher()
