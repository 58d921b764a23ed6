package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/telemetry"
)

// A tracing configuration the SDK cannot follow stops serve at start, as
// any other configuration error does, before it opens anything; it is not
// silently ignored.
func TestServe_an_unknown_trace_exporter_stops_it_at_start(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
	getenv := env(map[string]string{
		// Nothing listens here: serve must fail before it dials.
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "RENDERD_ROLES": "relay", "KAFKA_BROKERS": "127.0.0.1:1",
		"RENDERD_LOG_LEVEL": "warn",
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var logs bytes.Buffer
	err := run(ctx, []string{"serve"}, getenv, io.Discard, &logs)
	if err == nil || !strings.Contains(err.Error(), "tracing") {
		t.Fatalf("serve: %v, want the tracing setup's error\n%s", err, logs.String())
	}
	if telemetry.Enabled() {
		t.Fatal("tracing left on")
	}
}
