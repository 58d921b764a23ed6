-- +goose Up

-- Duplicate endpoint URLs are refused per account on the URL's comparison
-- form (docs/webhooks.md, "Endpoints"): url_key. A deleted or disabled
-- endpoint frees its URL (a disabled one cannot be enabled again; its URL
-- is registered anew). Endpoints made before this migration get their key
-- from `renderd migrate` (Go computes it: projections.BackfillURLKeys).
ALTER TABLE webhook_endpoints ADD COLUMN url_key text;
CREATE UNIQUE INDEX webhook_endpoints_url_once ON webhook_endpoints (account_id, url_key)
    WHERE deleted_at IS NULL AND disabled_at IS NULL AND url_key IS NOT NULL;

-- Redeliveries asked for through the API, capped per delivery.
ALTER TABLE webhook_deliveries ADD COLUMN redeliveries integer NOT NULL DEFAULT 0;

-- A response body is kept only from a public destination; NULL is "not
-- kept". Which destinations the bodies already stored came from cannot be
-- told any more, so none is kept, and refusals no longer name the address
-- they refused. Other transport errors lose their addresses as the sender
-- now writes them: `write tcp 10.0.0.5:41234->203.0.113.9:443: write: broken
-- pipe` becomes `write: write: broken pipe`, `dial tcp [fd00::1]:443:
-- connect: …` becomes `dial: connect: …`.
ALTER TABLE webhook_attempts ALTER COLUMN body DROP NOT NULL;
UPDATE webhook_attempts SET body = NULL;
UPDATE webhook_attempts SET error = 'destination refused' WHERE error LIKE 'refused destination%';
UPDATE webhook_attempts
    SET error = regexp_replace(error, ' (tcp|udp)[46]? (\[[^]]*\]|[0-9.]+):[0-9]+(->(\[[^]]*\]|[0-9.]+):[0-9]+)?:', ':', 'g')
    WHERE error ~ '(tcp|udp)[46]? (\[[^]]*\]|[0-9.]+):[0-9]+';

-- +goose Down
UPDATE webhook_attempts SET body = '' WHERE body IS NULL;
ALTER TABLE webhook_attempts ALTER COLUMN body SET NOT NULL;
ALTER TABLE webhook_deliveries DROP COLUMN redeliveries;
DROP INDEX webhook_endpoints_url_once;
ALTER TABLE webhook_endpoints DROP COLUMN url_key;
