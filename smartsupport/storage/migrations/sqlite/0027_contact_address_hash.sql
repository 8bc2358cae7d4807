-- Messaging contacts' addresses sealed (issue 14; channels/contacts.py, storage/fields.py).
-- channel_contacts.address (a phone number, a WhatsApp id, an app's user id) may now hold
-- sealed text, which differs at every write, so rows are found and kept unique by
-- address_hash instead: the keyed hash of the address (HMAC-SHA256 under the keyring's index
-- key), or, without a keyring, the address itself (then it is in clear anyway). Existing rows
-- keep their address as their key until `smartsupport keys reencrypt` seals them.
-- SQLite cannot change a primary key in place: the table is rebuilt.
CREATE TABLE channel_contacts_0027 (
    workspace_id     TEXT NOT NULL,
    channel          TEXT NOT NULL,
    address          TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    consent          TEXT NOT NULL DEFAULT 'unknown' CHECK (consent IN ('unknown', 'in', 'out')),
    consent_at       TIMESTAMPTZ,
    last_inbound_at  TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL,
    address_hash     TEXT NOT NULL,
    PRIMARY KEY (workspace_id, channel, address_hash)
);

INSERT INTO channel_contacts_0027 (workspace_id, channel, address, conversation_id,
    customer_id, consent, consent_at, last_inbound_at, updated_at, address_hash)
SELECT workspace_id, channel, address, conversation_id, customer_id, consent, consent_at,
    last_inbound_at, updated_at, address
FROM channel_contacts;

DROP TABLE channel_contacts;
ALTER TABLE channel_contacts_0027 RENAME TO channel_contacts;
CREATE INDEX channel_contacts_conversation ON channel_contacts (conversation_id);
