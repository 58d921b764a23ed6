-- +goose Up

-- What each account stores, in bytes: its uploaded parts and its renders'
-- outputs (commands.Storage). Changed in the command transactions that
-- record an upload (+), a refused or failed part (−, its blob is deleted)
-- and a completed render (+).
CREATE TABLE account_storage (
    account_id text   PRIMARY KEY,
    used_bytes bigint NOT NULL DEFAULT 0
);

-- What the log says each account stores today.
INSERT INTO account_storage (account_id, used_bytes)
SELECT account_id, sum((data->>'size_bytes')::bigint)
FROM events
WHERE event_type IN ('asset.source_uploaded.v1', 'asset.audio_uploaded.v1', 'render.completed.v1')
GROUP BY account_id;

-- Uploads in progress, one per part, reserved before the body is read: a
-- second upload of the part is refused at once, and the bytes an upload may
-- still bring count against the quota. The uploader extends expires_at
-- while bytes arrive; a reservation whose uploader vanished expires, and
-- the next reservation of the account deletes its blob.
CREATE TABLE upload_reservations (
    asset_id   text        NOT NULL,
    part       text        NOT NULL CHECK (part IN ('source', 'audio')),
    account_id text        NOT NULL,
    blob_key   text        NOT NULL,
    bytes      bigint      NOT NULL CHECK (bytes >= 0),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (asset_id, part)
);
CREATE INDEX upload_reservations_account ON upload_reservations (account_id, expires_at);

-- +goose Down
DROP TABLE upload_reservations;
DROP TABLE account_storage;
