-- +goose Up

-- A render's content signature, reserved in the RequestRender transaction:
-- at most one live (pending, running or completed) render per account and
-- signature. A failed or cancelled render releases its reservation, and the
-- next request with the signature replaces it.
CREATE TABLE render_signatures (
    render_id  text        PRIMARY KEY,
    account_id text        NOT NULL,
    signature  text        NOT NULL,
    live       boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX render_signatures_one_live ON render_signatures (account_id, signature) WHERE live;
CREATE INDEX render_signatures_latest ON render_signatures (account_id, signature, created_at DESC);

-- +goose Down
DROP TABLE render_signatures;
