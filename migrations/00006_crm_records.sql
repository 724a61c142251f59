-- +goose Up
-- The CRM's records as other systems feed them: external ids on vehicles,
-- orders and deals (a customer's external id is a customer_identities row of
-- kind 'external'), the columns the upsert compares, follow-ups, and API
-- keys for systems.

-- An external id is (system, id): "dms", "R-1001". '' means none. One
-- system's id names one record of a tenant, so an upsert finds it with one
-- index lookup and two systems never collide.
ALTER TABLE vehicles
    ADD COLUMN external_system text NOT NULL DEFAULT '',
    ADD COLUMN external_id     text NOT NULL DEFAULT '',
    -- updated_at moves only when a write changed something: an idempotent
    -- upsert of the same record leaves it as it was.
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT vehicles_external_pair CHECK ((external_system = '') = (external_id = '')),
    ADD CONSTRAINT vehicles_year_range CHECK (year IS NULL OR year BETWEEN 1886 AND 2100),
    ADD CONSTRAINT vehicles_mileage_range CHECK (mileage_km IS NULL OR mileage_km >= 0);
CREATE UNIQUE INDEX vehicles_external_key ON vehicles (tenant_id, external_system, external_id) WHERE external_id <> '';

ALTER TABLE service_orders
    ADD COLUMN external_system text NOT NULL DEFAULT '',
    ADD COLUMN external_id     text NOT NULL DEFAULT '',
    -- warranty_claim is the manufacturer's claim number of a warranty order.
    ADD COLUMN warranty_claim  text NOT NULL DEFAULT '',
    ADD CONSTRAINT service_orders_external_pair CHECK ((external_system = '') = (external_id = '')),
    ADD CONSTRAINT service_orders_claim_is_warranty CHECK (warranty_claim = '' OR kind = 'warranty'),
    ADD CONSTRAINT service_orders_amount_nonnegative CHECK (amount >= 0);
CREATE UNIQUE INDEX service_orders_external_key ON service_orders (tenant_id, external_system, external_id) WHERE external_id <> '';

ALTER TABLE deals
    ADD COLUMN external_system text NOT NULL DEFAULT '',
    ADD COLUMN external_id     text NOT NULL DEFAULT '',
    -- vehicle_id is the vehicle of interest when it is a known one (a trade-in
    -- or a car in stock); vehicle_desc stays for "a white SUV".
    ADD COLUMN vehicle_id      uuid,
    ADD COLUMN contract_ref    text NOT NULL DEFAULT '',
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT deals_external_pair CHECK ((external_system = '') = (external_id = '')),
    ADD CONSTRAINT deals_value_nonnegative CHECK (value >= 0),
    ADD CONSTRAINT deals_vehicle_fkey FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id);
CREATE UNIQUE INDEX deals_external_key ON deals (tenant_id, external_system, external_id) WHERE external_id <> '';

-- A customer's relation to a vehicle: owner (registered keeper), driver
-- (drives it, e.g. a company car's user), household (family member who
-- calls about it), fleet (a company's fleet contact).
ALTER TABLE customer_vehicles
    ADD CONSTRAINT customer_vehicles_role_check CHECK (role IN ('owner', 'driver', 'household', 'fleet'));

-- An external id identity names its system; one system's id names one
-- customer of a tenant (other kinds stay indexed, not unique).
ALTER TABLE customer_identities
    ADD CONSTRAINT customer_identities_external_system CHECK (kind <> 'external' OR system <> '');
CREATE UNIQUE INDEX customer_identities_external_key ON customer_identities (tenant_id, system, value) WHERE kind = 'external';

-- A follow-up is one agent's task about a customer: call them back,
-- remember something. Never routed (callbacks are); done or open.
CREATE TABLE follow_ups (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    customer_id uuid NOT NULL,
    -- contact_id is the conversation it came from, when there was one.
    contact_id  uuid,
    assigned_to uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('callback', 'reminder')),
    due_at      timestamptz NOT NULL,
    done_at     timestamptz,
    -- note is free text: personal data, never logged.
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, assigned_to) REFERENCES agents (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
-- An agent's open tasks by due time; a customer's (screen-pop: open ones).
CREATE INDEX follow_ups_agent_open_idx ON follow_ups (tenant_id, assigned_to, due_at) WHERE done_at IS NULL;
CREATE INDEX follow_ups_customer_idx ON follow_ups (tenant_id, customer_id, due_at);

-- API keys let other systems (DMS, ERP) call the REST API. A key is
-- "sbk_<prefix>_<secret>": prefix finds the row (unique across tenants, as
-- the tenant is not known before the lookup), secret_hash is SHA-256 of the
-- 32-byte random secret. The secret has full entropy, so a fast hash is
-- safe and verification is one indexed lookup plus a constant-time compare.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    -- read: GET only; write: also creates, updates and upserts.
    role         text NOT NULL CHECK (role IN ('read', 'write')),
    created_by   uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at DESC);

-- +goose Down
DROP TABLE api_keys, follow_ups;
DROP INDEX customer_identities_external_key;
ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_external_system;
ALTER TABLE customer_vehicles DROP CONSTRAINT customer_vehicles_role_check;
DROP INDEX deals_external_key;
ALTER TABLE deals DROP CONSTRAINT deals_vehicle_fkey, DROP CONSTRAINT deals_value_nonnegative,
    DROP CONSTRAINT deals_external_pair,
    DROP COLUMN external_system, DROP COLUMN external_id, DROP COLUMN vehicle_id,
    DROP COLUMN contract_ref, DROP COLUMN updated_at;
DROP INDEX service_orders_external_key;
ALTER TABLE service_orders DROP CONSTRAINT service_orders_amount_nonnegative,
    DROP CONSTRAINT service_orders_claim_is_warranty, DROP CONSTRAINT service_orders_external_pair,
    DROP COLUMN external_system, DROP COLUMN external_id, DROP COLUMN warranty_claim;
DROP INDEX vehicles_external_key;
ALTER TABLE vehicles DROP CONSTRAINT vehicles_mileage_range, DROP CONSTRAINT vehicles_year_range,
    DROP CONSTRAINT vehicles_external_pair,
    DROP COLUMN external_system, DROP COLUMN external_id, DROP COLUMN updated_at;
