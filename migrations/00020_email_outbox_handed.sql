-- +goose Up
-- The e-mail outbox's "handed to SMTP" mark (issue 6). A worker records
-- handed_attempt (the attempt's number, which fences it as attempts does)
-- right before the SMTP DATA command, in a commit of its own, and the
-- outcome right after the server's answer to the message's end. An entry
-- still 'sending' whose lease ran out with handed_attempt equal to its
-- attempts died between those two writes: the server may have accepted
-- the message. The next attempt sends the very same message (Message-ID,
-- Date, headers and text are fixed in the row), so clients that
-- de-duplicate by Message-ID show one copy; the mark makes such resends
-- visible (uncertain_resends) instead of silent.
ALTER TABLE email_outbox
    ADD COLUMN handed_attempt    integer NOT NULL DEFAULT 0 CHECK (handed_attempt >= 0),
    ADD COLUMN handed_at         timestamptz,
    ADD COLUMN uncertain_resends integer NOT NULL DEFAULT 0 CHECK (uncertain_resends >= 0);

-- +goose Down
ALTER TABLE email_outbox DROP COLUMN handed_attempt, DROP COLUMN handed_at, DROP COLUMN uncertain_resends;
