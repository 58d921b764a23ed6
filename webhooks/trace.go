package webhooks

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/telemetry"
)

// startSend starts a delivery attempt's span, continuing the trace of the
// event the delivery announces. The endpoint's URL is left out: it is the
// account's configuration, and may hold a token in its path or query.
func startSend(ctx context.Context, c claimed) (context.Context, trace.Span) {
	ctx, span := telemetry.StartFrom(ctx, c.traceParent, c.traceState, "webhook send", telemetry.Kind(trace.SpanKindClient)...)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("renderd.delivery_id", c.id),
			attribute.String("renderd.endpoint_id", c.endpointID),
			attribute.String("renderd.render_id", c.renderID),
			attribute.Int("renderd.attempt", c.attempt))
	}
	return ctx, span
}

// endSend ends a delivery attempt's span with its outcome: an error or an
// answer other than 2xx is the span's error.
func endSend(span trace.Span, res Result) {
	if span.IsRecording() {
		if res.StatusCode != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
		}
		if !res.OK() {
			msg := res.Error
			if msg == "" {
				msg = "the receiver did not answer 2xx"
			}
			span.SetStatus(codes.Error, msg)
		}
	}
	span.End()
}
