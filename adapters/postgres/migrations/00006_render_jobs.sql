-- +goose Up

-- The encoders' work list (commands.RenderQueue), written in the command
-- transactions of the render's stream: a pending render is queued here, a
-- running one holds its worker's lease (renewed in place, without events),
-- and a completed, failed or cancelled render has no row.
CREATE TABLE render_jobs (
    render_id   text        PRIMARY KEY,
    account_id  text        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('pending', 'running')),
    attempt     integer     NOT NULL,
    worker_id   text,
    lease_until timestamptz,
    since       timestamptz NOT NULL,
    CHECK ((state = 'running') = (worker_id IS NOT NULL AND lease_until IS NOT NULL))
);
CREATE INDEX render_jobs_queue ON render_jobs (since) WHERE state = 'pending';
CREATE INDEX render_jobs_leases ON render_jobs (lease_until) WHERE state = 'running';

-- Renders requested before this table existed and still waiting for an
-- encoder: their stream's last event is a request or a retry.
INSERT INTO render_jobs (render_id, account_id, state, attempt, since)
SELECT e.stream_id, e.account_id, 'pending', 0, e.occurred_at
FROM events e
WHERE e.stream_type = 'render'
  AND e.event_type IN ('render.requested.v1', 'render.retried.v1')
  AND e.stream_version = (SELECT max(x.stream_version) FROM events x WHERE x.stream_id = e.stream_id);

-- +goose Down
DROP TABLE render_jobs;
