package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/testenv"
)

// A component that fails to build after the API already listens (here the
// encoder's media sandbox, whose account does not exist) stops the whole
// start: serve returns the error and nothing keeps serving.
func TestServe_a_component_that_fails_late_stops_the_api_that_already_listens(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("RENDERD_MEDIA_USER is looked up only when renderd runs as root")
	}
	dsn := testenv.NewDatabase(t)
	addr, metricsAddr, prefix := freeAddr(t), freeAddr(t), testenv.TopicPrefix(t)
	getenv := env(map[string]string{
		"DATABASE_URL": dsn, "KAFKA_BROKERS": strings.Join(testenv.KafkaBrokers(t), ","),
		"RENDERD_HTTP_ADDR": addr, "RENDERD_KAFKA_TOPIC_PREFIX": prefix, "RENDERD_KAFKA_GROUP_PREFIX": prefix,
		"RENDERD_BLOB_URL": "file:" + t.TempDir(), "RENDERD_SCRATCH_DIR": t.TempDir(), "RENDERD_LOG_LEVEL": "warn", "RENDERD_SECRETS_KEY": testSecretsKey,
		"RENDERD_ROLES": "api,encoder", "RENDERD_MEDIA_USER": "renderd-no-such-user", "RENDERD_METRICS_ADDR": metricsAddr,
	})
	var logs bytes.Buffer
	if err := run(t.Context(), []string{"migrate"}, getenv, io.Discard, &logs); err != nil {
		t.Fatalf("migrate: %v\n%s", err, logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, []string{"serve"}, getenv, io.Discard, &logs)
	if err == nil || !strings.Contains(err.Error(), "RENDERD_MEDIA_USER") {
		t.Fatalf("serve: %v, want the media user's error\n%s", err, logs.String())
	}
	if ctx.Err() != nil {
		t.Fatal("serve returned only when its context ended")
	}
	for _, a := range []string{addr, metricsAddr} {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after serve failed", a)
		}
	}
}
