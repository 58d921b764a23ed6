package httpapi

import (
	"encoding/hex"
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
		// The canonical keys, read from the map: Header.Get would
		// canonicalise "traceparent" anew, an allocation per request.
		ctx, span := telemetry.StartFrom(r.Context(), first(r.Header["Traceparent"]), first(r.Header["Tracestate"]), r.Method,
			telemetry.Kind(trace.SpanKindServer)...)
		i := info(ctx)
		i.trace = span.SpanContext()
		defer func() {
			// An unsampled span records nothing: its name and attributes
			// would be built for no one.
			if !span.IsRecording() {
				span.End()
				return
			}
			route := i.route
			if route == "" {
				route = "unmatched" // never the path: it may hold a download token
			}
			span.SetName(r.Method + " " + route)
			attrs := []attribute.KeyValue{attribute.String("http.request.method", r.Method), attribute.String("http.route", route)}
			if rec, ok := w.(*statusRecorder); ok {
				attrs = append(attrs, attribute.Int("http.response.status_code", rec.status))
				if rec.status >= http.StatusInternalServerError {
					span.SetStatus(codes.Error, http.StatusText(rec.status))
				}
			}
			span.SetAttributes(attrs...)
			span.End()
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// first is a header's first value, or "".
func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// traceAttrs are the access log line's trace_id and span_id, when the
// request was served in a valid span: both in one string, one allocation.
func traceAttrs(sc trace.SpanContext, attrs []slog.Attr) []slog.Attr {
	if !sc.IsValid() {
		return attrs
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	var buf [len(tid)*2 + len(sid)*2]byte
	hex.Encode(buf[:], tid[:])
	hex.Encode(buf[len(tid)*2:], sid[:])
	ids := string(buf[:])
	return append(attrs, slog.String("trace_id", ids[:len(tid)*2]), slog.String("span_id", ids[len(tid)*2:]))
}
