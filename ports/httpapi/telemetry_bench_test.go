package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/renderd/renderd/telemetry"
)

// BenchmarkTelemetry is what metrics and tracing add to a request through
// New's whole chain (GET /v1/renders/{id} on in-memory fakes, access log
// written as JSON to a discard writer): tracing off, one trace in a hundred
// sampled, and every trace, spans handed to an exporter that keeps nothing.
// renderd-bench -only telemetry measures the same on the real stack.
func BenchmarkTelemetry(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h := oaServer(b, oaServerOpts{log: log})
	modes := []struct {
		name    string
		sampler sdktrace.Sampler // nil: tracing off
	}{
		{"off", nil},
		{"sampled_1pct", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))},
		{"sampled_all", sdktrace.AlwaysSample()},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			if m.sampler != nil {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(m.sampler),
					sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				telemetry.SetTracerProvider(tp)
				b.Cleanup(func() {
					telemetry.SetTracerProvider(nil)
					_ = tp.Shutdown(b.Context())
				})
			}
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/v1/renders/rnd_1", nil)
				req.Header.Set("Authorization", "Bearer "+oaKey)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
