package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/telemetry"
)

// tracedAPI is the API's middleware chain (New) around one route, logging
// JSON lines to logs.
func tracedAPI(logs *bytes.Buffer, status int) http.Handler {
	r := mux.NewRouter()
	r.Handle("/v1/renders/{id}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) })).Methods(http.MethodGet)
	r.Use(recordRoute)
	return withRequestID(withLogging(slog.New(slog.NewJSONHandler(logs, nil)), withTracing(r)))
}

func accessLog(t *testing.T, logs *bytes.Buffer) map[string]any {
	t.Helper()
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs, err)
	}
	return line
}

func TestWithTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	telemetry.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { telemetry.SetTracerProvider(nil) })

	t.Run("a_request_is_a_server_span_named_after_its_route_and_logged_with_its_ids", func(t *testing.T) {
		exp.Reset()
		var logs bytes.Buffer
		req := httptest.NewRequest(http.MethodGet, "/v1/renders/rnd_1", nil)
		req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		tracedAPI(&logs, http.StatusOK).ServeHTTP(httptest.NewRecorder(), req)
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%d spans", len(spans))
		}
		s := spans[0]
		if s.Name != "GET /v1/renders/{id}" || s.SpanKind != trace.SpanKindServer || s.Status.Code == codes.Error {
			t.Errorf("span %q kind %v status %v", s.Name, s.SpanKind, s.Status)
		}
		if s.Parent.SpanID().String() != "b7ad6b7169203331" || s.SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
			t.Errorf("the caller's trace context is not the parent: %v", s.Parent)
		}
		line := accessLog(t, &logs)
		if line["trace_id"] != s.SpanContext.TraceID().String() || line["span_id"] != s.SpanContext.SpanID().String() {
			t.Errorf("access log %v, span %v", line, s.SpanContext)
		}
	})

	t.Run("a_5xx_is_the_spans_error", func(t *testing.T) {
		exp.Reset()
		var logs bytes.Buffer
		tracedAPI(&logs, http.StatusServiceUnavailable).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/renders/rnd_1", nil))
		s := exp.GetSpans()[0]
		if s.Status.Code != codes.Error || s.Parent.IsValid() {
			t.Errorf("status %v, parent %v", s.Status, s.Parent)
		}
		found := false
		for _, a := range s.Attributes {
			found = found || a == attribute.Int("http.response.status_code", http.StatusServiceUnavailable)
		}
		if !found {
			t.Errorf("attributes %v", s.Attributes)
		}
	})

	t.Run("an_unmatched_path_is_not_named", func(t *testing.T) {
		exp.Reset()
		var logs bytes.Buffer
		tracedAPI(&logs, http.StatusOK).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/downloads/secret-token", nil))
		if s := exp.GetSpans()[0]; s.Name != "GET unmatched" {
			t.Errorf("span %q", s.Name)
		}
	})
}

func TestWithTracing_off_logs_no_ids(t *testing.T) {
	telemetry.SetTracerProvider(nil)
	var logs bytes.Buffer
	req := httptest.NewRequest(http.MethodGet, "/v1/renders/rnd_1", nil)
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	tracedAPI(&logs, http.StatusOK).ServeHTTP(httptest.NewRecorder(), req)
	line := accessLog(t, &logs)
	if _, ok := line["trace_id"]; ok {
		t.Errorf("access log %v", line)
	}
	if line["status"] != float64(http.StatusOK) {
		t.Errorf("access log %v", line)
	}
}
