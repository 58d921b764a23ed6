-- +goose Up

-- The media workers' work list (commands.MediaQueue), written in the
-- command transactions of the asset's and the cut's streams: an upload
-- queues its part's probe, an automatic cut its silence detection (waiting
-- until the asset is cuttable, then pending); a claimed job is running under
-- its worker's lease (renewed in place, without events); a decided job has
-- no row. A job whose lease ran out is claimed again, attempts + 1.
CREATE TABLE media_jobs (
    job_id      text        PRIMARY KEY, -- probe:<asset>:<part>, silence:<cut>
    kind        text        NOT NULL CHECK (kind IN ('probe', 'silence')),
    account_id  text        NOT NULL,
    asset_id    text        NOT NULL,
    cut_id      text,
    part        text,
    state       text        NOT NULL CHECK (state IN ('pending', 'running', 'waiting')),
    attempts    integer     NOT NULL DEFAULT 0,
    worker_id   text,
    lease_until timestamptz,
    -- A job handed back after a transient failure is not claimed before.
    not_before  timestamptz,
    since       timestamptz NOT NULL,
    -- The job's events carry on the correlation id of the request that
    -- queued it, and are caused by the event that did (upload, cut request).
    correlation_id text NOT NULL DEFAULT '',
    causation_id   text NOT NULL DEFAULT '',
    CHECK ((state = 'running') = (worker_id IS NOT NULL AND lease_until IS NOT NULL)),
    CHECK ((kind = 'probe') = (part IS NOT NULL)),
    CHECK ((kind = 'silence') = (cut_id IS NOT NULL))
);
CREATE INDEX media_jobs_pending ON media_jobs (since) WHERE state = 'pending';
CREATE INDEX media_jobs_leases ON media_jobs (lease_until) WHERE state = 'running';
CREATE INDEX media_jobs_account_running ON media_jobs (account_id) WHERE state = 'running';
CREATE INDEX media_jobs_asset_waiting ON media_jobs (asset_id) WHERE state = 'waiting';

-- Parts uploaded before this table existed and not probed or refused since,
-- of assets that have not failed. A job too many is harmless: a probe of a
-- probed part records nothing.
INSERT INTO media_jobs (job_id, kind, account_id, asset_id, part, state, since, correlation_id, causation_id)
SELECT 'probe:' || u.stream_id || ':' || u.part, 'probe', u.account_id, u.stream_id, u.part, 'pending', u.occurred_at,
    u.correlation_id, u.event_id::text
FROM (
    SELECT DISTINCT ON (stream_id, event_type) stream_id, account_id, occurred_at, stream_version, correlation_id, event_id,
        CASE event_type WHEN 'asset.source_uploaded.v1' THEN 'source' ELSE 'audio' END AS part
    FROM events
    WHERE stream_type = 'asset' AND event_type IN ('asset.source_uploaded.v1', 'asset.audio_uploaded.v1')
    ORDER BY stream_id, event_type, stream_version DESC
) u
WHERE NOT EXISTS (SELECT FROM events d WHERE d.stream_id = u.stream_id AND d.stream_version > u.stream_version
                    AND d.event_type IN ('asset.probed.v1', 'asset.part_refused.v1') AND d.data->>'part' = u.part)
  AND NOT EXISTS (SELECT FROM events f WHERE f.stream_id = u.stream_id AND f.event_type = 'asset.failed.v1');

-- Automatic cuts still processing: pending, so that a worker decides them
-- (a job whose asset is not cuttable yet parks itself until the charge).
INSERT INTO media_jobs (job_id, kind, account_id, asset_id, cut_id, state, since, correlation_id, causation_id)
SELECT 'silence:' || r.stream_id, 'silence', r.account_id, r.data->>'asset_id', r.stream_id, 'pending', r.occurred_at,
    r.correlation_id, r.event_id::text
FROM events r
WHERE r.stream_type = 'cut' AND r.event_type = 'cut.requested.v1' AND jsonb_typeof(r.data->'auto') = 'object'
  AND NOT EXISTS (SELECT FROM events d WHERE d.stream_id = r.stream_id AND d.event_type IN ('cut.completed.v1', 'cut.failed.v1'));

-- The cut index counts the cuts in flight (RENDERD_ASSET_MAX_CUTS_IN_FLIGHT,
-- RENDERD_ACCOUNT_MAX_AUTO_CUTS): each row says whose cut it is, whether it
-- is automatic, and whether it is still processing; the cut's command
-- transactions keep it current.
ALTER TABLE asset_cuts
    ADD COLUMN account_id text,
    ADD COLUMN auto       boolean NOT NULL DEFAULT false,
    ADD COLUMN processing boolean NOT NULL DEFAULT false;
UPDATE asset_cuts c
SET account_id = r.account_id,
    auto       = jsonb_typeof(r.data->'auto') IS NOT DISTINCT FROM 'object',
    processing = NOT EXISTS (SELECT FROM events d WHERE d.stream_id = c.cut_id AND d.event_type IN ('cut.completed.v1', 'cut.failed.v1'))
FROM events r
WHERE r.stream_id = c.cut_id AND r.event_type = 'cut.requested.v1';
-- A row is written with its cut's first event, so none lacks one; if one
-- did, it would name no cut.
DELETE FROM asset_cuts WHERE account_id IS NULL;
ALTER TABLE asset_cuts
    ALTER COLUMN account_id SET NOT NULL,
    ALTER COLUMN auto DROP DEFAULT,
    ALTER COLUMN processing DROP DEFAULT;
CREATE INDEX asset_cuts_in_flight ON asset_cuts (asset_id) WHERE processing;
CREATE INDEX asset_cuts_auto_in_flight ON asset_cuts (account_id) WHERE auto AND processing;

-- +goose Down
DROP INDEX asset_cuts_auto_in_flight;
DROP INDEX asset_cuts_in_flight;
ALTER TABLE asset_cuts DROP COLUMN processing, DROP COLUMN auto, DROP COLUMN account_id;
DROP TABLE media_jobs;
