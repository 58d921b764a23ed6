package telemetry

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkSpan is what one span costs a request: off (no provider), and
// with a provider sampling 1 % and 100 % into a batcher whose exporter
// discards.
func BenchmarkSpan(b *testing.B) {
	for _, c := range []struct {
		name    string
		sampler sdktrace.Sampler
	}{{"off", nil}, {"1%", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))}, {"100%", sdktrace.AlwaysSample()}} {
		b.Run(c.name, func(b *testing.B) {
			if c.sampler != nil {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(c.sampler), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				SetTracerProvider(tp)
				defer func() { SetTracerProvider(nil); _ = tp.Shutdown(context.Background()) }()
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ctx, span := StartFrom(context.Background(), "", "", "GET /v1/renders/{id}")
					_, _ = Carry(ctx)
					End(span, nil)
				}
			})
		})
	}
}
