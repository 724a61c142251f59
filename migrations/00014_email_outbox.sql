-- +goose Up
-- E-mail (issue 6), part three: the agent's replies and chat transcripts
-- leave through a durable outbox; canned responses; the agent's uploads.
--
-- QueueReply writes the thread's line (messages), the e-mail row
-- (email_messages, direction 'out', 00013) and one outbox row in a single
-- transaction, so a reply exists exactly when its delivery is owed. Workers
-- on any node claim due rows with FOR UPDATE SKIP LOCKED (as webhook_outbox
-- does), send them over SMTP from the mailbox's settings, and record the
-- outcome; a restart loses nothing, because an unsent row stays due.

CREATE TABLE email_outbox (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    contact_id       uuid NOT NULL,
    mailbox_id       uuid NOT NULL,
    -- agent_id is the agent who wrote the reply and is told of a failure;
    -- NULL for a transcript a visitor asked for.
    agent_id         uuid,
    kind             text NOT NULL CHECK (kind IN ('reply', 'transcript')),
    -- client_id makes a resent request (a double click, a retried POST) a
    -- no-op: one outbox row per (tenant, contact, kind, client id).
    client_id        text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 64),
    -- email_message_id is the thread's row for a reply (email_messages,
    -- 00013, direction 'out'); NULL for a transcript, which is not part of
    -- an e-mail thread.
    email_message_id uuid,
    to_addrs         text[] NOT NULL CHECK (cardinality(to_addrs) > 0),
    cc_addrs         text[] NOT NULL DEFAULT '{}',
    subject          text NOT NULL,
    text_body        text NOT NULL,
    html_body        text,
    -- The threading headers, fixed when the reply is queued so that every
    -- retry sends the same message (RFC 5322 §3.6.4). Ids are stored
    -- without angle brackets, as in email_messages. A reply's attachments
    -- are its email_message's (email_attachments); a transcript has none.
    message_id       text NOT NULL,
    in_reply_to      text NOT NULL DEFAULT '',
    "references"     text[] NOT NULL DEFAULT '{}',
    reply_token      text NOT NULL DEFAULT '',
    state            text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- next_attempt_at is also the claim: a worker that takes the row moves
    -- it past the time its SMTP session may last (a lease), so a worker that
    -- dies mid-send leaves the row due again once that time has passed.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- last_error names the failure class and SMTP code only (for example
    -- "smtp 550" or "dial"), never an address or message text.
    last_error       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    failed_at        timestamptz,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, message_id),
    UNIQUE (tenant_id, contact_id, kind, client_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, mailbox_id) REFERENCES mailboxes (tenant_id, id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, email_message_id) REFERENCES email_messages (tenant_id, id)
);
-- The workers' work list, across tenants.
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at)
    WHERE state IN ('queued', 'sending');
CREATE INDEX email_outbox_contact_idx ON email_outbox (tenant_id, contact_id, created_at);

-- email_uploads holds files an agent attached to a reply not yet sent:
-- email_attachments (00013) needs the e-mail a file belongs to, which does
-- not exist until the reply is queued. QueueReply moves an upload into
-- email_attachments of the reply's email_messages row in its transaction;
-- an upload belongs to the contact and agent it was made for.
CREATE TABLE email_uploads (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    contact_id   uuid NOT NULL,
    uploaded_by  uuid NOT NULL,
    name         text NOT NULL DEFAULT '',
    content_type text NOT NULL,
    size         integer NOT NULL CHECK (size > 0),
    sha256       bytea NOT NULL,
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, uploaded_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX email_uploads_contact_idx ON email_uploads (tenant_id, contact_id);

-- canned_responses are a tenant's reusable reply texts. The body may carry
-- placeholders from a fixed set ({{customer.name}}, {{agent.name}},
-- {{order.number}}, …) that crm.RenderCanned fills; unknown ones are left
-- as written so the agent sees them.
CREATE TABLE canned_responses (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    -- language is a BCP 47 tag ('en', 'zh-CN'); '' fits every language.
    language   text NOT NULL DEFAULT '',
    created_by uuid,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX canned_responses_tenant_idx ON canned_responses (tenant_id, title) WHERE active;

-- +goose Down
DROP TABLE canned_responses;
DROP TABLE email_uploads;
DROP TABLE email_outbox;
