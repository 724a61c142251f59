-- +goose Up
-- Merge with undo, the recycle bin and purge (crm/merge.go, crm/recycle.go),
-- and the indexes that duplicate suggestions use (crm/duplicates.go).

-- Similar names. IF NOT EXISTS: the search migration may create it too.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- A customer merged into another is soft-deleted and remembers its
-- survivor, so that undo can find it and a stale link can be followed. A
-- purged customer keeps its row as an anonymous tombstone (no name, notes
-- or identities): contacts, orders, deals and merge records keep pointing at
-- a row, and reports keep counting them.
ALTER TABLE customers
    ADD COLUMN merged_into uuid,
    ADD COLUMN purged_at   timestamptz,
    ADD CONSTRAINT customers_merged_into_fkey FOREIGN KEY (tenant_id, merged_into) REFERENCES customers (tenant_id, id),
    ADD CONSTRAINT customers_merged_is_deleted CHECK (merged_into IS NULL OR deleted_at IS NOT NULL),
    ADD CONSTRAINT customers_purged_is_deleted CHECK (purged_at IS NULL OR deleted_at IS NOT NULL),
    ADD CONSTRAINT customers_not_merged_into_self CHECK (merged_into <> id);
-- The recycle bin and the purge job read deleted, not yet purged customers
-- by deletion time.
CREATE INDEX customers_recycle_idx ON customers (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX customers_purge_due_idx ON customers (deleted_at) WHERE deleted_at IS NOT NULL AND purged_at IS NULL;

-- One merge of others into a survivor. moved is exactly what the merge
-- changed, by row id per table, with each moved row's fingerprint after the
-- move, so that undo can move every row back and refuse when one of them
-- changed since. It holds ids, fingerprints and non-personal settings only
-- (owner, tier, the survivor's notes length); reason is the supervisor's
-- free text and is erased when a customer of the merge is purged.
CREATE TABLE customer_merges (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    survivor_id uuid NOT NULL,
    merged_ids  uuid[] NOT NULL CHECK (cardinality(merged_ids) >= 1),
    actor_id    uuid NOT NULL,
    reason      text NOT NULL DEFAULT '' CHECK (length(reason) <= 1000),
    moved       jsonb NOT NULL CHECK (jsonb_typeof(moved) = 'object'),
    at          timestamptz NOT NULL DEFAULT now(),
    undone_at   timestamptz,
    undone_by   uuid,
    UNIQUE (tenant_id, id),
    CHECK ((undone_at IS NULL) = (undone_by IS NULL)),
    FOREIGN KEY (tenant_id, survivor_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, actor_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, undone_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX customer_merges_survivor_idx ON customer_merges (tenant_id, survivor_id, at DESC);
CREATE INDEX customer_merges_merged_idx ON customer_merges USING gin (merged_ids);

-- A purged contact's lines keep their rows (and so every contact's seq
-- stays gap-free for replay, and message counts stay what they were) but
-- lose their text: body '' and purged true.
ALTER TABLE messages ADD COLUMN purged boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT messages_purged_is_empty CHECK (NOT purged OR body = '');

-- Duplicate suggestions' "partial identity" keys: the e-mail's local part
-- (the same mailbox name at another provider) and a phone's last eight
-- digits (a landline read with another site's area code).
CREATE INDEX customer_identities_email_local_idx ON customer_identities (tenant_id, split_part(value, '@', 1))
    WHERE kind = 'email';
CREATE INDEX customer_identities_phone_tail_idx ON customer_identities (tenant_id, right(value, 8))
    WHERE kind = 'phone';

-- Merge and purge rewrite the contacts that list a customer among their
-- candidates; only ambiguous contacts have any, so the index stays small.
CREATE INDEX contacts_candidates_idx ON contacts USING gin (candidates) WHERE candidates <> '{}';

-- +goose Down
DROP INDEX contacts_candidates_idx;
DROP INDEX customer_identities_phone_tail_idx;
DROP INDEX customer_identities_email_local_idx;
ALTER TABLE messages DROP CONSTRAINT messages_purged_is_empty, DROP COLUMN purged;
DROP TABLE customer_merges;
DROP INDEX customers_purge_due_idx;
DROP INDEX customers_recycle_idx;
ALTER TABLE customers
    DROP CONSTRAINT customers_not_merged_into_self,
    DROP CONSTRAINT customers_purged_is_deleted,
    DROP CONSTRAINT customers_merged_is_deleted,
    DROP CONSTRAINT customers_merged_into_fkey,
    DROP COLUMN purged_at,
    DROP COLUMN merged_into;
