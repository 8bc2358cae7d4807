"""What the messaging channels keep per customer address (migration 0022, both dialects).

    find / file                 (workspace, channel, address) -> its conversation: one
                                conversation per phone number (or app user) and channel
    for_conversation            the contact a conversation's replies go to
    touch_inbound               the customer wrote: WhatsApp's 24-hour customer-service
                                window opens again (``in_service_window``)
    set_consent                 STOP -> 'out', START or a recorded opt-in -> 'in'
    remember_delivery /         the provider's id of a message we sent, and its status
    advance_delivery            webhooks (sent -> delivered -> read; failed is final)

Every delivery to an address reads its consent at send time, so a STOP received while a
reply waited in the outbox still stops it. SQL written once for both backends.

Addresses are personal data: ``address`` is sealed like the other sealed columns
(storage/fields.py, bound to the row) and rows are found by ``address_hash``, the keyed hash
of the address (migration 0027). Without a keyring the address itself is the key. Rows from
before encryption keep their clear address as their key until ``smartsupport keys
reencrypt`` seals them; look-ups match those too. A failed delivery's provider error is
sealed the same way (``channel_deliveries.error``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from smartsupport.domain import utcnow
from smartsupport.storage.base import SqlExecutor

Consent = Literal["unknown", "in", "out"]
# WhatsApp: free-form messages only within 24 hours of the customer's last message; after
# that only approved templates (developers.facebook.com/docs/whatsapp/pricing, "customer
# service windows"; Twilio error 63016 says the same for WhatsApp through Twilio).
SERVICE_WINDOW = timedelta(hours=24)
# Delivery statuses in the order they happen; a late "sent" never undoes a "read".
STATUS_ORDER = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
FINAL = {"failed", "undelivered"}


@dataclass(slots=True)
class Contact:
    workspace_id: str
    channel: str
    address: str
    conversation_id: str
    customer_id: str
    consent: Consent = "unknown"
    last_inbound_at: datetime | None = None

    @property
    def opted_out(self) -> bool:
        return self.consent == "out"

    def in_service_window(self, now: datetime | None = None) -> bool:
        if self.last_inbound_at is None:
            return False
        return (now or utcnow()) - self.last_inbound_at < SERVICE_WINDOW


TABLE = "channel_contacts"
_COLUMNS = (
    "workspace_id, channel, address, address_hash, conversation_id, customer_id, consent, "
    "last_inbound_at"
)


def address_key(db: SqlExecutor, address: str) -> str:
    """What ``address_hash`` holds for an address: its keyed hash, or the address itself
    without a keyring (the address column is in clear then too)."""
    return db.fields.lookup("address", address) or address


def _match(db: SqlExecutor, workspace_id: str, channel: str, address: str) -> tuple[str, list[str]]:
    """The WHERE clause finding an address's row, and its values. A row from before
    encryption has its clear address as its key (and as its address) until re-encrypted;
    while the index key changes, a row is keyed by either key's hash until re-indexed
    (storage/reindex.py, which also folds the two into one if both exist)."""
    key = address_key(db, address)
    where = "workspace_id = ? AND channel = ? AND "
    if key == address:
        return where + "address_hash = ?", [workspace_id, channel, key]
    hashes = [h or address for h in db.fields.lookups("address", address)]
    return (
        where + "(address_hash IN (?, ?) OR (address_hash = ? AND address = ?))",
        [workspace_id, channel, *hashes, address, address],
    )


def _contact(db: SqlExecutor, row: dict[str, object]) -> Contact:
    opened = db.fields.open_row(TABLE, row)
    del opened["address_hash"]
    return Contact(**opened)


async def find(db: SqlExecutor, workspace_id: str, channel: str, address: str) -> Contact | None:
    where, values = _match(db, workspace_id, channel, address)
    # the row under the newest key first, should a race have filed one under each
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM channel_contacts WHERE {where} "
        "ORDER BY CASE WHEN address_hash = ? THEN 0 ELSE 1 END",
        *values,
        address_key(db, address),
    )
    return _contact(db, row) if row else None


async def for_conversation(db: SqlExecutor, conversation_id: str) -> Contact | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM channel_contacts WHERE conversation_id = ?", conversation_id
    )
    return _contact(db, row) if row else None


async def file(
    db: SqlExecutor,
    workspace_id: str,
    channel: str,
    address: str,
    conversation_id: str,
    customer_id: str,
) -> Contact:
    """Remember the address's conversation; when two requests raced to start one, the first
    filed wins and is returned (the loser's empty conversation stays unused)."""
    earlier = await find(db, workspace_id, channel, address)  # also a not yet re-encrypted row
    if earlier is not None:
        return earlier
    key = address_key(db, address)
    row = {"workspace_id": workspace_id, "channel": channel, "address_hash": key}
    await db.execute(
        "INSERT INTO channel_contacts (workspace_id, channel, address, address_hash, "
        "conversation_id, customer_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (workspace_id, channel, address_hash) DO NOTHING",
        workspace_id,
        channel,
        db.fields.seal_row(TABLE, {**row, "address": address})["address"],
        key,
        conversation_id,
        customer_id,
        utcnow(),
    )
    found = await find(db, workspace_id, channel, address)
    assert found is not None, "just filed"
    return found


async def touch_inbound(
    db: SqlExecutor, workspace_id: str, channel: str, address: str, at: datetime | None = None
) -> None:
    at = at or utcnow()
    where, values = _match(db, workspace_id, channel, address)
    await db.execute(
        "UPDATE channel_contacts SET last_inbound_at = ?, updated_at = ? "
        f"WHERE {where} AND (last_inbound_at IS NULL OR last_inbound_at < ?)",
        at,
        utcnow(),
        *values,
        at,
    )


async def set_consent(
    db: SqlExecutor, workspace_id: str, channel: str, address: str, consent: Consent
) -> bool:
    """Record the address's choice; False when the address is unknown here."""
    now = utcnow()
    where, values = _match(db, workspace_id, channel, address)
    changed = await db.execute(
        f"UPDATE channel_contacts SET consent = ?, consent_at = ?, updated_at = ? WHERE {where}",
        consent,
        now,
        now,
        *values,
    )
    return bool(changed)


async def remember_delivery(
    db: SqlExecutor,
    channel: str,
    provider_id: str,
    workspace_id: str,
    conversation_id: str,
    message_ids: Sequence[str],
    status: str = "sent",
) -> None:
    await db.execute(
        "INSERT INTO channel_deliveries (channel, provider_id, workspace_id, conversation_id, "
        "message_ids, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (channel, provider_id) DO NOTHING",
        channel,
        provider_id,
        workspace_id,
        conversation_id,
        list(message_ids),
        status,
        utcnow(),
    )


async def advance_delivery(
    db: SqlExecutor, channel: str, provider_id: str, status: str, error: str | None = None
) -> dict[str, object] | None:
    """Move a sent message's status forward; returns its row when it moved, None when the
    id is unknown or the status is older than the one kept (webhooks arrive out of order)."""
    row = await db.fetchrow(
        "SELECT workspace_id, conversation_id, message_ids, status FROM channel_deliveries "
        "WHERE channel = ? AND provider_id = ?",
        channel,
        provider_id,
    )
    if row is None or row["status"] in FINAL:
        return None
    if status not in FINAL and STATUS_ORDER.get(status, -1) <= STATUS_ORDER.get(
        str(row["status"]), -1
    ):
        return None
    # the provider's error may quote the customer's number or echo the message: sealed
    place = {"channel": channel, "provider_id": provider_id, "error": error}
    changed = await db.execute(
        "UPDATE channel_deliveries SET status = ?, error = ?, updated_at = ? "
        "WHERE channel = ? AND provider_id = ? AND status = ?",
        status,
        db.fields.seal_row("channel_deliveries", place)["error"],
        utcnow(),
        channel,
        provider_id,
        row["status"],
    )
    return {**row, "status": status} if changed else None
