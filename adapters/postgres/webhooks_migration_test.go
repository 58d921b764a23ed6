package postgres_test

import (
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/testenv"
)

// Attempts logged before migration 00014 lose the addresses of their
// transport errors and refusals, and their bodies; the cause stays.
func TestWebhooks_migration_00014_scrubs_addresses_from_older_attempts(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	up := migrateDown(t, pool, "00014_webhook_surface.sql")
	if _, err := pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, account_id, url, events, created_at)
		VALUES ('whe_old', 'acc_old', 'https://hooks.example.com/', '{render.completed}', now());
		INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, event_type, render_id, render_version, payload, status, created_at)
		VALUES ('whd_old', 'whe_old', 'acc_old', gen_random_uuid(), 'render.completed', 'rnd_old', 1, '{}', 'failed', now())`); err != nil {
		t.Fatal(err)
	}
	errs := map[string]string{
		"write tcp 10.0.0.5:41234->203.0.113.9:443: write: broken pipe":                    "write: write: broken pipe",
		"read tcp [fd00::5]:41234->[2001:db8::9]:443: read: connection reset by peer":      "read: read: connection reset by peer",
		"dial tcp 10.0.0.5:443: connect: connection refused":                               "dial: connect: connection refused",
		"dial tcp4 192.168.1.1:80: i/o timeout":                                            "dial: i/o timeout",
		"dial tcp [fe80::1%eth0]:443: connect: no route to host":                           "dial: connect: no route to host",
		"readLoopPeekFailLocked: read udp6 [::1]:5000->[::1]:53: read: connection refused": "readLoopPeekFailLocked: read: read: connection refused",
		"refused destination 169.254.169.254: link-local":                                  "destination refused",
		"timeout after 5s":                                "timeout after 5s",
		"dns: no such host hooks.example.com":             "dns: no such host hooks.example.com",
		"http: server gave HTTP response to HTTPS client": "http: server gave HTTP response to HTTPS client",
	}
	n := 0
	for before := range errs {
		n++
		if _, err := pool.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error, body)
			VALUES ('whd_old', $1, now(), 0, 5, $2, 'from 10.0.0.5')`, n, before); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, strings.TrimPrefix(up, "-- +goose Up")); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT error, body IS NULL FROM webhook_attempts ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[string]bool{}
	for _, after := range errs {
		want[after] = true
	}
	for rows.Next() {
		var got string
		var noBody bool
		if err := rows.Scan(&got, &noBody); err != nil {
			t.Fatal(err)
		}
		if !want[got] {
			t.Errorf("error after the migration %q, not one expected", got)
		}
		delete(want, got)
		if !noBody {
			t.Error("a body stored before the migration was kept")
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) != 0 {
		t.Errorf("missing after the migration: %v", want)
	}
}

// migrateDown runs the Down section of one migration on pool's database
// and returns its Up section, for tests that write rows as they were
// before it and then migrate them.
func migrateDown(t *testing.T, pool *pgxpool.Pool, file string) (up string) {
	t.Helper()
	sql, err := os.ReadFile("migrations/" + file)
	if err != nil {
		t.Fatal(err)
	}
	up, down, ok := strings.Cut(string(sql), "-- +goose Down")
	if !ok {
		t.Fatal("no Down section")
	}
	if _, err := pool.Exec(t.Context(), down); err != nil {
		t.Fatal(err)
	}
	return up
}

// Migration 00015's state column: attempts logged before it (and by an older
// process, which logs after sending) are finished; going down keeps the
// unfinished ones readable as failed attempts.
func TestWebhooks_migration_00015_older_attempts_are_finished_and_down_keeps_unfinished_ones_as_errors(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, account_id, url, events, created_at)
		VALUES ('whe_old', 'acc_old', 'https://hooks.example.com/', '{render.completed}', now());
		INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, event_type, render_id, render_version, payload, status, created_at)
		VALUES ('whd_old', 'whe_old', 'acc_old', gen_random_uuid(), 'render.completed', 'rnd_old', 1, '{}', 'pending', now());
		INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error, body, state) VALUES
			('whd_old', 1, now(), 0, 0, 'the sender stopped before the attempt finished', NULL, 'abandoned'),
			('whd_old', 2, now(), 0, 0, '', NULL, 'in_flight')`); err != nil {
		t.Fatal(err)
	}
	up := migrateDown(t, pool, "00015_webhook_attempts_in_flight.sql")
	var unfinished int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_attempts WHERE error = 'the sender stopped before the attempt finished'`).Scan(&unfinished); err != nil || unfinished != 2 {
		t.Fatalf("after going down: %d unfinished attempts say why (%v), want 2", unfinished, err)
	}
	// An older process logs an attempt after sending it.
	if _, err := pool.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error, body)
		VALUES ('whd_old', 3, now(), 200, 5, '', NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, strings.TrimPrefix(up, "-- +goose Up")); err != nil {
		t.Fatal(err)
	}
	var finished int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_attempts WHERE state = 'finished'`).Scan(&finished); err != nil || finished != 3 {
		t.Fatalf("after coming up: %d finished attempts (%v), want 3", finished, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE webhook_attempts SET state = 'lost' WHERE n = 1`); err == nil {
		t.Error("an unknown state was accepted")
	}
}
