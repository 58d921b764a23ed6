-- +goose Up

-- The event store is the source of truth and, at the same time, the outbox:
-- the relay ships rows from here to Kafka in commit-safe order, so an event
-- and "its outbox row" can never disagree.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_type     text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    account_id      text        NOT NULL,
    correlation_id  text        NOT NULL DEFAULT '',
    causation_id    text        NOT NULL DEFAULT '',
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- Assigned at the transaction's first write; with the per-stream advisory
    -- lock taken first, one stream's transactions get increasing ids.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    data            jsonb       NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);

-- Commit-safe reading order for the relay and replays.
CREATE INDEX events_commit_order_idx ON events (transaction_id, position);

-- How far each reader of the log (the relay, replays) has got, in the same
-- (transaction_id, position) order.
CREATE TABLE log_checkpoints (
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    position        bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE log_checkpoints;
DROP TABLE events;
