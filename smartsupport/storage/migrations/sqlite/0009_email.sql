-- The email channel (smartsupport/channels/email*.py).
--
-- email_mailboxes: how far each mailbox has been read. IMAP UIDs only grow within one
-- UIDVALIDITY; when the server changes it (the mailbox was rebuilt) every mail is looked at
-- again and the Message-IDs below keep the ones already answered from being answered twice.
CREATE TABLE email_mailboxes (
    mailbox          TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    uidvalidity      INTEGER NOT NULL,
    last_uid         INTEGER NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Every mail of a thread, in and out, and its conversation: a customer's reply names earlier
-- mails in In-Reply-To and References, which finds the conversation (one per thread).
CREATE TABLE email_threads (
    workspace_id     TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    direction        TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, message_id)
);

CREATE INDEX email_threads_conversation ON email_threads (conversation_id);
