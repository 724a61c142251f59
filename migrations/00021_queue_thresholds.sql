-- +goose Up
-- The wallboard's colours per queue, set by supervisors (issue 8). The
-- service level shows amber below sl_goal (also the goal Erlang C's agents
-- needed are computed for) and red below sl_red; the longest wait amber
-- from wait_amber_seconds and red from wait_red_seconds. A queue without a
-- row uses the defaults (80%, 60%, 30 s, 60 s: org.DefaultQueueThresholds).
CREATE TABLE queue_thresholds (
    tenant_id          uuid NOT NULL,
    queue_id           uuid NOT NULL,
    sl_goal            double precision NOT NULL,
    sl_red             double precision NOT NULL,
    wait_amber_seconds integer NOT NULL,
    wait_red_seconds   integer NOT NULL,
    updated_by         uuid NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, queue_id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, updated_by) REFERENCES users (tenant_id, id),
    CHECK (sl_red > 0 AND sl_red <= sl_goal AND sl_goal < 1),
    CHECK (wait_amber_seconds > 0 AND wait_red_seconds >= wait_amber_seconds AND wait_red_seconds <= 86400)
);

-- +goose Down
DROP TABLE queue_thresholds;
