-- +goose Up
-- Issue 4's gaps: dismissed duplicate suggestions, and API key scopes.

-- A duplicate suggestion an agent or supervisor dismissed ("not the same
-- person": a father and son on one landline). The pair is stored once, the
-- lower id first. identities_a and identities_b are fingerprints (md5 of
-- the sorted kind, system and value of every identity) of the two
-- customers' identities when dismissed: while both still match, the pair
-- is not suggested again; a changed identity on either side brings it back
-- (crm/duplicates.go), without any write path having to remember this
-- table. reason is the dismisser's free text (purge erases it).
CREATE TABLE duplicate_dismissals (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    customer_a    uuid NOT NULL,
    customer_b    uuid NOT NULL,
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    identities_a  text NOT NULL,
    identities_b  text NOT NULL,
    dismissed_by  uuid NOT NULL,
    dismissed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_a, customer_b),
    CHECK (customer_a < customer_b),
    FOREIGN KEY (tenant_id, customer_a) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, customer_b) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, dismissed_by) REFERENCES users (tenant_id, id)
);
-- Looking up the dismissals of one customer from either side.
CREATE INDEX duplicate_dismissals_b_idx ON duplicate_dismissals (tenant_id, customer_b);

-- What an API key may do beyond its role: "timeline" lets it read
-- customers' timelines (contacts with their messages), which a plain read
-- key may not: message text is more than the records a DMS feeds.
ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT api_keys_scopes_known CHECK (scopes <@ ARRAY['timeline']::text[]);

-- +goose Down
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_known, DROP COLUMN scopes;
DROP TABLE duplicate_dismissals;
