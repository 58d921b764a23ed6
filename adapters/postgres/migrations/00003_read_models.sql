-- +goose Up

-- Read models of assets and cuts: one row per aggregate, written only by the
-- projections (projections/), which rebuild each row from the aggregate's
-- event history. `version` is the stream version the row reflects; every
-- write is guarded by it, so a redelivered or older event never moves a row
-- backwards. Times are event times (occurred_at), never projection times, so
-- a rebuild reproduces the rows exactly. Durations are nanoseconds.
-- Kafka consumer-group offsets are the projections' checkpoints: there is no
-- checkpoint table.

CREATE TABLE rm_assets (
    id               text        PRIMARY KEY,
    account_id       text        NOT NULL,
    kind             text        NOT NULL,
    name             text        NOT NULL,
    state            text        NOT NULL,
    cuttable         boolean     NOT NULL,
    -- What ffprobe found in the source and in the client-extracted audio;
    -- NULL until that part is probed.
    source           jsonb,
    audio            jsonb,
    failure_code     text,
    failure_message  text,
    charged_seconds  bigint      NOT NULL DEFAULT 0,
    version          bigint      NOT NULL CHECK (version > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- GET /v1/assets: an account's assets newest first, paged by the keyset
-- (created_at, id); id breaks ties between assets created in the same
-- microsecond.
CREATE INDEX rm_assets_account_created_idx ON rm_assets (account_id, created_at DESC, id DESC);

CREATE TABLE rm_cuts (
    id               text        PRIMARY KEY,
    account_id       text        NOT NULL,
    asset_id         text        NOT NULL,
    state            text        NOT NULL,
    -- The explicit plan as requested ([{"start_ns", "end_ns"}]); NULL for an
    -- automatic plan, which is in `auto` instead.
    requested        jsonb,
    auto             jsonb,
    -- The final kept segments, once completed.
    segments         jsonb,
    duration_ns      bigint      NOT NULL DEFAULT 0,
    failure_code     text,
    failure_message  text,
    version          bigint      NOT NULL CHECK (version > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- GET /v1/assets/{id}/cuts: an asset's cuts newest first, same keyset.
CREATE INDEX rm_cuts_asset_created_idx ON rm_cuts (account_id, asset_id, created_at DESC, id DESC);

-- The version every read model has reached, by stream id, for
-- read-your-writes waits (projections.Waiter). A read model added later
-- (renders) joins this view in its own migration.
CREATE VIEW rm_versions AS
    SELECT id, version FROM rm_assets
    UNION ALL
    SELECT id, version FROM rm_cuts;

-- +goose Down
DROP VIEW rm_versions;
DROP TABLE rm_cuts;
DROP TABLE rm_assets;
