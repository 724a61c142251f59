-- +goose Up
-- The walking skeleton's schema. Every tenant table carries tenant_id, has
-- UNIQUE (tenant_id, id) and references other tenant tables through
-- (tenant_id, x_id), so a row can never point into another tenant.

CREATE TABLE tenants (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    default_zone text NOT NULL DEFAULT 'Asia/Shanghai',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    name            text NOT NULL,
    zone            text NOT NULL DEFAULT 'Asia/Shanghai',
    country         text NOT NULL DEFAULT 'CN',
    area_code       text NOT NULL DEFAULT '',
    -- chat_key is the public widget key; it alone tells intake the tenant and site.
    chat_key        text NOT NULL UNIQUE,
    -- allowed_origins lists the web origins allowed to open the chat widget.
    allowed_origins text[] NOT NULL DEFAULT '{}',
    chat_queue_id   uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    site_id       uuid,
    email         text NOT NULL,
    display_name  text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);
-- Logins are by e-mail across all tenants.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX sessions_user_idx ON sessions (tenant_id, user_id);

-- agents holds what routing needs of a user who takes contacts.
CREATE TABLE agents (
    id             uuid NOT NULL,
    tenant_id      uuid NOT NULL,
    capacity_voice integer NOT NULL DEFAULT 1 CHECK (capacity_voice >= 0),
    capacity_chat  integer NOT NULL DEFAULT 3 CHECK (capacity_chat >= 0),
    capacity_email integer NOT NULL DEFAULT 5 CHECK (capacity_email >= 0),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id),
    FOREIGN KEY (tenant_id, id) REFERENCES users (tenant_id, id)
);

CREATE TABLE agent_skills (
    tenant_id uuid NOT NULL,
    agent_id  uuid NOT NULL,
    skill     text NOT NULL,
    level     integer NOT NULL DEFAULT 1 CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (tenant_id, agent_id, skill),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
);

-- Presence is what the agent chose; "connected" lives in Redis.
CREATE TABLE agent_presence (
    tenant_id uuid NOT NULL,
    agent_id  uuid NOT NULL,
    state     text NOT NULL CHECK (state IN ('offline', 'available', 'away')),
    reason    text NOT NULL DEFAULT '',
    since     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, agent_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
);

CREATE TABLE agent_presence_history (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL,
    agent_id  uuid NOT NULL,
    state     text NOT NULL,
    reason    text NOT NULL DEFAULT '',
    at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
);

CREATE TABLE queues (
    id                    uuid PRIMARY KEY,
    tenant_id             uuid NOT NULL REFERENCES tenants (id),
    site_id               uuid,
    name                  text NOT NULL,
    -- skills maps a required skill to its minimum level.
    skills                jsonb NOT NULL DEFAULT '{}',
    strategy              text NOT NULL DEFAULT 'longest_idle',
    priority              integer NOT NULL DEFAULT 0,
    sla_seconds           integer NOT NULL DEFAULT 20 CHECK (sla_seconds > 0),
    offer_timeout_seconds integer NOT NULL DEFAULT 20 CHECK (offer_timeout_seconds > 0),
    wrap_up_seconds       integer NOT NULL DEFAULT 30 CHECK (wrap_up_seconds >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);

ALTER TABLE sites ADD FOREIGN KEY (tenant_id, chat_queue_id) REFERENCES queues (tenant_id, id);

CREATE TABLE customers (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    kind        text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'company')),
    name        text NOT NULL DEFAULT '',
    language    text NOT NULL DEFAULT '',
    notes       text NOT NULL DEFAULT '',
    tier        text NOT NULL DEFAULT 'standard',
    owner_id    uuid,
    site_id     uuid,
    deleted_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);

-- Identities are indexed, not unique: a household landline or a fleet
-- number belongs to several customers.
CREATE TABLE customer_identities (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    customer_id    uuid NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('phone', 'email', 'chat', 'wechat', 'external')),
    system         text NOT NULL DEFAULT '',
    value          text NOT NULL,
    consent_source text NOT NULL DEFAULT '',
    consent_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, customer_id, kind, system, value),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX customer_identities_lookup ON customer_identities (tenant_id, kind, value);

