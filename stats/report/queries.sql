-- name: events
-- A page of a tenant's events after the cursor (xact_id, id), all written
-- by transactions below xmin (every one of which has ended).
SELECT e.id, e.xact_id::text, e.kind, e.contact_id, coalesce(e.queue_id, c.queue_id),
       coalesce(e.agent_id, '00000000-0000-0000-0000-000000000000'), c.channel, e.at,
       e.kind = 'created' AND coalesce(e.data->>'call', '') = 'true'
FROM contact_events e
JOIN contacts c ON c.tenant_id = e.tenant_id AND c.id = e.contact_id
WHERE e.tenant_id = $1 AND e.xact_id >= $2::text::xid8 AND (e.xact_id > $2::text::xid8 OR e.id > $3)
  AND e.xact_id < $4::text::xid8
ORDER BY e.xact_id, e.id
LIMIT $5;

-- name: replay
-- Every event of the given contacts up to and including the cursor.
SELECT e.id, e.xact_id::text, e.kind, e.contact_id, coalesce(e.queue_id, c.queue_id),
       coalesce(e.agent_id, '00000000-0000-0000-0000-000000000000'), c.channel, e.at,
       e.kind = 'created' AND coalesce(e.data->>'call', '') = 'true'
FROM contact_events e
JOIN contacts c ON c.tenant_id = e.tenant_id AND c.id = e.contact_id
WHERE e.tenant_id = $1 AND e.contact_id = ANY($2::uuid[])
  AND (e.xact_id < $3::text::xid8 OR (e.xact_id = $3::text::xid8 AND e.id <= $4))
ORDER BY e.xact_id, e.id;

-- name: cursor
INSERT INTO report_cursor (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING;

-- name: read-cursor
SELECT xact_id::text, event_id FROM report_cursor WHERE tenant_id = $1;

-- name: open
SELECT contact_id FROM report_open WHERE tenant_id = $1;

-- name: advance
-- Compare and set: a builder whose cursor another moved writes nothing.
UPDATE report_cursor SET xact_id = $4::text::xid8, event_id = $5, updated_at = now()
WHERE tenant_id = $1 AND xact_id = $2::text::xid8 AND event_id = $3;

-- name: upsert
-- Adds each row's counts to what the interval has: $7 to $22 are the
-- counts in the column order below, one array each.
INSERT INTO report_intervals AS r (tenant_id, interval_start, queue_id, channel, agent_id, site_id,
    offered, answered, answered_within, abandoned, abandoned_within, short_abandons,
    transferred_in, transferred_out, handled, wait_answered_us, handle_us, talk_us, hold_us, wrap_up_us,
    callbacks_made, callbacks_missed)
SELECT $1, s, q, ch, a, nullif(site, '00000000-0000-0000-0000-000000000000'::uuid), c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16
FROM unnest($2::timestamptz[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[],
            $7::int[], $8::int[], $9::int[], $10::int[], $11::int[], $12::int[], $13::int[], $14::int[], $15::int[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::int[], $22::int[])
     AS v(s, q, ch, a, site, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16)
ON CONFLICT (tenant_id, interval_start, queue_id, channel, agent_id) DO UPDATE SET
    offered = r.offered + excluded.offered,
    answered = r.answered + excluded.answered,
    answered_within = r.answered_within + excluded.answered_within,
    abandoned = r.abandoned + excluded.abandoned,
    abandoned_within = r.abandoned_within + excluded.abandoned_within,
    short_abandons = r.short_abandons + excluded.short_abandons,
    transferred_in = r.transferred_in + excluded.transferred_in,
    transferred_out = r.transferred_out + excluded.transferred_out,
    handled = r.handled + excluded.handled,
    wait_answered_us = r.wait_answered_us + excluded.wait_answered_us,
    handle_us = r.handle_us + excluded.handle_us,
    talk_us = r.talk_us + excluded.talk_us,
    hold_us = r.hold_us + excluded.hold_us,
    wrap_up_us = r.wrap_up_us + excluded.wrap_up_us,
    callbacks_made = r.callbacks_made + excluded.callbacks_made,
    callbacks_missed = r.callbacks_missed + excluded.callbacks_missed;

-- name: close-open
DELETE FROM report_open WHERE tenant_id = $1 AND contact_id = ANY($2::uuid[]);

-- name: add-open
INSERT INTO report_open (tenant_id, contact_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING;

-- name: report
-- Sums of a tenant's rows per bucket and dimension. A row's zone is its
-- site's, or the tenant's for group-wide queues; $5 true: every row in the
-- tenant's zone (reports by channel or agent, which have no site). from
-- and to are local dates in that zone, to included.
WITH z AS (
    SELECT r.*, CASE WHEN $5 THEN t.default_zone ELSE coalesce(s.zone, t.default_zone) END AS zone
    FROM report_intervals r
    JOIN tenants t ON t.id = r.tenant_id
    LEFT JOIN sites s ON s.tenant_id = r.tenant_id AND s.id = r.site_id
    WHERE r.tenant_id = $1
      AND r.interval_start >= ($2::date::timestamp AT TIME ZONE 'UTC') - interval '1 day'
      AND r.interval_start < (($3::date + 1)::timestamp AT TIME ZONE 'UTC') + interval '1 day'
      AND (cardinality($6::uuid[]) = 0 OR r.queue_id = ANY($6::uuid[]))
      AND (cardinality($7::text[]) = 0 OR r.channel = ANY($7::text[]))
)
SELECT CASE $4 WHEN 'day' THEN date_trunc('day', interval_start, zone) WHEN 'hour' THEN date_trunc('hour', interval_start, zone)
            ELSE interval_start END AS bucket, zone,
       CASE $8 WHEN 'queue' THEN queue_id::text WHEN 'channel' THEN channel WHEN 'agent' THEN agent_id::text
               ELSE coalesce(site_id::text, '') END AS dim,
       sum(offered), sum(answered), sum(answered_within), sum(abandoned), sum(abandoned_within), sum(short_abandons),
       sum(transferred_in), sum(transferred_out), sum(handled), sum(wait_answered_us), sum(handle_us), sum(talk_us),
       sum(hold_us), sum(wrap_up_us), sum(callbacks_made), sum(callbacks_missed)
FROM z
WHERE interval_start >= ($2::date::timestamp AT TIME ZONE zone) AND interval_start < (($3::date + 1)::timestamp AT TIME ZONE zone)
GROUP BY 1, 2, 3
ORDER BY 3, 1;
