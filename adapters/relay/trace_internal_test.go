package relay

import (
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/telemetry"
)

const exampleTraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func entries() []postgres.LogEntry {
	traced := postgres.LogEntry{WireName: "render.progressed.v1"}
	traced.ID, traced.TraceParent, traced.TraceState = "e1", exampleTraceParent, "rojo=1"
	untraced := postgres.LogEntry{WireName: "render.progressed.v1"}
	untraced.ID = "e2"
	malformed := postgres.LogEntry{WireName: "render.progressed.v1"}
	malformed.ID, malformed.Metadata = "e3", domain.Metadata{TraceParent: "00-garbage"}
	return []postgres.LogEntry{traced, untraced, malformed}
}

// The relay publishes a traced event in a producer span that descends from
// the recording command, and sends the span's context on as the event's
// ce_traceparent; an untraced event stays untraced; a malformed context
// starts a new trace rather than stopping the relay.
func TestPublishSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	telemetry.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { telemetry.SetTracerProvider(nil) })

	es := entries()
	end := publishSpans(t.Context(), es)
	end(nil)
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per traced or malformed entry", len(spans))
	}
	for _, s := range spans {
		if s.Name != "relay publish" || s.SpanKind != trace.SpanKindProducer || s.Status.Code == codes.Error {
			t.Errorf("span %s kind %v status %v", s.Name, s.SpanKind, s.Status)
		}
	}
	if p := spans[0].Parent; p.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || p.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("parent %v", p)
	}
	if want := "00-0af7651916cd43dd8448eb211c80319c-" + spans[0].SpanContext.SpanID().String() + "-01"; es[0].TraceParent != want || es[0].TraceState != "rojo=1" {
		t.Errorf("entry carries %q %q, want the span's %q", es[0].TraceParent, es[0].TraceState, want)
	}
	if es[1].TraceParent != "" {
		t.Errorf("untraced entry carries %q", es[1].TraceParent)
	}
	if spans[1].Parent.IsValid() || es[2].TraceParent == "00-garbage" || es[2].TraceParent == "" {
		t.Errorf("malformed: parent %v, entry carries %q", spans[1].Parent, es[2].TraceParent)
	}

	t.Run("a_failed_publish_is_the_spans_error", func(t *testing.T) {
		exp.Reset()
		publishSpans(t.Context(), entries())(errors.New("broker away"))
		for _, s := range exp.GetSpans() {
			if s.Status.Code != codes.Error {
				t.Errorf("span status %v", s.Status)
			}
		}
	})

	t.Run("an_entry_sampled_out_keeps_its_context", func(t *testing.T) {
		exp.Reset()
		const unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
		es := entries()
		es[0].TraceParent = unsampled
		publishSpans(t.Context(), es[:1])(nil)
		if n := len(exp.GetSpans()); n != 0 || es[0].TraceParent != unsampled || es[0].TraceState != "rojo=1" {
			t.Errorf("%d spans exported; entry carries %q %q", n, es[0].TraceParent, es[0].TraceState)
		}
	})
}

// With tracing off the entries go out with the context they were recorded
// with.
func TestPublishSpans_with_tracing_off_changes_nothing(t *testing.T) {
	telemetry.SetTracerProvider(nil)
	es := entries()
	publishSpans(t.Context(), es)(nil)
	if es[0].TraceParent != exampleTraceParent || es[0].TraceState != "rojo=1" || es[2].TraceParent != "00-garbage" {
		t.Fatalf("entries %+v", es)
	}
}
