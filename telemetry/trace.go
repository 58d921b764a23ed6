package telemetry

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Traces follow one render across processes (docs/operations.md,
// "Tracing"): the API's request, the command transactions, the relay, the
// consumers, the encoder and the webhook dispatcher. Between processes the
// W3C trace context travels with the data rather than with a call: in an
// event's metadata (the event store), in the CloudEvents distributed
// tracing extension (Kafka), on a render_jobs row and on a
// webhook_deliveries row. The helpers below carry it as the two W3C header
// values, traceparent and tracestate, so that the layers that store it
// need no OpenTelemetry type.

// instrumentation names renderd's tracer.
const instrumentation = "github.com/renderd/renderd"

// tracing holds the tracer spans are started with. Tracing is off until
// SetupTracing (or a test) installs a provider: the tracer is then a no-op
// one, whose spans record nothing and allocate nothing, and Enabled lets
// the hot paths (the API's middleware) skip even that.
var tracing atomic.Pointer[tracerState]

type tracerState struct {
	tracer trace.Tracer
	on     bool
}

var off = &tracerState{tracer: noop.NewTracerProvider().Tracer(instrumentation)}

func state() *tracerState {
	if s := tracing.Load(); s != nil {
		return s
	}
	return off
}

// propagator is W3C trace context alone: renderd carries no baggage.
var propagator = propagation.TraceContext{}

// SetTracerProvider makes tp the provider of renderd's spans (nil turns
// tracing off again). SetupTracing calls it; tests install an in-memory
// provider (go.opentelemetry.io/otel/sdk/trace/tracetest) with it.
func SetTracerProvider(tp trace.TracerProvider) {
	if tp == nil {
		tracing.Store(nil)
		return
	}
	tracing.Store(&tracerState{tracer: tp.Tracer(instrumentation), on: true})
}

// Enabled reports whether a tracer provider is installed.
func Enabled() bool { return state().on }

// TracingConfigured reports whether the OpenTelemetry environment asks for
// traces to be exported: an exporter other than "none" named in
// OTEL_TRACES_EXPORTER, or an OTLP endpoint, and the SDK not disabled
// (OTEL_SDK_DISABLED). getenv is os.Getenv outside tests.
func TracingConfigured(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e != "" {
		return !strings.EqualFold(e, "none")
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// SetupTracing installs the process's tracer provider when the
// OpenTelemetry environment configures an exporter (TracingConfigured):
// the exporter comes from OTEL_TRACES_EXPORTER and
// OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL (OTLP over HTTP by default, or
// gRPC), the endpoint, headers and timeouts from the other OTEL_EXPORTER_*
// variables, and the sampler from OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG (parentbased_always_on by default), all read by
// the SDK itself. The resource is service.name (OTEL_SERVICE_NAME, else
// service) with the process's roles (renderd.roles) and whatever
// OTEL_RESOURCE_ATTRIBUTES adds.
//
// Without that configuration nothing is installed and nothing exported:
// spans are the no-op tracer's. shutdown flushes the spans still batched
// and stops the exporter; call it once the process's work has stopped.
func SetupTracing(ctx context.Context, service, roles string) (shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if !TracingConfigured(os.Getenv) {
		return none, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return none, errors.Join(errors.New("tracing: exporter"), err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service), attribute.String("renderd.roles", roles)))
	if err != nil {
		return none, errors.Join(errors.New("tracing: resource"), err)
	}
	// resource.Default reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES;
	// the operator's service name wins over ours.
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	SetTracerProvider(tp)
	return func(ctx context.Context) error {
		SetTracerProvider(nil)
		return tp.Shutdown(ctx)
	}, nil
}

// Kind is the start option giving a span kind k, made once: an option,
// and the slice of options a call passes, built per span cost an
// allocation each. Pass it as Start(ctx, name, Kind(k)...). A span's
// attributes are best set after its start and only when it records
// (span.IsRecording()): most spans of a sampled-down trace do not.
func Kind(k trace.SpanKind) []trace.SpanStartOption {
	if int(k) < len(kinds) {
		return kinds[k]
	}
	return nil
}

var kinds = func() [trace.SpanKindConsumer + 1][]trace.SpanStartOption {
	var ks [trace.SpanKindConsumer + 1][]trace.SpanStartOption
	for k := range ks {
		ks[k] = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKind(k))}
	}
	return ks
}()

// Start starts a span as a child of the span in ctx, if any. With tracing
// off it returns ctx as it is (a carried context in it stays there) and a
// no-op span, and allocates nothing.
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	s := state()
	if !s.on {
		return ctx, noop.Span{}
	}
	return s.tracer.Start(ctx, name, opts...)
}

// StartFrom starts a span whose parent is the trace context carried as
// W3C values (traceparent, tracestate) by an event, a Kafka record or a
// row; one that is missing or malformed starts a new trace, never an
// error. A span already in ctx is replaced as the parent: the carried
// context is where this work comes from.
//
// With tracing off the span is a no-op, but ctx still gets the carried
// context, so that what the work records (Carry) passes it on unchanged: a
// process without tracing does not cut the trace of the processes after
// it.
func StartFrom(ctx context.Context, traceParent, traceState, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx = Carried(ctx, traceParent, traceState)
	s := state()
	if !s.on {
		return ctx, noop.Span{}
	}
	return s.tracer.Start(ctx, name, opts...)
}

// Carried returns ctx with the carried trace context as its remote parent
// span context, or with no span when it is missing or malformed.
func Carried(ctx context.Context, traceParent, traceState string) context.Context {
	if traceParent == "" && !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	if traceParent == "" {
		return ctx
	}
	return propagator.Extract(ctx, &carrier{traceParent, traceState})
}

// Carry returns the W3C values of the span context in ctx, to store with
// what that span records: empty when there is no valid span context.
func Carry(ctx context.Context) (traceParent, traceState string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "", ""
	}
	var c carrier
	propagator.Inject(ctx, &c)
	return c.parent, c.state
}

// WithSpanOf returns dst with the span of src: work done on a context of
// its own (a timeout detached from a request, say) stays in src's trace.
func WithSpanOf(dst, src context.Context) context.Context {
	if sp := trace.SpanFromContext(src); sp.SpanContext().IsValid() {
		return trace.ContextWithSpan(dst, sp)
	}
	return dst
}

// End ends span, recording err (if any) as its error status.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// TraceIDs returns the trace and span ids of the span in ctx, for a log
// line, or ok = false when it has none that is valid.
func TraceIDs(ctx context.Context) (traceID, spanID string, ok bool) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", "", false
	}
	return sc.TraceID().String(), sc.SpanID().String(), true
}

// carrier is propagation.TextMapCarrier over the two W3C values.
type carrier struct{ parent, state string }

const (
	headerTraceParent = "traceparent"
	headerTraceState  = "tracestate"
)

func (c *carrier) Get(key string) string {
	switch key {
	case headerTraceParent:
		return c.parent
	case headerTraceState:
		return c.state
	}
	return ""
}

func (c *carrier) Set(key, value string) {
	switch key {
	case headerTraceParent:
		c.parent = value
	case headerTraceState:
		c.state = value
	}
}

func (c *carrier) Keys() []string { return []string{headerTraceParent, headerTraceState} }
