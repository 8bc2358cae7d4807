-- The email channel's thread index sealed (issue 14; channels/email_state.py,
-- storage/fields.py). email_threads.message_id (a Message-ID, which often names the sender's
-- host or address) may now hold sealed text, which differs at every write, so rows are found
-- and kept unique by message_hash instead: the keyed hash of the Message-ID (HMAC-SHA256
-- under the keyring's index key), or, without a keyring, the Message-ID itself (then it is in
-- clear anyway). Existing rows keep their Message-ID as their key until `smartsupport keys
-- reencrypt` seals them.
ALTER TABLE email_threads ADD COLUMN message_hash TEXT;
UPDATE email_threads SET message_hash = message_id;
ALTER TABLE email_threads ALTER COLUMN message_hash SET NOT NULL;
ALTER TABLE email_threads DROP CONSTRAINT email_threads_pkey;
ALTER TABLE email_threads ADD PRIMARY KEY (workspace_id, message_hash);
