package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/ports/consumers"
	"github.com/renderd/renderd/telemetry"
)

// Issue 19's acceptance test for traces: one POST /v1/renders on the real
// stack (Postgres, Kafka, ffmpeg, a webhook receiver) yields one trace
// through every process stage, each stage descending from the one before
// it and starting after it began. The trace crosses the event store (the
// events' metadata), Kafka (ce_traceparent), the render job row and the
// webhook delivery row; the spans are named where they start
// (docs/operations.md, "Tracing").
func TestTracing_one_render_is_one_trace_from_the_POST_to_the_webhook(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	telemetry.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { telemetry.SetTracerProvider(nil) })

	s := startService(t, webhookEnv[1:]...) // renders encoded: the encoder role runs ffmpeg
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	rc := newReceiver(t, nil)
	s.endpoint(key, rc.srv.URL+"/hooks")

	res := s.do(key, http.MethodPost, "/v1/renders", render(video, map[string]any{"format": "m4a"}))
	s.expect(res, http.StatusCreated, "")
	id := res.str("id")
	s.waitRender(key, id, "completed", encodeTimeout)
	testenv.Eventually(t, 30*time.Second, "the webhook", func() bool { return rc.count() >= 1 })

	// The send's span ends once the receiver's answer is recorded.
	var spans spanSet
	testenv.Eventually(t, 30*time.Second, "the webhook send's span", func() bool {
		spans = traceOf(t, exp.GetSpans(), "POST /v1/renders")
		return spans.find("webhook send", nil) != nil
	})

	post := spans.must(t, "POST /v1/renders", nil)
	if post.SpanKind() != trace.SpanKindServer || post.Parent().IsValid() {
		t.Errorf("the POST's span: kind %v, parent %v", post.SpanKind(), post.Parent())
	}
	request := spans.must(t, "command RequestRender", nil)
	publishRequested := spans.must(t, "relay publish", attr("cloudevents.event_type", "render.requested.v1"))
	claim := spans.must(t, "encoder claim", attr("renderd.render_id", id))
	start := spans.must(t, "command StartRender", nil)
	ffmpeg := spans.must(t, "ffmpeg", nil)
	complete := spans.must(t, "command CompleteRender", nil)
	publishCompleted := spans.must(t, "relay publish", attr("cloudevents.event_type", "render.completed.v1"))
	projectCompleted := spans.find("consume "+consumers.RendersProjectorGroup, spans.under(publishCompleted))
	project := spans.find("consume "+consumers.RendersProjectorGroup, spans.under(publishRequested))
	hook := spans.must(t, "consume "+consumers.RendersWebhooksGroup, spans.under(publishCompleted))
	send := spans.must(t, "webhook send", nil)
	if project == nil || projectCompleted == nil {
		t.Fatalf("the render projector's spans of render.requested and render.completed: %v, %v\n%s", project, projectCompleted, spans)
	}

	job := spans.must(t, "render job", attr("renderd.render_id", id))

	// Each stage descends from the one before and starts after it: the
	// POST's command queues the render; the encoder's claim continues the
	// job row's trace, the job runs ffmpeg and then records the
	// completion, whose event is relayed, projected and sent.
	descent := [][]sdktrace.ReadOnlySpan{
		{post, request, publishRequested, project},
		{request, claim, start},
		{request, claim, job, ffmpeg},
		{job, complete, publishCompleted, hook, send},
		{publishCompleted, projectCompleted},
	}
	for _, c := range descent {
		for i := 1; i < len(c); i++ {
			if !spans.descends(c[i], c[i-1]) {
				t.Errorf("%s does not descend from %s\n%s", c[i].Name(), c[i-1].Name(), spans)
			}
		}
	}
	order := []sdktrace.ReadOnlySpan{post, request, publishRequested, claim, start, job, ffmpeg, complete, publishCompleted, hook, send}
	for i := 1; i < len(order); i++ {
		if before, after := order[i-1], order[i]; after.StartTime().Before(before.StartTime()) {
			t.Errorf("%s started at %s, before %s at %s", after.Name(), after.StartTime(), before.Name(), before.StartTime())
		}
	}
	if complete.StartTime().Before(ffmpeg.EndTime()) {
		t.Errorf("the completion started before ffmpeg ended")
	}
	if publishRequested.SpanKind() != trace.SpanKindProducer || hook.SpanKind() != trace.SpanKindConsumer || send.SpanKind() != trace.SpanKindClient {
		t.Errorf("kinds: publish %v, consume %v, send %v", publishRequested.SpanKind(), hook.SpanKind(), send.SpanKind())
	}
}

// spanSet is one trace's spans.
type spanSet []sdktrace.ReadOnlySpan

// traceOf returns the spans of the trace of the one span named root.
func traceOf(t *testing.T, all tracetest.SpanStubs, root string) spanSet {
	t.Helper()
	var id trace.TraceID
	for _, s := range all {
		if s.Name == root {
			if id.IsValid() && id != s.SpanContext.TraceID() {
				t.Fatalf("two spans named %s", root)
			}
			id = s.SpanContext.TraceID()
		}
	}
	var out spanSet
	for _, s := range all.Snapshots() {
		if s.SpanContext().TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

// find returns the first span named name that match accepts (nil: any).
func (ss spanSet) find(name string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	for _, s := range ss {
		if s.Name() == name && (match == nil || match(s)) {
			return s
		}
	}
	return nil
}

func (ss spanSet) must(t *testing.T, name string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	s := ss.find(name, match)
	if s == nil {
		t.Fatalf("no span %q in the render's trace:\n%s", name, ss)
	}
	return s
}

// under matches the spans that descend from ancestor.
func (ss spanSet) under(ancestor sdktrace.ReadOnlySpan) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool { return ss.descends(s, ancestor) }
}

// descends reports whether s has ancestor among its parents, walking the
// parent links within the trace.
func (ss spanSet) descends(s, ancestor sdktrace.ReadOnlySpan) bool {
	if s == nil || ancestor == nil {
		return false
	}
	byID := make(map[trace.SpanID]sdktrace.ReadOnlySpan, len(ss))
	for _, x := range ss {
		byID[x.SpanContext().SpanID()] = x
	}
	for p := s.Parent().SpanID(); p.IsValid(); {
		if p == ancestor.SpanContext().SpanID() {
			return true
		}
		next, ok := byID[p]
		if !ok {
			return false
		}
		p = next.Parent().SpanID()
	}
	return false
}

func (ss spanSet) String() string {
	sorted := slices.Clone(ss)
	slices.SortFunc(sorted, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	var b strings.Builder
	for _, s := range sorted {
		fmt.Fprintf(&b, "  %s %s ← %s\n", s.SpanContext().SpanID(), s.Name(), s.Parent().SpanID())
	}
	return b.String()
}

// attr matches spans with the attribute.
func attr(key, value string) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool {
		return slices.Contains(s.Attributes(), attribute.String(key, value))
	}
}
