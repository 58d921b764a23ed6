package consumers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/telemetry"
)

const exampleTraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// spanOf is an EventHandler that notes the span it ran in and fails with err.
type spanOf struct {
	got trace.SpanContext
	err error
}

func (s *spanOf) Handle(ctx context.Context, _ domain.Recorded) error {
	s.got = trace.SpanContextFromContext(ctx)
	return s.err
}

// tracedMessage is a render.progressed record as the relay publishes it,
// with the given ce_traceparent ("" for none).
func tracedMessage(t *testing.T, traceParent string) *message.Message {
	t.Helper()
	codec := eventschema.NewCodec()
	attrs, err := codec.CloudEventAttributes(domain.Recorded{ID: "0b5e6f0e-2a1d-4c3b-9e8f-7a6b5c4d3e2f", StreamID: "rnd_1",
		StreamType: domain.AggregateRender, StreamVersion: 2, Position: 7,
		Metadata: domain.Metadata{AccountID: "acc_1", OccurredAt: time.Now()}}, eventschema.RenderProgressedV1)
	if err != nil {
		t.Fatal(err)
	}
	if traceParent != "" {
		attrs[eventschema.ExtTraceParent] = traceParent
	}
	msg := message.NewMessage(attrs[eventschema.AttrID], []byte(`{"attempt": 1, "percent": 5}`))
	msg.Metadata = attrs
	return msg
}

// A consumer's span continues the trace the record carries; a record
// without one, or with a malformed one, is handled all the same, in a new
// trace: tracing never refuses an event.
func TestHandle_continues_the_records_trace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	telemetry.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { telemetry.SetTracerProvider(nil) })
	codec := eventschema.NewCodec()

	for _, tt := range []struct {
		name, traceParent string
		joins             bool
	}{
		{"a_valid_traceparent_is_the_parent", exampleTraceParent, true},
		{"no_traceparent_starts_a_new_trace", "", false},
		{"a_malformed_traceparent_starts_a_new_trace", "00-not-a-trace-01", false},
		{"an_all_zero_trace_id_starts_a_new_trace", "00-00000000000000000000000000000000-b7ad6b7169203331-01", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			h := &spanOf{}
			if err := handle(codec, h, time.Minute, RendersProjectorGroup)(tracedMessage(t, tt.traceParent)); err != nil {
				t.Fatalf("handled with %v", err)
			}
			spans := exp.GetSpans()
			if len(spans) != 1 || spans[0].Name != "consume "+RendersProjectorGroup || spans[0].SpanKind != trace.SpanKindConsumer {
				t.Fatalf("spans %v", spans)
			}
			if !h.got.Equal(spans[0].SpanContext) {
				t.Fatal("the handler did not run in the consumer's span")
			}
			joined := spans[0].Parent.IsValid() && spans[0].Parent.TraceID().String() == "0af7651916cd43dd8448eb211c80319c"
			if joined != tt.joins || (!tt.joins && spans[0].Parent.IsValid()) {
				t.Fatalf("parent %v", spans[0].Parent)
			}
		})
	}

	t.Run("a_failed_handling_is_the_spans_error", func(t *testing.T) {
		exp.Reset()
		boom := errors.New("boom")
		if err := handle(codec, &spanOf{err: boom}, time.Minute, RendersProjectorGroup)(tracedMessage(t, exampleTraceParent)); !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
		if spans := exp.GetSpans(); len(spans) != 1 || spans[0].Status.Code != codes.Error {
			t.Fatalf("spans %v", spans)
		}
	})
}

// With tracing off, the handler still runs in the record's trace context
// (no span of its own), so that what it records passes the trace on.
func TestHandle_with_tracing_off_passes_the_trace_on(t *testing.T) {
	telemetry.SetTracerProvider(nil)
	h := &spanOf{}
	if err := handle(eventschema.NewCodec(), h, time.Minute, RendersProjectorGroup)(tracedMessage(t, exampleTraceParent)); err != nil {
		t.Fatal(err)
	}
	if h.got.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || h.got.SpanID().String() != "b7ad6b7169203331" {
		t.Fatalf("handled in %v", h.got)
	}
}
