-- +goose Up

-- The render read model: one row per render, written only by the render
-- projection (projections/renders.go). The conventions of 00003 hold: every
-- write is guarded by `version` (the stream version the row reflects), times
-- are event times (occurred_at) so a rebuild reproduces the rows exactly, and
-- durations are whole nanoseconds (`_ns`), which round-trip exactly.
--
-- Unlike assets and cuts, a render's stream is long (one render.progressed
-- per progress step), so the projector applies the next event to the row it
-- finds instead of replaying the stream each time; see projections/renders.go.
CREATE TABLE rm_renders (
    id               text        PRIMARY KEY,
    account_id       text        NOT NULL,
    asset_id         text        NOT NULL,
    -- The cut the render applies; NULL for a full-source render.
    cut_id           text,
    state            text        NOT NULL,
    -- The output exactly as the client asked for it, in the API's shape
    -- ({"format", "resolution"?, "video_bitrate"?, "audio_bitrate"?}): an
    -- omitted field stays omitted, since omitted (Auto) and an explicit value
    -- are different requests.
    output           jsonb       NOT NULL,
    -- The output resolved against the source: {"width", "height",
    -- "video_bitrate_bps", "audio_bitrate_bps", "segments": [{"start_ns",
    -- "end_ns"}], "duration_ns"}; video fields are 0 for audio formats.
    plan             jsonb       NOT NULL,
    -- The current (or last) attempt; 0 until an encoder first claims it.
    attempt          integer     NOT NULL DEFAULT 0,
    progress         integer     NOT NULL DEFAULT 0,
    -- The encoder's last estimate of the time left; NULL when it gave none.
    eta_ns           bigint,
    failure_code     text,
    failure_message  text,
    -- The failed or cancelled render with the same signature this one replaced.
    replaces         text,
    -- The verified deliverable, all NULL until completed. result_blob_key is
    -- where the API mints download URLs from; it is never shown to clients.
    result_blob_key           text,
    result_size_bytes         bigint,
    result_duration_ns        bigint,
    result_width              integer,
    result_height             integer,
    result_video_bitrate_bps  bigint,
    result_audio_bitrate_bps  bigint,
    result_encode_ns          bigint,
    result_fast_path          boolean,
    created_at       timestamptz NOT NULL,
    -- When the current (or last) attempt started; a retry keeps it until the
    -- next attempt starts.
    started_at       timestamptz,
    completed_at     timestamptz,
    failed_at        timestamptz,
    cancelled_at     timestamptz,
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL CHECK (version > 0)
);

-- GET /v1/renders: an account's renders newest first, paged by the keyset
-- (created_at, id), as for assets and cuts.
CREATE INDEX rm_renders_account_created_idx ON rm_renders (account_id, created_at DESC, id DESC);
-- GET /v1/renders?asset_id=
CREATE INDEX rm_renders_asset_created_idx ON rm_renders (account_id, asset_id, created_at DESC, id DESC);
-- GET /v1/renders?state=
CREATE INDEX rm_renders_state_created_idx ON rm_renders (account_id, state, created_at DESC, id DESC);

-- Read-your-writes waits cover renders too.
CREATE OR REPLACE VIEW rm_versions AS
    SELECT id, version FROM rm_assets
    UNION ALL
    SELECT id, version FROM rm_cuts
    UNION ALL
    SELECT id, version FROM rm_renders;

-- +goose Down
CREATE OR REPLACE VIEW rm_versions AS
    SELECT id, version FROM rm_assets
    UNION ALL
    SELECT id, version FROM rm_cuts;
DROP TABLE rm_renders;
