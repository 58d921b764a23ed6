-- +goose Up

-- Webhook endpoints are an account's configuration, not render history:
-- plain rows, written by the API. A rotated-out secret keeps signing next
-- to the new one until previous_secret_until.
CREATE TABLE webhook_endpoints (
    id                    text        PRIMARY KEY,
    account_id            text        NOT NULL,
    url                   text        NOT NULL,
    events                text[]      NOT NULL,
    description           text        NOT NULL DEFAULT '',
    secret                text        NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    disabled_at           timestamptz,
    disabled_reason       text,
    -- The first failed attempt since the last success: an endpoint failing
    -- every delivery for long enough is disabled.
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL,
    deleted_at            timestamptz
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- One delivery per (event, endpoint): a redelivered Kafka message finds its
-- row and adds nothing. A pending delivery is due at next_attempt_at; a
-- sender claims it by moving next_attempt_at past its own timeout, so two
-- senders never send the same attempt.
CREATE TABLE webhook_deliveries (
    id              text        PRIMARY KEY,
    endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (id),
    account_id      text        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    render_id       text        NOT NULL,
    render_version  bigint      NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_once UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id text        NOT NULL REFERENCES webhook_deliveries (id),
    n           integer     NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer     NOT NULL,
    latency_ms  integer     NOT NULL,
    error       text        NOT NULL,
    body        text        NOT NULL,
    PRIMARY KEY (delivery_id, n)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
