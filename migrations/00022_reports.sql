-- +goose Up
-- Reports (issue 8): contact events folded by the stats functions into
-- 15-minute rows, so that a report reads sums of a few rows instead of
-- scanning live tables, and agrees with the wallboard. Hours and days are
-- sums of these rows in the zone of the row's site (or the tenant's):
-- every zone's offset is a multiple of 15 minutes.

-- report_intervals: the raw counts of stats.Counts plus callbacks, per
-- 15-minute interval, queue, channel and agent; durations in microseconds,
-- as PostgreSQL keeps times, so sums are exact. A contact's figures are filed under the interval it arrived in
-- (a transfer arrives anew in its target queue), so an interval's service
-- level is that of the contacts offered in it; callbacks are filed under
-- the interval they were made or missed in. agent_id is the nil uuid for
-- what no agent held (offered, most abandons).
CREATE TABLE report_intervals (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    interval_start   timestamptz NOT NULL CHECK (date_part('epoch', interval_start)::bigint % 900 = 0),
    queue_id         uuid NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('voice', 'chat', 'email')),
    agent_id         uuid NOT NULL,
    -- site_id: the queue's site when the row was first written (null:
    -- group-wide); its zone decides the row's hour and day.
    site_id          uuid,
    offered          integer NOT NULL DEFAULT 0,
    answered         integer NOT NULL DEFAULT 0,
    answered_within  integer NOT NULL DEFAULT 0,
    abandoned        integer NOT NULL DEFAULT 0,
    abandoned_within integer NOT NULL DEFAULT 0,
    short_abandons   integer NOT NULL DEFAULT 0,
    transferred_in   integer NOT NULL DEFAULT 0,
    transferred_out  integer NOT NULL DEFAULT 0,
    handled          integer NOT NULL DEFAULT 0,
    wait_answered_us bigint NOT NULL DEFAULT 0,
    handle_us        bigint NOT NULL DEFAULT 0,
    talk_us          bigint NOT NULL DEFAULT 0,
    hold_us          bigint NOT NULL DEFAULT 0,
    wrap_up_us       bigint NOT NULL DEFAULT 0,
    callbacks_made   integer NOT NULL DEFAULT 0,
    callbacks_missed integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, interval_start, queue_id, channel, agent_id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);

-- report_cursor: how far each tenant's events are folded into the rows. It
-- commits with the rows, so a builder that stops anywhere resumes without
-- counting an event twice. Events are read in (xact_id, id) order below
-- pg_snapshot_xmin (see crm.EventsSince): a transaction that commits late
-- is never skipped.
CREATE TABLE report_cursor (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
    xact_id    xid8 NOT NULL DEFAULT '0',
    event_id   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- report_open: contacts the fold still holds state of at the cursor
-- (waiting, in talk or wrap-up). A restarted builder replays their events
-- up to the cursor, without writing, to carry on where it stopped.
CREATE TABLE report_open (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    contact_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);

-- +goose Down
DROP TABLE report_open, report_cursor, report_intervals;
