-- +goose Up
-- Disposition codes per queue (issue 8): short labels an agent picks at
-- wrap-up ("Booked service", "Quote sent", "No action"). The contact keeps
-- the code it was given; the 'closed' and 'wrap_up_ended' events carry it
-- too, so reports can count codes without reading free text. An empty list
-- means the queue asks for no code.
ALTER TABLE queues ADD COLUMN dispositions text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(dispositions) <= 30);
ALTER TABLE contacts ADD COLUMN disposition text;

-- +goose Down
ALTER TABLE contacts DROP COLUMN disposition;
ALTER TABLE queues DROP COLUMN dispositions;
