package webhooks

import (
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/renderd/renderd/telemetry"
)

// A send's span ends with its outcome: a 2xx is fine; another answer, or
// none, is the span's error.
func TestEndSend(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	telemetry.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { telemetry.SetTracerProvider(nil) })
	for _, tt := range []struct {
		name string
		res  Result
		want codes.Code
		desc string
	}{
		{"delivered", Result{StatusCode: 204}, codes.Unset, ""},
		{"refused", Result{StatusCode: 500}, codes.Error, "the receiver did not answer 2xx"},
		{"unreachable", Result{Error: "dial tcp: connection refused"}, codes.Error, "dial tcp: connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			c := claimed{id: "whd_1", endpointID: "whe_1", renderID: "rnd_1", attempt: 2}
			_, span := startSend(t.Context(), c)
			endSend(span, tt.res)
			got := exp.GetSpans()
			if len(got) != 1 || got[0].Status.Code != tt.want || got[0].Status.Description != tt.desc {
				t.Fatalf("spans %+v", got)
			}
		})
	}
}
