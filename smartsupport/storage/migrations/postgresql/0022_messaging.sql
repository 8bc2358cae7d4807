-- The messaging channels (smartsupport/channels/whatsapp*.py, twilio*.py, api_channel.py,
-- contacts.py) and proactive messages (smartsupport/proactive.py). Issue 13.
--
-- channel_contacts: one customer address (a phone number, a WhatsApp id, an app's user id)
-- on one channel of one workspace, and its open conversation. last_inbound_at opens
-- WhatsApp's 24-hour customer-service window; consent is 'unknown', 'in' (START, or the
-- business recorded an opt-in) or 'out' (STOP): every delivery to an address reads it.
CREATE TABLE channel_contacts (
    workspace_id     TEXT NOT NULL,
    channel          TEXT NOT NULL,
    address          TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    consent          TEXT NOT NULL DEFAULT 'unknown' CHECK (consent IN ('unknown', 'in', 'out')),
    consent_at       TIMESTAMPTZ,
    last_inbound_at  TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, channel, address)
);

CREATE INDEX channel_contacts_conversation ON channel_contacts (conversation_id);

-- channel_deliveries: what the provider called each message we sent (a WhatsApp wamid, a
-- Twilio MessageSid), so its status webhooks (sent, delivered, read, failed) find our
-- messages. status only moves forward; failed is final.
CREATE TABLE channel_deliveries (
    channel          TEXT NOT NULL,
    provider_id      TEXT NOT NULL,
    workspace_id     TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    message_ids      JSONB NOT NULL,
    status           TEXT NOT NULL,
    error            TEXT,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, provider_id)
);

CREATE INDEX channel_deliveries_conversation ON channel_deliveries (conversation_id);