CREATE TABLE vehicles (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    vin           text NOT NULL DEFAULT '',
    plate         text NOT NULL DEFAULT '',
    make          text NOT NULL DEFAULT '',
    model         text NOT NULL DEFAULT '',
    year          integer,
    mileage_km    integer,
    purchase_date date,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX vehicles_vin_idx ON vehicles (tenant_id, vin) WHERE vin <> '';
CREATE INDEX vehicles_plate_idx ON vehicles (tenant_id, plate) WHERE plate <> '';

CREATE TABLE customer_vehicles (
    tenant_id   uuid NOT NULL,
    customer_id uuid NOT NULL,
    vehicle_id  uuid NOT NULL,
    role        text NOT NULL DEFAULT 'owner',
    PRIMARY KEY (tenant_id, customer_id, vehicle_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX customer_vehicles_vehicle_idx ON customer_vehicles (tenant_id, vehicle_id);

CREATE TABLE service_orders (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    site_id     uuid,
    number      text NOT NULL,
    kind        text NOT NULL DEFAULT 'repair' CHECK (kind IN ('repair', 'maintenance', 'warranty')),
    customer_id uuid NOT NULL,
    vehicle_id  uuid,
    status      text NOT NULL CHECK (status IN ('booked', 'in_progress', 'waiting_parts', 'ready', 'collected')),
    advisor_id  uuid,
    description text NOT NULL DEFAULT '',
    promised_at timestamptz,
    amount      numeric(12, 2) NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id),
    FOREIGN KEY (tenant_id, advisor_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX service_orders_customer_idx ON service_orders (tenant_id, customer_id, created_at DESC);

CREATE TABLE deals (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    customer_id    uuid NOT NULL,
    stage          text NOT NULL CHECK (stage IN ('lead', 'qualified', 'test_drive', 'offer', 'won', 'lost')),
    vehicle_desc   text NOT NULL DEFAULT '',
    salesperson_id uuid,
    value          numeric(12, 2) NOT NULL DEFAULT 0,
    expected_close date,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, salesperson_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX deals_customer_idx ON deals (tenant_id, customer_id);

CREATE TABLE contacts (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    site_id     uuid,
    channel     text NOT NULL CHECK (channel IN ('voice', 'chat', 'email')),
    queue_id    uuid NOT NULL,
    customer_id uuid,
    -- candidates holds the customers an identity matched when it matched
    -- more than one; the agent chooses in the screen-pop.
    candidates  uuid[] NOT NULL DEFAULT '{}',
    state       text NOT NULL CHECK (state IN ('queued', 'active', 'pending', 'closed', 'abandoned')),
    priority    integer NOT NULL DEFAULT 0,
    subject     text NOT NULL DEFAULT '',
    -- arrived_at is the contact's age for routing; re-queues keep it.
    arrived_at  timestamptz NOT NULL,
    last_seq    integer NOT NULL DEFAULT 0,
    wrap_up     text NOT NULL DEFAULT '',
    closed_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX contacts_queued_idx ON contacts (tenant_id, arrived_at) WHERE state = 'queued';
CREATE INDEX contacts_customer_idx ON contacts (tenant_id, customer_id, created_at DESC);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    contact_id      uuid NOT NULL,
    -- seq orders a conversation; assigned in the insert's transaction.
    seq             integer NOT NULL,
    author_kind     text NOT NULL CHECK (author_kind IN ('customer', 'agent', 'system')),
    author_id       uuid,
    body            text NOT NULL,
    -- idempotency_key makes a resent inbound item a no-op.
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, contact_id, seq),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);
CREATE UNIQUE INDEX messages_idempotency_key ON messages (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- contact_events is append-only. xact_id lets readers follow it with a
-- cursor that never skips rows of transactions that commit out of order.
CREATE TABLE contact_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    contact_id uuid NOT NULL,
    kind       text NOT NULL,
    queue_id   uuid,
    agent_id   uuid,
    data       jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT now(),
    xact_id    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);
CREATE INDEX contact_events_contact_idx ON contact_events (tenant_id, contact_id, id);

CREATE TABLE assignments (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    contact_id uuid NOT NULL,
    agent_id   uuid NOT NULL,
    -- offer_id makes the accept idempotent.
    offer_id   uuid NOT NULL UNIQUE,
    started_at timestamptz NOT NULL DEFAULT now(),
    wrap_up_at timestamptz,
    ended_at   timestamptz,
    end_reason text,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
);
-- The database itself forbids two agents on one contact.
CREATE UNIQUE INDEX assignments_open_contact ON assignments (tenant_id, contact_id) WHERE ended_at IS NULL;
CREATE INDEX assignments_open_agent ON assignments (tenant_id, agent_id) WHERE ended_at IS NULL;

-- One routing engine per tenant runs, on the node holding this lease.
CREATE TABLE routing_lease (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
    holder     text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE routing_lease, assignments, contact_events, messages, contacts, deals,
    service_orders, customer_vehicles, vehicles, customer_identities, customers,
    queues, agent_presence_history, agent_presence, agent_skills, agents,
    sessions, users, sites, tenants CASCADE;
