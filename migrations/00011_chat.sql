-- +goose Up
-- Web chat (issue 5): each site's widget settings and customer-token
-- secret, read receipts on contacts, and attachment bytes.

-- chat_settings holds one site's widget settings; a site without a row
-- uses the defaults (org.DefaultChatSettings).
CREATE TABLE chat_settings (
    tenant_id             uuid NOT NULL,
    site_id               uuid NOT NULL,
    -- Pre-chat form: each field off, optional or required.
    name_field            text NOT NULL DEFAULT 'optional' CHECK (name_field IN ('off', 'optional', 'required')),
    email_field           text NOT NULL DEFAULT 'optional' CHECK (email_field IN ('off', 'optional', 'required')),
    phone_field           text NOT NULL DEFAULT 'off' CHECK (phone_field IN ('off', 'optional', 'required')),
    -- topics maps a topic (enquiries, sales, service) to one of the
    -- tenant's queues: [{"topic": "sales", "queue_id": "…"}]. Empty: no
    -- topic choice, chats go to the site's chat queue.
    topics                jsonb NOT NULL DEFAULT '[]',
    language              text NOT NULL DEFAULT 'browser' CHECK (language IN ('en', 'zh-CN', 'browser')),
    show_wait             boolean NOT NULL DEFAULT false,
    -- A queued chat whose visitor has had no socket this long is abandoned.
    abandon_after_seconds integer NOT NULL DEFAULT 120 CHECK (abandon_after_seconds BETWEEN 1 AND 86400),
    offline_mode          text NOT NULL DEFAULT 'email' CHECK (offline_mode IN ('email', 'callback')),
    attachments           boolean NOT NULL DEFAULT true,
    max_attachment_bytes  integer NOT NULL DEFAULT 5242880 CHECK (max_attachment_bytes BETWEEN 1 AND 10485760),
    -- customer_system names the external system of the site's customer
    -- ids (crm identity kind external); empty: the site's chat key.
    customer_system       text NOT NULL DEFAULT '',
    -- customer_secret signs the site's customer tokens (HMAC-SHA256);
    -- generated when first needed, rotated by an admin.
    customer_secret       bytea,
    secret_rotated_at     timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);

-- Read receipts: the highest seq each side has read. Typing is never stored.
ALTER TABLE contacts
    ADD COLUMN customer_read_seq integer NOT NULL DEFAULT 0,
    ADD COLUMN agent_read_seq    integer NOT NULL DEFAULT 0;

-- Attachment bytes live in PostgreSQL beside their contact: one system of
-- record for every node (no shared disk), tenant-scoped by the same keys,
-- purged in the same transaction as the conversation, and small (a site
-- allows at most 10 MiB a file).
CREATE TABLE chat_attachments (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    contact_id   uuid NOT NULL,
    -- message_key is the idempotency key of the message that carries the
    -- attachment (messages.idempotency_key), set when the line is sent.
    message_key  text,
    name         text NOT NULL DEFAULT '',
    content_type text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf')),
    size         integer NOT NULL CHECK (size > 0),
    sha256       bytea NOT NULL,
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);
CREATE INDEX chat_attachments_contact_idx ON chat_attachments (tenant_id, contact_id);
CREATE UNIQUE INDEX chat_attachments_message_key ON chat_attachments (tenant_id, message_key) WHERE message_key IS NOT NULL;

-- +goose Down
DROP TABLE chat_attachments;
ALTER TABLE contacts DROP COLUMN customer_read_seq, DROP COLUMN agent_read_seq;
DROP TABLE chat_settings;
