package telemetry

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// exampleParent is the W3C Trace Context specification's example.
const exampleParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// inMemory installs an in-memory tracer provider for the test.
func inMemory(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { SetTracerProvider(nil) })
	return exp
}

func TestTracingConfigured(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing_set", nil, false},
		{"an_otlp_endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"a_traces_endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"an_exporter", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"the_none_exporter_wins_over_an_endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{"the_sdk_disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{"only_a_protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := TracingConfigured(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Fatalf("TracingConfigured = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetupTracing_without_configuration_installs_nothing(t *testing.T) {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"} {
		t.Setenv(k, "")
	}
	shutdown, err := SetupTracing(t.Context(), "renderd", "api")
	if err != nil {
		t.Fatal(err)
	}
	if Enabled() {
		t.Fatal("tracing enabled without configuration")
	}
	ctx, span := Start(t.Context(), "nothing")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatal("a span records without configuration")
	}
	span.End()
	if tp, _ := Carry(ctx); tp != "" {
		t.Fatalf("an untraced span carries %q", tp)
	}
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestSetupTracing_with_an_unknown_exporter_fails(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
	if _, err := SetupTracing(t.Context(), "renderd", "api"); err == nil {
		t.Fatal("accepted")
	}
	if Enabled() {
		t.Fatal("tracing enabled after a failed setup")
	}
}

func TestSetupTracing_with_an_endpoint_installs_a_provider_and_flushes_on_shutdown(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // nothing listens: the flush fails, it never hangs
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "200")
	shutdown, err := SetupTracing(t.Context(), "renderd", "api,relay")
	if err != nil {
		t.Fatal(err)
	}
	if !Enabled() {
		t.Fatal("tracing off with an endpoint")
	}
	_, span := Start(t.Context(), "one")
	if !span.IsRecording() {
		t.Fatal("the default sampler records a root span")
	}
	span.End()
	_ = shutdown(context.WithoutCancel(t.Context())) // an export error is reported, not fatal
	if Enabled() {
		t.Fatal("tracing still on after shutdown")
	}
}

func TestStartFrom(t *testing.T) {
	exp := inMemory(t)

	t.Run("a_carried_context_is_the_parent", func(t *testing.T) {
		ctx, span := StartFrom(t.Context(), exampleParent, "rojo=00f067aa0ba902b7", "child")
		span.End()
		sc := span.SpanContext()
		if sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
			t.Fatalf("trace %s", sc.TraceID())
		}
		got := exp.GetSpans()[len(exp.GetSpans())-1]
		if got.Parent.SpanID().String() != "b7ad6b7169203331" || !got.Parent.IsRemote() {
			t.Fatalf("parent %v", got.Parent)
		}
		tp, ts := Carry(ctx)
		if tp != "00-0af7651916cd43dd8448eb211c80319c-"+sc.SpanID().String()+"-01" || ts != "rojo=00f067aa0ba902b7" {
			t.Fatalf("carries %q %q", tp, ts)
		}
	})

	for _, bad := range []string{"not-a-traceparent", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"} {
		t.Run("a_malformed_context_starts_a_new_trace/"+bad, func(t *testing.T) {
			_, span := StartFrom(t.Context(), bad, "", "root")
			span.End()
			got := exp.GetSpans()[len(exp.GetSpans())-1]
			if got.Parent.IsValid() || !span.SpanContext().IsValid() {
				t.Fatalf("parent %v, span %v", got.Parent, span.SpanContext())
			}
		})
	}

	t.Run("the_carried_context_replaces_a_span_in_ctx", func(t *testing.T) {
		ctx, outer := Start(t.Context(), "outer")
		defer outer.End()
		_, span := StartFrom(ctx, "", "", "detached")
		span.End()
		if span.SpanContext().TraceID() == outer.SpanContext().TraceID() {
			t.Fatal("a work item without a carried context joined the trace it happened to run in")
		}
	})

	t.Run("an_error_is_the_span_status", func(t *testing.T) {
		_, span := Start(t.Context(), "failing")
		End(span, errors.New("boom"))
		got := exp.GetSpans()[len(exp.GetSpans())-1]
		if got.Status.Code != codes.Error || got.Status.Description != "boom" {
			t.Fatalf("status %+v", got.Status)
		}
	})
}

// With tracing off, work that carries a trace context passes it on
// unchanged, so an untraced process does not cut the trace.
func TestStartFrom_with_tracing_off_passes_the_context_on(t *testing.T) {
	SetTracerProvider(nil)
	ctx, span := StartFrom(t.Context(), exampleParent, "rojo=1", "off")
	if span.IsRecording() {
		t.Fatal("records with tracing off")
	}
	span.End()
	if tp, ts := Carry(ctx); tp != exampleParent || ts != "rojo=1" {
		t.Fatalf("carries %q %q", tp, ts)
	}
	if _, _, ok := TraceIDs(context.Background()); ok {
		t.Fatal("ids without a span")
	}
	if tid, _, ok := TraceIDs(ctx); !ok || tid != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("trace id %q", tid)
	}
}

func TestWithSpanOf(t *testing.T) {
	inMemory(t)
	src, span := Start(t.Context(), "src")
	defer span.End()
	got := WithSpanOf(context.Background(), src)
	if !trace.SpanContextFromContext(got).Equal(span.SpanContext()) {
		t.Fatal("span not handed over")
	}
	if WithSpanOf(context.Background(), context.Background()) != context.Background() {
		t.Fatal("a context without a span changed")
	}
}

func TestKind(t *testing.T) {
	exp := inMemory(t)
	for _, k := range []trace.SpanKind{trace.SpanKindInternal, trace.SpanKindServer, trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindConsumer} {
		_, span := Start(t.Context(), "s", Kind(k)...)
		span.End()
		if got := exp.GetSpans()[len(exp.GetSpans())-1].SpanKind; got != k {
			t.Errorf("Kind(%v) started a %v span", k, got)
		}
	}
	if Kind(trace.SpanKind(99)) != nil {
		t.Error("an unknown kind gives options")
	}
}
