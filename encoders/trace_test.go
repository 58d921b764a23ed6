package encoders_test

import (
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/telemetry"
)

const requestTrace = "0af7651916cd43dd8448eb211c80319c"

// The encoder finds a render by reading the queue, not by a message, so
// the render's trace reaches it on the job row: the claim, the job, ffmpeg
// and every command of the attempt continue the request's trace, and so
// do the events they record.
func TestRenderWorker_the_attempt_continues_the_requests_trace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	telemetry.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { telemetry.SetTracerProvider(nil) })

	r := newRig(t)
	r.requestCtx = telemetry.Carried(t.Context(), "00-"+requestTrace+"-b7ad6b7169203331-01", "")
	id := r.render()
	if got := r.run(id, 5*time.Second); got.State() != domain.RenderStateCompleted {
		t.Fatalf("state %s", got.State())
	}
	recs, err := r.store.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if !strings.HasPrefix(rec.TraceParent, "00-"+requestTrace+"-") {
			t.Errorf("%T carries %q", rec.Event, rec.TraceParent)
		}
	}
	spans := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID().String() == requestTrace { // the asset's setup has traces of its own
			spans[s.Name] = s
		}
	}
	request, claim, job := spans["command RequestRender"], spans["encoder claim"], spans["render job"]
	parentOf := map[string]tracetest.SpanStub{
		"encoder claim": request, "command StartRender": claim, "render job": claim,
		"ffmpeg": job, "command CompleteRender": job,
	}
	for name, parent := range parentOf {
		s, ok := spans[name]
		if !ok || parent.Name == "" || s.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Errorf("%s (found %v): parent %v, want %s", name, ok, s.Parent.SpanID(), parent.Name)
		}
	}
}

// With tracing off nothing is recorded, but the attempt's events carry the
// request's trace context on unchanged, for a traced process after it.
func TestRenderWorker_with_tracing_off_passes_the_requests_trace_on(t *testing.T) {
	telemetry.SetTracerProvider(nil)
	r := newRig(t)
	parent := "00-" + requestTrace + "-b7ad6b7169203331-01"
	r.requestCtx = telemetry.Carried(t.Context(), parent, "rojo=1")
	id := r.render()
	if got := r.run(id, 5*time.Second); got.State() != domain.RenderStateCompleted {
		t.Fatalf("state %s", got.State())
	}
	recs, err := r.store.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.TraceParent != parent || rec.TraceState != "rojo=1" {
			t.Errorf("%T carries %q %q", rec.Event, rec.TraceParent, rec.TraceState)
		}
	}
}
