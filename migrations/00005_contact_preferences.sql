-- +goose Up
-- The agents a waiting contact is offered to first, for how long, and why
-- (routing.Prefer... codes, one per agent, comma separated): set at intake
-- from the customer's owner, open service orders and deals and the agent
-- who last handled them, and by a transfer to a named agent. Kept on the
-- contact so that a rebuild of routing restores them.
ALTER TABLE contacts
    ADD COLUMN preferred_agents uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN prefer_until     timestamptz,
    ADD COLUMN prefer_reason    text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE contacts DROP COLUMN preferred_agents, DROP COLUMN prefer_until, DROP COLUMN prefer_reason;
