-- +goose Up
-- Visibility of customers across a dealer group's sites, sharing, teams,
-- who may see full phone numbers and e-mail addresses, and computed tiers.
-- Under PIPL each dealership may be its own legal entity, so a tenant can
-- keep each site's customers to that site (plus explicit shares).

-- customer_visibility: 'group' lets every user see every customer;
-- 'site' lets a user see the customers whose site of record is their own
-- site, customers without a site of record, and those shared with their
-- site or one of their teams. Supervisors and admins without a site, and
-- admins always, see the group (crm.ScopeFor).
-- reveal_role is the least role that may see full numbers and addresses
-- (each full view is audited); the others see them masked.
ALTER TABLE tenants
    ADD COLUMN customer_visibility text NOT NULL DEFAULT 'group'
        CHECK (customer_visibility IN ('group', 'site')),
    ADD COLUMN reveal_role text NOT NULL DEFAULT 'supervisor'
        CHECK (reveal_role IN ('agent', 'supervisor', 'admin'));

-- Teams are groups of users (a sales team, a service desk) that customers
-- can be shared with. Minimal: a name, an optional site, members.
CREATE TABLE teams (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    name       text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    site_id    uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);

CREATE TABLE team_members (
    tenant_id uuid NOT NULL,
    team_id   uuid NOT NULL,
    user_id   uuid NOT NULL,
    PRIMARY KEY (tenant_id, team_id, user_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX team_members_user_idx ON team_members (tenant_id, user_id);

-- A share makes one customer visible to one site or one team in addition
-- to the customer's site of record. Exactly one of site_id, team_id.
CREATE TABLE customer_shares (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    customer_id uuid NOT NULL,
    site_id     uuid,
    team_id     uuid,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((site_id IS NULL) <> (team_id IS NULL)),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
CREATE UNIQUE INDEX customer_shares_site_key ON customer_shares (tenant_id, customer_id, site_id) WHERE site_id IS NOT NULL;
CREATE UNIQUE INDEX customer_shares_team_key ON customer_shares (tenant_id, customer_id, team_id) WHERE team_id IS NOT NULL;
-- Scope filters (search, lists) look shares up from the viewer's side.
CREATE INDEX customer_shares_site_idx ON customer_shares (tenant_id, site_id, customer_id) WHERE site_id IS NOT NULL;
CREATE INDEX customer_shares_team_idx ON customer_shares (tenant_id, team_id, customer_id) WHERE team_id IS NOT NULL;

-- Site-scoped reads filter customers by site of record; owners are looked
-- up for "my customers".
CREATE INDEX customers_site_idx ON customers (tenant_id, site_id);
CREATE INDEX customers_owner_idx ON customers (tenant_id, owner_id) WHERE owner_id IS NOT NULL;

-- Who saw a customer's full data (customer.reveal) and every other audited
-- change of one record are looked up by target: PIPL access requests, and
-- the once-per-contact audit of a callback's number.
CREATE INDEX audit_log_target_idx ON audit_log (tenant_id, target_kind, target_id, id DESC);

-- Computed tiers (crm.RecomputeTiers): the revenue over the job's window
-- that decided the tier, and when. Tiers other than gold, growth and
-- standard (set by hand or by an import, e.g. 'vip') are left alone.
ALTER TABLE customers
    ADD COLUMN revenue          numeric(14, 2) NOT NULL DEFAULT 0,
    ADD COLUMN tier_computed_at timestamptz;

-- Won deals count toward revenue when they were won. A trigger stamps
-- won_at, so that every path that moves a deal to 'won' (API, upsert,
-- import) dates it without knowing about tiers; deals won before this
-- migration take their creation date.
ALTER TABLE deals ADD COLUMN won_at timestamptz;
UPDATE deals SET won_at = created_at WHERE stage = 'won';
CREATE INDEX deals_won_idx ON deals (tenant_id, won_at) WHERE stage = 'won';

-- +goose StatementBegin
CREATE FUNCTION deals_stamp_won_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.stage = 'won' AND NEW.won_at IS NULL THEN
        NEW.won_at := now();
    ELSIF NEW.stage <> 'won' THEN
        NEW.won_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER deals_stamp_won_at BEFORE INSERT OR UPDATE OF stage, won_at ON deals
    FOR EACH ROW EXECUTE FUNCTION deals_stamp_won_at();

-- tier_runs is the tier job's state and history: one row per run, so that
-- the daily loop on any node knows whether a tenant is due (and the
-- counts are there for an admin). Counts only, no personal data.
CREATE TABLE tier_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    ran_at       timestamptz NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    customers    integer NOT NULL,
    gold         integer NOT NULL,
    growth       integer NOT NULL,
    standard     integer NOT NULL,
    revenue      numeric(16, 2) NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX tier_runs_tenant_idx ON tier_runs (tenant_id, ran_at DESC);

-- +goose Down
DROP TABLE tier_runs;
DROP TRIGGER deals_stamp_won_at ON deals;
DROP FUNCTION deals_stamp_won_at();
ALTER TABLE deals DROP COLUMN won_at;
ALTER TABLE customers DROP COLUMN revenue, DROP COLUMN tier_computed_at;
DROP INDEX audit_log_target_idx;
DROP INDEX customers_owner_idx;
DROP INDEX customers_site_idx;
DROP TABLE customer_shares;
DROP TABLE team_members;
DROP TABLE teams;
ALTER TABLE tenants DROP COLUMN customer_visibility, DROP COLUMN reveal_role;
