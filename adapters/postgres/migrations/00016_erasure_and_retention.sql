-- +goose Up

-- Blobs to remove from the blob store (commands.Erasure): the parts and
-- outputs of deleted assets, and expired outputs. Queued in the command
-- transaction that deletes or expires them; the encoders drain it
-- (encoders.Eraser), deferring each claimed row by a retry delay, so a
-- removal that fails, or whose encoder died, is tried again until it
-- succeeds. A removed blob's row is deleted.
CREATE TABLE blob_removals (
    blob_key   text        PRIMARY KEY,
    account_id text        NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    due_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    tries      integer     NOT NULL DEFAULT 0,
    last_error text
);
CREATE INDEX blob_removals_due ON blob_removals (due_at);

-- An asset's renders, for its deletion (commands.Erasure.AssetStreams):
-- the render.requested events that name it.
CREATE INDEX events_render_asset ON events ((data->>'asset_id')) WHERE event_type = 'render.requested.v1';

-- Deleted assets, cuts and renders keep their rows, so that the version
-- guard of every write holds (a redelivered event never brings a row
-- back); the API answers 404 for them and lists leave them out. A render
-- whose output expired stays completed, with output_expired set.
ALTER TABLE rm_assets ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE rm_cuts ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE rm_renders ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE rm_renders ADD COLUMN output_expired boolean NOT NULL DEFAULT false;

-- The outputs due to expire, oldest first (readmodel.Store.OutputsDue).
CREATE INDEX rm_renders_outputs_held ON rm_renders (completed_at)
    WHERE state = 'completed' AND NOT output_expired AND NOT deleted;

-- +goose Down
DROP INDEX rm_renders_outputs_held;
ALTER TABLE rm_renders DROP COLUMN output_expired;
ALTER TABLE rm_renders DROP COLUMN deleted;
ALTER TABLE rm_cuts DROP COLUMN deleted;
ALTER TABLE rm_assets DROP COLUMN deleted;
DROP INDEX events_render_asset;
DROP TABLE blob_removals;
