-- Field-level encryption at rest (issue 14; smartsupport/keyring.py, storage/fields.py).
-- Customers' external ids and emails may be sealed (AES-256-GCM, a random nonce each), so
-- equal values no longer look equal: keyed hashes (HMAC-SHA256 under the keyring's index key)
-- stand beside them for look-ups, and the hash now keeps an external id unique per workspace.
-- Both stay NULL without a keyring; `smartsupport keys reencrypt` fills them for older rows.
ALTER TABLE customers ADD COLUMN external_id_hash TEXT;
ALTER TABLE customers ADD COLUMN email_hash TEXT;

CREATE UNIQUE INDEX customers_workspace_external_id_hash
    ON customers (workspace_id, external_id_hash) WHERE external_id_hash IS NOT NULL;
CREATE INDEX customers_workspace_email_hash
    ON customers (workspace_id, email_hash) WHERE email_hash IS NOT NULL;
