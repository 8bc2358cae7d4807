-- Messaging contacts' addresses sealed (issue 14; channels/contacts.py, storage/fields.py).
-- channel_contacts.address (a phone number, a WhatsApp id, an app's user id) may now hold
-- sealed text, which differs at every write, so rows are found and kept unique by
-- address_hash instead: the keyed hash of the address (HMAC-SHA256 under the keyring's index
-- key), or, without a keyring, the address itself (then it is in clear anyway). Existing rows
-- keep their address as their key until `smartsupport keys reencrypt` seals them.
ALTER TABLE channel_contacts ADD COLUMN address_hash TEXT;
UPDATE channel_contacts SET address_hash = address;
ALTER TABLE channel_contacts ALTER COLUMN address_hash SET NOT NULL;
ALTER TABLE channel_contacts DROP CONSTRAINT channel_contacts_pkey;
ALTER TABLE channel_contacts ADD PRIMARY KEY (workspace_id, channel, address_hash);
