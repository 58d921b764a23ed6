-- +goose Up

-- The W3C trace context (traceparent, tracestate) of the work that wrote a
-- row, so that a process handling it later continues the same trace
-- (telemetry/trace.go): an event's (domain.Metadata, relayed as the
-- CloudEvents distributed tracing extension, docs/events.md), a render
-- job's (its request or retry, for the encoder's claim) and a webhook
-- delivery's (its projection, for the dispatcher's send). Empty when that
-- work was not traced, and for every row written before this migration:
-- a constant default adds the columns without rewriting the tables.
ALTER TABLE events ADD COLUMN trace_parent text NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN trace_state text NOT NULL DEFAULT '';
ALTER TABLE render_jobs ADD COLUMN trace_parent text NOT NULL DEFAULT '';
ALTER TABLE render_jobs ADD COLUMN trace_state text NOT NULL DEFAULT '';
ALTER TABLE webhook_deliveries ADD COLUMN trace_parent text NOT NULL DEFAULT '';
ALTER TABLE webhook_deliveries ADD COLUMN trace_state text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhook_deliveries DROP COLUMN trace_state;
ALTER TABLE webhook_deliveries DROP COLUMN trace_parent;
ALTER TABLE render_jobs DROP COLUMN trace_state;
ALTER TABLE render_jobs DROP COLUMN trace_parent;
ALTER TABLE events DROP COLUMN trace_state;
ALTER TABLE events DROP COLUMN trace_parent;
