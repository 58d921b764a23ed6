-- +goose Up

CREATE TABLE accounts (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- API keys are random 32-byte secrets: a SHA-256 digest is enough to store
-- them (no slow hash needed for high-entropy keys), and the key itself is
-- shown once.
CREATE TABLE api_keys (
    key_hash   bytea       PRIMARY KEY,
    account_id text        NOT NULL REFERENCES accounts (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The credit ledger: append-only, in seconds of media. A charge names its
-- asset, and an asset is charged at most once.
CREATE TABLE credit_ledger (
    entry_id      text        PRIMARY KEY,
    account_id    text        NOT NULL REFERENCES accounts (id),
    delta_seconds bigint      NOT NULL CHECK (delta_seconds <> 0),
    reason        text        NOT NULL CHECK (reason IN ('allowance', 'grant', 'charge')),
    asset_id      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((reason = 'charge') = (asset_id IS NOT NULL))
);
CREATE UNIQUE INDEX credit_ledger_one_charge_per_asset ON credit_ledger (asset_id) WHERE reason = 'charge';
CREATE INDEX credit_ledger_account_idx ON credit_ledger (account_id, created_at DESC);

-- Assets waiting for credits, resumed in the order they started waiting.
CREATE TABLE awaiting_payment (
    asset_id   text        PRIMARY KEY,
    account_id text        NOT NULL REFERENCES accounts (id),
    seconds    bigint      NOT NULL,
    since      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX awaiting_payment_account_idx ON awaiting_payment (account_id, since);

-- Which cuts belong to an asset: written in the cut's command transaction
-- (which holds the asset's stream lock), so whoever completes an asset's
-- cuts sees every cut requested before it.
CREATE TABLE asset_cuts (
    asset_id text NOT NULL,
    cut_id   text NOT NULL,
    PRIMARY KEY (asset_id, cut_id)
);

-- +goose Down
DROP TABLE asset_cuts;
DROP TABLE awaiting_payment;
DROP TABLE credit_ledger;
DROP TABLE api_keys;
DROP TABLE accounts;
