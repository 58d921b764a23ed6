-- +goose Up

-- A webhook attempt is logged before it is sent ('in_flight') and finished
-- after ('finished', with its answer), so the log shows every attempt
-- (docs/webhooks.md, "The delivery log"). One whose sender stopped before
-- recording its outcome (killed mid-attempt) is marked 'abandoned' when the
-- next attempt claims the delivery. Rows logged before, and by an older
-- process, which logs after sending, are finished.
ALTER TABLE webhook_attempts ADD COLUMN state text NOT NULL DEFAULT 'finished'
    CONSTRAINT webhook_attempts_state CHECK (state IN ('in_flight', 'finished', 'abandoned'));

-- +goose Down
UPDATE webhook_attempts SET error = 'the sender stopped before the attempt finished' WHERE state <> 'finished';
ALTER TABLE webhook_attempts DROP COLUMN state;
