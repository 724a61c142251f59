-- +goose Up
-- The phone channel (issue 7): the telephony a tenant connects, the numbers
-- of its hotline, how agents' phones are reached, and one record per call.

-- phone_connectors is one telephony entry point: a PBX script calling the
-- generic CTI webhook, a Zammad-format PBX, a Twilio account, an Asterisk
-- AMI. The tenant of every call event comes from here (the connector id or
-- URL token in the request), never from the payload.
CREATE TABLE phone_connectors (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text NOT NULL CHECK (name <> ''),
    kind         text NOT NULL CHECK (kind IN ('generic', 'zammad', 'twilio', 'asterisk')),
    -- control: Switchboard routes and tells the telephony where to connect;
    -- observe: the PBX routes, Switchboard pops and records.
    mode         text NOT NULL CHECK (mode IN ('control', 'observe')),
    -- secret_enc is the HMAC key, Twilio auth token or AMI password, sealed
    -- with AES-256-GCM under SWITCHBOARD_SECRET (org.Sealer).
    secret_enc   bytea NOT NULL,
    -- url_token_hash: SHA-256 of the URL token that authenticates a Zammad
    -- PBX (Zammad's integrations send a token in the URL, nothing else).
    url_token_hash bytea UNIQUE,
    callback_url text NOT NULL DEFAULT '',
    account_sid  text NOT NULL DEFAULT '',
    api_base     text NOT NULL DEFAULT '',
    address      text NOT NULL DEFAULT '',
    username     text NOT NULL DEFAULT '',
    context      text NOT NULL DEFAULT '',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK (kind <> 'zammad' OR mode = 'observe')
);

-- phone_numbers: the hotline. A dialled number sets the site and the
-- default department (queue); the menu maps digits to departments. The
-- number '*' catches whatever else the connector sends.
CREATE TABLE phone_numbers (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    connector_id uuid NOT NULL,
    number       text NOT NULL CHECK (number = '*' OR number ~ '^\+?[0-9]{2,20}$'),
    site_id      uuid,
    queue_id     uuid NOT NULL,
    -- language of what callers hear: 'en' or 'zh-CN'.
    language     text NOT NULL DEFAULT 'zh-CN' CHECK (language IN ('en', 'zh-CN')),
    -- menu: [{"digit": "1", "department": "enquiries", "queue_id": "…"}]
    menu         jsonb NOT NULL DEFAULT '[]',
    UNIQUE (tenant_id, id),
    UNIQUE (connector_id, number),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES phone_connectors (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id)
);

-- agent_phones: how an agent is reached through a connector. The extension
-- also tells observe mode whose console a ring at the PBX pops on.
CREATE TABLE agent_phones (
    tenant_id    uuid NOT NULL,
    agent_id     uuid NOT NULL,
    connector_id uuid NOT NULL,
    extension    text NOT NULL CHECK (extension ~ '^[A-Za-z0-9_.@+-]{1,64}$'),
    dial         text NOT NULL DEFAULT 'client' CHECK (dial IN ('client', 'number')),
    -- number: E.164, personal data, for dial 'number'.
    number       text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, agent_id, connector_id),
    UNIQUE (connector_id, extension),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES phone_connectors (tenant_id, id)
);

-- calls: one row per call a connector told us of. contact_id is set once
-- the caller waits in a queue (or, in observe mode, from the first ring);
-- a caller still in the menu has none yet.
CREATE TABLE calls (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    connector_id    uuid NOT NULL,
    -- call_id: the connector's id (CallSid, Linkedid, the PBX's call id).
    call_id         text NOT NULL CHECK (call_id <> '' AND length(call_id) <= 128),
    contact_id      uuid,
    site_id         uuid,
    number_id       uuid,
    customer_id     uuid,
    candidates      uuid[] NOT NULL DEFAULT '{}',
    direction       text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    -- from_number and dialled: E.164 where they parse, else as sent;
    -- personal data, never logged.
    from_number     text NOT NULL DEFAULT '',
    dialled         text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT 'menu'
                    CHECK (state IN ('menu', 'queued', 'connecting', 'ringing', 'talking', 'held', 'ended')),
    -- The agent Switchboard connected (control) or whose extension rang or
    -- answered (observe), with the extension.
    agent_id        uuid,
    extension       text NOT NULL DEFAULT '',
    connect_key     text NOT NULL DEFAULT '',
    connect_at      timestamptz,
    menu_tries      integer NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL,
    queued_at       timestamptz,
    answered_at     timestamptz,
    held_at         timestamptz,
    hold_seconds    double precision NOT NULL DEFAULT 0,
    ended_at        timestamptz,
    cause           text NOT NULL DEFAULT '',
    recording_url   text NOT NULL DEFAULT '',
    transferred_to  text NOT NULL DEFAULT '',
    last_event_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, connector_id, call_id),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES phone_connectors (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE UNIQUE INDEX calls_contact_idx ON calls (tenant_id, contact_id) WHERE contact_id IS NOT NULL;
-- The connect sweeper's work list: calls routed to an agent whose leg has
-- not answered yet.
CREATE INDEX calls_connecting_idx ON calls (connect_at) WHERE state IN ('connecting', 'ringing');
CREATE INDEX calls_live_idx ON calls (tenant_id, last_event_at) WHERE state <> 'ended';

-- call_events makes every connector event idempotent: the same event id
-- twice is recorded once.
CREATE TABLE call_events (
    tenant_id    uuid NOT NULL,
    connector_id uuid NOT NULL,
    event_id     text NOT NULL CHECK (event_id <> '' AND length(event_id) <= 256),
    call_id      text NOT NULL,
    kind         text NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, connector_id, event_id),
    FOREIGN KEY (tenant_id, connector_id) REFERENCES phone_connectors (tenant_id, id)
);

-- +goose Down
DROP TABLE call_events;
DROP TABLE calls;
DROP TABLE agent_phones;
DROP TABLE phone_numbers;
DROP TABLE phone_connectors;
