package consumers

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
)

// Only a dependency that did not answer is an outage; a handler's own
// faults, and the database refusing a statement, stay errors.
func TestDependencyDown_tells_an_outage_from_a_bug(t *testing.T) {
	_, refused := pgconn.Connect(context.Background(), "postgres://renderd@127.0.0.1:1/renderd?connect_timeout=1")
	if refused == nil {
		t.Fatal("connecting to port 1 succeeded")
	}
	for _, c := range []struct {
		name string
		err  error
		down bool
	}{
		{"connection refused", fmt.Errorf("project: %w", refused), true},
		{"unavailable", fmt.Errorf("load: %w", domain.ErrUnavailable), true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"the handler's timeout", fmt.Errorf("load stream: %w", context.DeadlineExceeded), false},
		{"unique violation", fmt.Errorf("project: %w", &pgconn.PgError{Code: "23505"}), false},
		{"undefined column", &pgconn.PgError{Code: "42703"}, false},
		{"a handler's own error", errors.New("nil map"), false},
	} {
		if got := dependencyDown(postgres.IsUnavailable)(c.err); got != c.down {
			t.Errorf("%s: dependencyDown = %v, want %v", c.name, got, c.down)
		}
	}
}

// Without a classifier only a handler that says so is down.
func TestDependencyDown_without_a_classifier_counts_only_ErrUnavailable(t *testing.T) {
	down := dependencyDown(nil)
	if !down(fmt.Errorf("load: %w", domain.ErrUnavailable)) {
		t.Error("domain.ErrUnavailable is not an outage")
	}
	if down(&pgconn.PgError{Code: "57P01"}) {
		t.Error("an error no classifier judged is an outage")
	}
}
