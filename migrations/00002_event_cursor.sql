-- +goose Up
-- Statistics follow contact_events by transaction id (see crm.EventsSince).
CREATE INDEX contact_events_xact_idx ON contact_events (tenant_id, xact_id);
CREATE INDEX contact_events_at_idx ON contact_events (tenant_id, at);

-- +goose Down
DROP INDEX contact_events_at_idx;
DROP INDEX contact_events_xact_idx;
