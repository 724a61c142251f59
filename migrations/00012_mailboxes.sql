-- +goose Up
-- E-mail (issue 6), part one: the tenant's mailboxes and their IMAP
-- checkpoint. Messages and threading are 00013, the outbox 00014.

-- mailboxes holds one shared inbox the connector reads over IMAP and
-- answers from over SMTP. Passwords are sealed with AES-256-GCM under a key
-- derived from SWITCHBOARD_SECRET (org.Sealer): a database dump alone does
-- not give away the tenant's mail accounts.
CREATE TABLE mailboxes (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    -- site_id is the dealership the mailbox belongs to; NULL: group-wide.
    site_id           uuid,
    -- address is the normalised (lower-case addr-spec) address customers
    -- write to; it names the mailbox to crm when a message is addressed to
    -- several of the tenant's mailboxes.
    address           text NOT NULL CHECK (address <> '' AND address = lower(address)),
    display_name      text NOT NULL DEFAULT '',
    -- queue_id is where new threads arriving here are routed.
    queue_id          uuid NOT NULL,
    imap_host         text NOT NULL,
    imap_port         integer NOT NULL CHECK (imap_port BETWEEN 1 AND 65535),
    imap_security     text NOT NULL DEFAULT 'tls' CHECK (imap_security IN ('tls', 'starttls', 'none')),
    imap_username     text NOT NULL,
    imap_password_enc bytea NOT NULL,
    folder            text NOT NULL DEFAULT 'INBOX',
    smtp_host         text NOT NULL DEFAULT '',
    smtp_port         integer NOT NULL DEFAULT 587 CHECK (smtp_port BETWEEN 1 AND 65535),
    smtp_security     text NOT NULL DEFAULT 'starttls' CHECK (smtp_security IN ('tls', 'starttls', 'none')),
    smtp_username     text NOT NULL DEFAULT '',
    -- smtp_password_enc is NULL when the SMTP server needs no AUTH.
    smtp_password_enc bytea,
    active            boolean NOT NULL DEFAULT true,
    -- The IMAP checkpoint: the folder's UIDVALIDITY and the highest UID
    -- recorded. Written only in the transaction that records the message
    -- (crm.RecordEmail / RecordRejected), so a message and its checkpoint
    -- commit together. 0 and 0: nothing read yet.
    uid_validity      bigint NOT NULL DEFAULT 0 CHECK (uid_validity BETWEEN 0 AND 4294967295),
    last_uid          bigint NOT NULL DEFAULT 0 CHECK (last_uid BETWEEN 0 AND 4294967295),
    -- The ingester's health for the admin: the last error's kind (never a
    -- password or message text) and the last good session.
    last_error        text NOT NULL DEFAULT '',
    last_error_at     timestamptz,
    last_ok_at        timestamptz,
    -- One node reads a mailbox at a time: the ingester holds a lease it
    -- renews while connected (another node's lease past ingest_until is
    -- taken over). The checkpoint, not the lease, keeps ingest exactly once.
    ingest_holder     text NOT NULL DEFAULT '',
    ingest_until      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, address),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id)
);
CREATE INDEX mailboxes_active_idx ON mailboxes (tenant_id) WHERE active;

-- +goose Down
DROP TABLE mailboxes;
