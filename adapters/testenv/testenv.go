// Package testenv finds the real Postgres and Kafka that integration tests
// run against, in this order: DATABASE_URL and KAFKA_BROKERS from the
// environment; the local stack's .data/stack.env (deployments/local/up);
// containers started with dockertest when a Docker daemon answers. With none
// of them a test is skipped with a message, or fails when
// RENDERD_REQUIRE_STACK=1 (as `make test` sets), so CI can never go green by
// skipping.
package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
)

// Stack is where the servers are.
type Stack struct {
	DatabaseURL  string
	KafkaBrokers []string
}

var (
	stackOnce sync.Once
	stack     Stack
	stackErr  error
)

// Find returns the stack, skipping (or failing) t when there is none.
func Find(t testing.TB) Stack {
	t.Helper()
	stackOnce.Do(func() { stack, stackErr = locate() })
	if stackErr != nil {
		if os.Getenv("RENDERD_REQUIRE_STACK") == "1" {
			t.Fatalf("no Postgres/Kafka for integration tests: %v", stackErr)
		}
		t.Skipf("integration test skipped: %v (run `make test`, or deployments/local/up)", stackErr)
	}
	return stack
}

func locate() (Stack, error) {
	env := map[string]string{"DATABASE_URL": os.Getenv("DATABASE_URL"), "KAFKA_BROKERS": os.Getenv("KAFKA_BROKERS")}
	if env["DATABASE_URL"] == "" || env["KAFKA_BROKERS"] == "" {
		if file, err := stackEnvFile(); err == nil {
			if err := readEnvFile(file, env); err != nil {
				return Stack{}, err
			}
		}
	}
	if env["DATABASE_URL"] != "" && env["KAFKA_BROKERS"] != "" {
		return Stack{DatabaseURL: env["DATABASE_URL"], KafkaBrokers: strings.Split(env["KAFKA_BROKERS"], ",")}, nil
	}
	return startContainers()
}

// stackEnvFile finds .data/stack.env in the working directory or above it.
func stackEnvFile() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		f := filepath.Join(dir, ".data", "stack.env")
		if _, err := os.Stat(f); err == nil {
			return f, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

func readEnvFile(path string, into map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && into[k] == "" {
			into[k] = strings.Trim(v, `"'`)
		}
	}
	return sc.Err()
}

// Postgres returns a pool on a fresh, migrated database of its own, dropped
// when the test ends.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := NewDatabase(t)
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(t.Context(), pool, Logger(t)); err != nil {
		t.Fatal(err)
	}
	return pool
}

// NewDatabase creates an empty database for t and returns its URL; it is
// dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s := Find(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", redact(s.DatabaseURL), err)
	}
	defer admin.Close(ctx)
	name := "renderd_test_" + RandomSuffix()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, s.DatabaseURL)
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// KafkaBrokers returns the broker addresses.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	return Find(t).KafkaBrokers
}

// TopicPrefix returns a topic prefix unique to this test, so tests sharing a
// broker never see each other's messages. The test's topics are deleted when
// it ends, so a long-lived dev broker does not pile them up.
func TopicPrefix(t testing.TB) string {
	prefix := "test." + RandomSuffix() + "."
	brokers := KafkaBrokers(t)
	t.Cleanup(func() { deleteTopics(brokers, prefix) })
	return prefix
}

// RandomSuffix returns 12 random hex characters.
func RandomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Logger logs into the test's log (at debug level with -v).
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Discard is a logger that drops everything (benchmarks).
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Eventually polls cond every 20 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}
