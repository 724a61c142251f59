-- +goose Up
-- Callbacks: an outbound call owed to a customer, scheduled durably and
-- started by whichever node's scheduler claims it first (FOR UPDATE SKIP
-- LOCKED plus the state change make that exactly once). Each attempt is a
-- new outbound voice contact routed like any other; the contact the
-- callback came from keeps its own state ('abandoned'), so service levels
-- stay honest.

-- Contacts we place ourselves are outbound; inbound statistics leave them out.
ALTER TABLE contacts
    ADD COLUMN direction text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound'));

CREATE TABLE callbacks (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    -- origin_contact_id is the abandoned (or e-mailed, or voicemail) contact
    -- the callback answers; NULL when an agent scheduled it on their own.
    origin_contact_id uuid,
    customer_id       uuid NOT NULL,
    queue_id          uuid NOT NULL,
    -- phone is E.164; it is personal data and never leaves this row for a log.
    phone             text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    priority          integer NOT NULL DEFAULT 0,
    due_at            timestamptz NOT NULL,
    -- After deadline no new attempt starts; the callback fails.
    deadline          timestamptz NOT NULL,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 20),
    state             text NOT NULL DEFAULT 'scheduled'
                      CHECK (state IN ('scheduled', 'queued', 'done', 'failed', 'cancelled')),
    -- contact_id is the outbound voice contact of the current (or last) attempt.
    contact_id        uuid,
    last_outcome      text NOT NULL DEFAULT ''
                      CHECK (last_outcome IN ('', 'reached', 'no_answer', 'busy', 'wrong_number', 'expired', 'closed')),
    created_by        uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK (deadline > due_at),
    CHECK (attempts <= max_attempts),
    FOREIGN KEY (tenant_id, origin_contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
-- The schedulers' work list, across tenants.
CREATE INDEX callbacks_due_idx ON callbacks (due_at) WHERE state = 'scheduled';
-- Finding the callback behind the contact an agent holds, and reconciling
-- queued callbacks whose contact was closed without an outcome.
CREATE INDEX callbacks_contact_idx ON callbacks (tenant_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX callbacks_queued_idx ON callbacks (tenant_id) WHERE state = 'queued';
CREATE INDEX callbacks_state_idx ON callbacks (tenant_id, state, due_at);
-- At most one live callback per origin: a retried abandon, an automatic
-- callback and an agent's click never owe the customer two calls.
CREATE UNIQUE INDEX callbacks_live_origin ON callbacks (tenant_id, origin_contact_id)
    WHERE origin_contact_id IS NOT NULL AND state IN ('scheduled', 'queued');

-- Every attempt's contact remembers its callback, also after the next attempt.
ALTER TABLE contacts ADD COLUMN callback_id uuid;
ALTER TABLE contacts ADD FOREIGN KEY (tenant_id, callback_id) REFERENCES callbacks (tenant_id, id);

-- +goose Down
ALTER TABLE contacts DROP COLUMN callback_id;
DROP TABLE callbacks;
ALTER TABLE contacts DROP COLUMN direction;
