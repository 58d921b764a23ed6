package relay

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/telemetry"
)

// publishSpans starts a "relay publish" span for each entry that was
// recorded traced, as a child of the command that recorded it, and gives
// the entry the span's trace context: the mapper sends that one as
// ce_traceparent (docs/events.md), so that a consumer's span descends
// from the publish, and the publish from the command. An entry recorded
// untraced stays so. end ends the spans with the batch's outcome.
func publishSpans(ctx context.Context, entries []postgres.LogEntry) (end func(error)) {
	if !telemetry.Enabled() {
		return func(error) {}
	}
	spans := make([]trace.Span, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.TraceParent == "" {
			continue
		}
		sctx, span := telemetry.StartFrom(ctx, e.TraceParent, e.TraceState, "relay publish", telemetry.Kind(trace.SpanKindProducer)...)
		spans = append(spans, span)
		if !span.IsRecording() {
			// Sampled out: the entry keeps the command's context, which
			// says so too, and nothing is formatted for a span no one sees.
			continue
		}
		span.SetAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.message.id", e.ID),
			attribute.String("cloudevents.event_type", e.WireName),
			attribute.String("cloudevents.event_subject", e.StreamID))
		e.TraceParent, e.TraceState = telemetry.Carry(sctx)
	}
	return func(err error) {
		for _, s := range spans {
			telemetry.End(s, err)
		}
	}
}
