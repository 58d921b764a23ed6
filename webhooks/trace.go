package webhooks

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/telemetry"
)

// sendSpan describes a delivery attempt's span, when tracing is on. The
// endpoint's URL is left out: it is the account's configuration, and may
// hold a token in its path or query.
func sendSpan(c claimed) []trace.SpanStartOption {
	if !telemetry.Enabled() {
		return nil
	}
	return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("renderd.delivery_id", c.id),
		attribute.String("renderd.endpoint_id", c.endpointID),
		attribute.String("renderd.render_id", c.renderID),
		attribute.Int("renderd.attempt", c.attempt))}
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
