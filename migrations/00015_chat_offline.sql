-- +goose Up
-- Web chat offline mode (issue 5): when a site's widget takes messages
-- instead of chats. 'closed': only while the site's chat queue is closed by
-- its calendar; 'no_agents': also while no agent of the tenant has a
-- console connected.
ALTER TABLE chat_settings
    ADD COLUMN offline_when text NOT NULL DEFAULT 'closed' CHECK (offline_when IN ('closed', 'no_agents'));

-- +goose Down
ALTER TABLE chat_settings DROP COLUMN offline_when;
