-- +goose Up
-- E-mail (issue 6, part 2): every message in or out of a tenant's
-- mailboxes with its threading keys, its attachments (kept or refused),
-- the mail the parser refused, and a failing mark on bounced addresses.
-- Mailboxes and their IMAP checkpoints are 00012's; the outbox is 00014's.

-- email_messages holds one e-mail, inbound or outbound. Its conversation
-- line (what the console and the timeline show) is a messages row of the
-- same contact; this row keeps what only e-mail has.
CREATE TABLE email_messages (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    -- contact_id is NULL for noise that matched no thread (an auto-reply,
    -- a bounce, our own mail): stored so that a resend is a no-op, never
    -- a contact of its own.
    contact_id        uuid,
    customer_id       uuid,
    -- message_id is the Message-ID without angle brackets. A message that
    -- has none gets a stable synthetic one (message_id_synthetic) derived
    -- from its content, so its copies in two mailboxes are one message.
    message_id        text NOT NULL CHECK (message_id <> ''),
    message_id_synthetic boolean NOT NULL DEFAULT false,
    in_reply_to       text NOT NULL DEFAULT '',
    "references"      text[] NOT NULL DEFAULT '{}',
    direction         text NOT NULL CHECK (direction IN ('in', 'out')),
    -- mailbox_ids lists every one of the tenant's mailboxes the message was
    -- addressed to (To and CC of two mailboxes: one message, two ids).
    mailbox_ids       uuid[] NOT NULL DEFAULT '{}',
    from_addr         text NOT NULL DEFAULT '',
    from_name         text NOT NULL DEFAULT '',
    reply_to_addrs    text[] NOT NULL DEFAULT '{}',
    to_addrs          text[] NOT NULL DEFAULT '{}',
    cc_addrs          text[] NOT NULL DEFAULT '{}',
    subject           text NOT NULL DEFAULT '',
    -- subject_key is the subject without Re:/Fwd:/回复:… prefixes, folded
    -- to lower case: the last-resort threading key.
    subject_key       text NOT NULL DEFAULT '',
    text_body         text NOT NULL DEFAULT '',
    html_sanitized    text NOT NULL DEFAULT '',
    html_original     text NOT NULL DEFAULT '',
    -- quoted_folded is the text shown in the timeline: the new part, the
    -- quoted history folded away (text_body keeps all of it).
    quoted_folded     text NOT NULL DEFAULT '',
    -- reply_token is the signed token (crm.ReplyToken) an outbound message
    -- carried, or the one an inbound message quoted back.
    reply_token       text NOT NULL DEFAULT '',
    auto_submitted    boolean NOT NULL DEFAULT false,
    -- noise says why the message must never open a contact or trigger
    -- anything: '' (a customer's mail), auto_reply, list, bounce, own.
    noise             text NOT NULL DEFAULT '' CHECK (noise IN ('', 'auto_reply', 'list', 'bounce', 'own')),
    -- For a bounce: the recipient that failed and the DSN status (5.1.1).
    bounce_recipient  text NOT NULL DEFAULT '',
    bounce_status     text NOT NULL DEFAULT '',
    -- message_seq is the seq of the contact's messages row for this e-mail.
    message_seq       integer,
    sent_at           timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, message_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX email_messages_contact_idx ON email_messages (tenant_id, contact_id, created_at);
-- The last-resort rule: the same customer and subject within a window.
CREATE INDEX email_messages_subject_idx ON email_messages (tenant_id, customer_id, subject_key, created_at DESC)
    WHERE contact_id IS NOT NULL;

-- email_attachments holds the parts of an e-mail that are files: kept
-- (data set) or refused (data NULL, rejected_reason set: never silently
-- dropped). chat_attachments does not fit: it allows five image and PDF
-- types, and mail carries any type.
CREATE TABLE email_attachments (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    email_id         uuid NOT NULL,
    contact_id       uuid,
    filename         text NOT NULL DEFAULT '',
    content_type     text NOT NULL DEFAULT 'application/octet-stream',
    -- content_id names an inline part (cid:) that sanitised HTML refers to.
    content_id       text NOT NULL DEFAULT '',
    inline           boolean NOT NULL DEFAULT false,
    size             bigint NOT NULL CHECK (size >= 0),
    sha256           bytea,
    data             bytea,
    rejected_reason  text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((data IS NULL) = (rejected_reason <> '')),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, email_id) REFERENCES email_messages (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);
CREATE INDEX email_attachments_email_idx ON email_attachments (tenant_id, email_id);
CREATE INDEX email_attachments_contact_idx ON email_attachments (tenant_id, contact_id) WHERE contact_id IS NOT NULL;

-- email_rejected records the mail the parser refused (malformed, too
-- large): its place in the mailbox and why. The checkpoint still moves
-- past it, so one bad message never blocks a mailbox.
CREATE TABLE email_rejected (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    mailbox_id   uuid NOT NULL,
    uid_validity bigint NOT NULL,
    uid          bigint NOT NULL,
    reason       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, mailbox_id, uid_validity, uid),
    FOREIGN KEY (tenant_id, mailbox_id) REFERENCES mailboxes (tenant_id, id)
);

-- A customer's address that bounced: when and why (the DSN status). Mail
-- to it is not expected to arrive; the next mail from it clears the mark.
ALTER TABLE customer_identities
    ADD COLUMN failing_at     timestamptz,
    ADD COLUMN failure_reason text NOT NULL DEFAULT '';

-- A reply to a thread closed too long ago opens a new contact that links
-- back to the old one, so the timeline shows them together.
ALTER TABLE contacts ADD COLUMN follows_contact_id uuid;
ALTER TABLE contacts ADD FOREIGN KEY (tenant_id, follows_contact_id) REFERENCES contacts (tenant_id, id);

-- +goose Down
ALTER TABLE contacts DROP COLUMN follows_contact_id;
ALTER TABLE customer_identities DROP COLUMN failing_at, DROP COLUMN failure_reason;
DROP TABLE email_rejected;
DROP TABLE email_attachments;
DROP TABLE email_messages;
