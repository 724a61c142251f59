-- +goose Up
-- Outbound webhooks from a durable outbox, and bulk import jobs.
--
-- A change that other systems must hear about writes one outbox row per
-- subscribed endpoint in the change's own transaction (crm.enqueueWebhook),
-- so the event exists exactly when the change does; delivery workers on any
-- node claim due rows with FOR UPDATE SKIP LOCKED, POST them, and record the
-- outcome. A restart loses nothing: an undelivered row stays due.

CREATE TABLE webhook_endpoints (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    url        text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    -- secret signs every delivery (HMAC-SHA256); it has to be stored in
    -- clear because signing needs it, and is shown only when created.
    secret     text NOT NULL CHECK (length(secret) >= 16),
    -- events lists the event names delivered here; empty means all.
    events     text[] NOT NULL DEFAULT '{}',
    active     boolean NOT NULL DEFAULT true,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id) WHERE active;

CREATE TABLE webhook_outbox (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    endpoint_id     uuid NOT NULL,
    event           text NOT NULL,
    -- customer_id is the customer the payload is about, so that purging a
    -- customer can find and erase rows whose payload carries their data.
    -- No foreign key: purge removes the rows, and must not be blocked by them.
    customer_id     uuid,
    -- payload is the event's data: ids and changed fields. It may carry a
    -- customer's personal data, because a dealer's ERP needs it.
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- next_attempt_at is also the claim: a worker that takes the row moves
    -- it past the time its POST may last (a lease), so a worker that dies
    -- mid-delivery leaves the row due again once that time has passed.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    -- failed_at: given up after the maximum age; never retried.
    failed_at       timestamptz,
    -- last_status is the receiver's HTTP status (0: no response);
    -- last_error names the failure class only, never payload data.
    last_status     integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
-- The workers' work list, across tenants.
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
-- Recent deliveries per tenant, newest first.
CREATE INDEX webhook_outbox_recent_idx ON webhook_outbox (tenant_id, created_at DESC);
CREATE INDEX webhook_outbox_customer_idx ON webhook_outbox (tenant_id, customer_id)
    WHERE customer_id IS NOT NULL;
CREATE INDEX webhook_outbox_endpoint_idx ON webhook_outbox (tenant_id, endpoint_id);

-- One bulk import: written on its own before the data transaction, so a
-- failed import is recorded although none of its rows are.
CREATE TABLE import_jobs (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    -- actor_id is the admin who posted the file; NULL from the command line.
    actor_id    uuid,
    source      text NOT NULL CHECK (source IN ('cli', 'api')),
    format      text NOT NULL CHECK (format IN ('csv', 'jsonl')),
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    lines       integer NOT NULL DEFAULT 0,
    created     integer NOT NULL DEFAULT 0,
    updated     integer NOT NULL DEFAULT 0,
    unchanged   integer NOT NULL DEFAULT 0,
    conflicts   integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0,
    -- error is why a failed import failed, without any record's data.
    error       text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, actor_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX import_jobs_tenant_idx ON import_jobs (tenant_id, started_at DESC);

-- The lines of an import that were rejected (bad input) or not applied
-- (conflict), with the reason: field names and rule names, never values.
CREATE TABLE import_rejects (
    tenant_id uuid NOT NULL,
    job_id    uuid NOT NULL,
    line      integer NOT NULL,
    outcome   text NOT NULL CHECK (outcome IN ('rejected', 'conflict')),
    field     text NOT NULL DEFAULT '',
    reason    text NOT NULL,
    FOREIGN KEY (tenant_id, job_id) REFERENCES import_jobs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX import_rejects_job_idx ON import_rejects (tenant_id, job_id, line);

-- +goose Down
DROP TABLE import_rejects;
DROP TABLE import_jobs;
DROP TABLE webhook_outbox;
DROP TABLE webhook_endpoints;
