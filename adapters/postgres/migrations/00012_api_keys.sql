-- +goose Up

-- Several keys per account, each with an id (key_…), a name, the first
-- characters of the key for display, an optional expiry and when it was
-- last used. A key is still stored as its SHA-256 digest only; revoking a
-- key deletes its row. Keys made before this migration keep working: they
-- get an id and the name "default", and no display prefix (only their
-- digest was ever stored). The defaults also serve a process from before
-- this migration still running during a rolling upgrade: its
-- `INSERT INTO api_keys (key_hash, account_id)` makes such a key too. (A
-- volatile default gives every existing row a value of its own.)
ALTER TABLE api_keys
    ADD COLUMN id           text NOT NULL DEFAULT 'key_' || gen_random_uuid()::text,
    ADD COLUMN name         text NOT NULL DEFAULT 'default',
    ADD COLUMN prefix       text,
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;

ALTER TABLE api_keys ADD CONSTRAINT api_keys_id_key UNIQUE (id);
CREATE INDEX api_keys_account_idx ON api_keys (account_id, created_at DESC);

-- +goose Down
DROP INDEX api_keys_account_idx;
ALTER TABLE api_keys
    DROP CONSTRAINT api_keys_id_key,
    DROP COLUMN id,
    DROP COLUMN name,
    DROP COLUMN prefix,
    DROP COLUMN expires_at,
    DROP COLUMN last_used_at;
