-- +goose Up

-- Webhook signing secrets are stored sealed: AES-256-GCM under the
-- operator's key ring (RENDERD_SECRETS_KEY), bound to their endpoint and
-- column, in the layout of adapters/keyring. SQL cannot encrypt without the
-- key, so `renderd migrate` (and every start of a role holding the key)
-- seals what rows still hold in clear and clears the plaintext columns;
-- nothing writes them any more.
ALTER TABLE webhook_endpoints
    ADD COLUMN secret_sealed          bytea,
    ADD COLUMN previous_secret_sealed bytea,
    ALTER COLUMN secret DROP NOT NULL;

-- +goose Down
-- Sealed secrets cannot be decrypted here: going down loses them, so it is
-- refused while any row holds one.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM webhook_endpoints WHERE secret_sealed IS NOT NULL) THEN
        RAISE EXCEPTION 'webhook secrets are sealed: migrating down would lose them';
    END IF;
END $$;
-- +goose StatementEnd
ALTER TABLE webhook_endpoints
    DROP COLUMN secret_sealed,
    DROP COLUMN previous_secret_sealed,
    ALTER COLUMN secret SET NOT NULL;
