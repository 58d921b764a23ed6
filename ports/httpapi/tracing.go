package httpapi

import (
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/telemetry"
)

// withTracing serves each request in a server span named after its route
// ("POST /v1/renders"), continuing the caller's W3C trace context
// (traceparent, tracestate) when it sends one. The commands a handler
// runs are the span's children, and the events they record carry its
// trace on (telemetry/trace.go). With tracing off it costs a branch.
//
// It sits inside withLogging, whose recorder gives it the status, and
// notes the span on the request's info for the access log line.
func withTracing(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !telemetry.Enabled() {
			next.ServeHTTP(w, r)
			return
		}
		ctx, span := telemetry.StartFrom(r.Context(), r.Header.Get("traceparent"), r.Header.Get("tracestate"), r.Method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		i := info(ctx)
		i.trace = span.SpanContext()
		defer func() {
			route := i.route
			if route == "" {
				route = "unmatched" // never the path: it may hold a download token
			}
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
			if rec, ok := w.(*statusRecorder); ok {
				span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
				if rec.status >= http.StatusInternalServerError {
					span.SetStatus(codes.Error, http.StatusText(rec.status))
				}
			}
			span.End()
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// traceAttrs are the access log line's trace_id and span_id, when the
// request was served in a valid span.
func traceAttrs(sc trace.SpanContext, attrs []slog.Attr) []slog.Attr {
	if !sc.IsValid() {
		return attrs
	}
	return append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
}
