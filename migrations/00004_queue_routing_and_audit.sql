-- +goose Up
-- Queue routing settings (org.Queue) and the audit trail of admins' and
-- supervisors' changes. One file at version 4: version 2 was already
-- taken by 00002_event_cursor.sql, and 3 is reserved for another change.

-- calendar is org.Calendar's JSON (see org/calendar_json.go); NULL: always open.
ALTER TABLE queues
    ADD COLUMN calendar              jsonb CHECK (calendar IS NULL OR jsonb_typeof(calendar) = 'object'),
    ADD COLUMN closed_action         text NOT NULL DEFAULT ''
        CHECK (closed_action IN ('', 'message', 'voicemail', 'callback')),
    ADD COLUMN closed_message        text NOT NULL DEFAULT '' CHECK (length(closed_message) <= 1000),
    -- Zero means "no limit" for the limits and "never" for widening.
    ADD COLUMN max_wait_seconds      integer NOT NULL DEFAULT 0 CHECK (max_wait_seconds BETWEEN 0 AND 604800),
    ADD COLUMN overflow_queue_id     uuid,
    ADD COLUMN widen_after_seconds   integer NOT NULL DEFAULT 0 CHECK (widen_after_seconds BETWEEN 0 AND 604800),
    ADD COLUMN widened_skills        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(widened_skills) = 'object'),
    ADD COLUMN max_length            integer NOT NULL DEFAULT 0 CHECK (max_length BETWEEN 0 AND 100000),
    ADD COLUMN ageing_step_seconds   integer NOT NULL DEFAULT 0 CHECK (ageing_step_seconds BETWEEN 0 AND 86400),
    ADD COLUMN ageing_max            integer NOT NULL DEFAULT 0 CHECK (ageing_max BETWEEN 0 AND 1000),
    -- Zero takes routing's default window.
    ADD COLUMN prefer_window_seconds integer NOT NULL DEFAULT 0 CHECK (prefer_window_seconds BETWEEN 0 AND 3600),
    ADD COLUMN auto_callback         boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT queues_overflow_not_self CHECK (overflow_queue_id <> id),
    ADD CONSTRAINT queues_message_needs_text CHECK (closed_action <> 'message' OR closed_message <> ''),
    -- The tenant is part of the key: a queue never overflows into another tenant.
    ADD CONSTRAINT queues_overflow_fkey FOREIGN KEY (tenant_id, overflow_queue_id) REFERENCES queues (tenant_id, id);

ALTER TABLE agents ADD COLUMN voice_blocks_chat boolean NOT NULL DEFAULT false;

-- audit_log records who changed what: queue and agent settings, forced
-- presence, contacts moved between queues. Each row is written in the
-- transaction of the change it records. data holds ids and setting
-- values, never personal data (no names, phones, e-mails, free text).
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    actor_id    uuid NOT NULL,
    action      text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    target_kind text NOT NULL CHECK (target_kind ~ '^[a-z_]+$'),
    target_id   uuid NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, actor_id) REFERENCES users (tenant_id, id)
);
-- The admin page reads a tenant's newest entries first, paging by id.
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id DESC);

-- +goose Down
DROP TABLE audit_log;
ALTER TABLE agents DROP COLUMN voice_blocks_chat;
ALTER TABLE queues
    DROP CONSTRAINT queues_overflow_fkey,
    DROP CONSTRAINT queues_message_needs_text,
    DROP CONSTRAINT queues_overflow_not_self,
    DROP COLUMN calendar, DROP COLUMN closed_action, DROP COLUMN closed_message,
    DROP COLUMN max_wait_seconds, DROP COLUMN overflow_queue_id, DROP COLUMN widen_after_seconds,
    DROP COLUMN widened_skills, DROP COLUMN max_length, DROP COLUMN ageing_step_seconds,
    DROP COLUMN ageing_max, DROP COLUMN prefer_window_seconds, DROP COLUMN auto_callback;
