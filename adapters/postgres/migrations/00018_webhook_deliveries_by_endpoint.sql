-- +goose Up
-- The dispatcher claims each endpoint's due deliveries apart, at most its
-- share of senders each (webhooks/dispatcher.go): the endpoints with
-- pending deliveries are walked on this index, and each one's due
-- deliveries read in order from it.
CREATE INDEX webhook_deliveries_pending_by_endpoint ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';

-- +goose Down
DROP INDEX webhook_deliveries_pending_by_endpoint;
