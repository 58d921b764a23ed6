package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
)

// The errors a real Postgres (behind a fault proxy) gives: what the API
// answers 503 (an outage) and what it answers 500 (the statement's own
// fault, or no failure of the database at all).
func TestIsUnavailable_tells_an_outage_from_a_failed_statement(t *testing.T) {
	proxy, dsn := testenv.ProxyPostgres(t, testenv.NewDatabase(t))
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := t.Context()
	// raise is the error of a statement that fails with SQLSTATE code.
	raise := func(code string) error {
		_, err := pool.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '%s'; END $$`, code))
		return err
	}
	// Errors of a live database.
	cancelled := func() error { // the client goes away mid-query
		ctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := pool.Exec(ctx, `SELECT pg_sleep(10)`)
		return err
	}()
	cancelledFirst := func() error { // the client went away before the query
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := pool.Exec(ctx, `SELECT 1`)
		return err
	}()
	timedOut := func() error { // the server's own deadline passes: the database is too slow
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := pool.Exec(ctx, `SELECT pg_sleep(10)`)
		return err
	}()
	statementTimeout := func() error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '50ms'`); err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, `SELECT pg_sleep(10)`)
		return err
	}()
	terminated := func() error { // an administrator's shutdown of the backend (57P01)
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		_, err = conn.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
		return err
	}()
	noRow := pool.QueryRow(ctx, `SELECT 1 WHERE false`).Scan(new(int))
	scan := pool.QueryRow(ctx, `SELECT 'x'`).Scan(new(int))

	// Connections the server refuses: while it does not accept them (an
	// outage), and for a database that does not exist (a setting no wait
	// mends).
	connectTo := func(dsn string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			conn.Close(ctx)
		}
		return err
	}
	var dbName string
	if err := pool.QueryRow(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, testenv.Find(t).DatabaseURL) // a database may not refuse its own session's
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	allow := func(yes bool) {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, pgx.Identifier{dbName}.Sanitize(), yes)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	notAccepting := connectTo(dsn)
	allow(true)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "renderd_no_such_database"
	noDatabase := func() error {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			conn.Close(ctx)
		}
		return err
	}()

	// Errors of a database gone away: a connection cut under a statement,
	// then no connection at all.
	held, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	_, dropped := held.Exec(ctx, `SELECT 1`)
	held.Release()
	_, refused := pool.Exec(ctx, `SELECT 1`)
	proxy.Restore()
	if _, err := pool.Exec(ctx, `SELECT 1`); err != nil {
		t.Fatalf("after Restore: %v", err)
	}

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection_refused", refused, true},
		{"connections_not_accepted_55000", notAccepting, true},
		{"connection_cut_under_a_statement", dropped, true},
		{"admin_shutdown_57P01", terminated, true},
		{"crash_shutdown_57P02", raise("57P02"), true},
		{"cannot_connect_now_57P03", raise("57P03"), true},
		{"connection_failure_08006", raise("08006"), true},
		{"too_many_connections_53300", raise("53300"), true},
		{"serialization_failure_40001", raise("40001"), true},
		{"deadlock_detected_40P01", raise("40P01"), true},
		{"statement_timeout_57014", statementTimeout, true},
		{"server_deadline_passed", timedOut, true},
		{"pool_acquire_deadline", context.DeadlineExceeded, true}, // what pgxpool.Acquire returns at its context's deadline
		{"wrapped_twice", fmt.Errorf("load stream: %w", fmt.Errorf("query: %w", refused)), true},

		{"request_cancelled_mid_query", cancelled, false},
		{"request_cancelled_before_the_query", cancelledFirst, false},
		{"unique_violation_23505", raise("23505"), false},
		{"undefined_column_42703", raise("42703"), false},
		{"invalid_password_28P01", raise("28P01"), false},
		{"connect_to_no_such_database_3D000", noDatabase, false},
		{"no_rows", noRow, false},
		{"scan_type_mismatch", scan, false},
		{"nil", nil, false},
		{"not_from_the_database", errors.New("something else"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil && c.name != "nil" {
				t.Fatal("the statement did not fail")
			}
			t.Logf("%T: %v", c.err, c.err)
			if got := postgres.IsUnavailable(c.err); got != c.want {
				var pgErr *pgconn.PgError
				errors.As(c.err, &pgErr)
				t.Errorf("IsUnavailable(%v) [%T, PgError %v] = %v, want %v", c.err, c.err, pgErr, got, c.want)
			}
		})
	}
}
