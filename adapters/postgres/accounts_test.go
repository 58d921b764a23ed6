package postgres_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
)

// keyLookups counts the key lookups that reach Postgres, and makes each
// take a while, so that lookups started together overlap.
type keyLookups struct {
	n    atomic.Int64
	slow time.Duration
}

func (k *keyLookups) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, "FROM api_keys") {
		k.n.Add(1)
		time.Sleep(k.slow)
	}
	return ctx
}

func (k *keyLookups) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// tracedAccounts is the accounts store on a migrated database whose key
// lookups are counted.
func tracedAccounts(t *testing.T) (*postgres.Accounts, *keyLookups) {
	t.Helper()
	migrated := testenv.Postgres(t)
	cfg, err := pgxpool.ParseConfig(migrated.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	lookups := &keyLookups{slow: 200 * time.Millisecond}
	cfg.ConnConfig.Tracer = lookups
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return postgres.NewAccounts(pool), lookups
}

// together runs f n times at once and waits for them.
func together(n int, f func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() { <-start; f() })
	}
	close(start)
	wg.Wait()
}

func TestAuthenticate_concurrent_lookups_of_one_unknown_key_make_one_query(t *testing.T) {
	accounts, lookups := tracedAccounts(t)
	forged := domain.NewAPIKey([domain.APIKeySecretBytes]byte{42})
	var found atomic.Int64
	together(50, func() {
		_, known, err := accounts.Authenticate(t.Context(), forged)
		if err != nil {
			t.Error(err)
		}
		if known {
			found.Add(1)
		}
	})
	if got := lookups.n.Load(); got != 1 {
		t.Errorf("%d queries for 50 concurrent lookups of one key, want 1", got)
	}
	if found.Load() != 0 {
		t.Errorf("a forged key was found %d times", found.Load())
	}
}

func TestAuthenticate_concurrent_first_lookups_of_a_real_key_make_one_query_then_none(t *testing.T) {
	accounts, lookups := tracedAccounts(t)
	acc, err := accounts.Create(t.Context(), "one", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := accounts.Cached(acc.APIKey); ok {
		t.Error("a key never used is cached")
	}
	together(50, func() {
		if got, known, err := accounts.Authenticate(t.Context(), acc.APIKey); err != nil || !known || got != acc.AccountID {
			t.Errorf("Authenticate = %q, %v, %v", got, known, err)
		}
	})
	if got, ok := accounts.Cached(acc.APIKey); !ok || got != acc.AccountID {
		t.Errorf("Cached after a lookup = %q, %v", got, ok)
	}
	if _, _, err := accounts.Authenticate(t.Context(), acc.APIKey); err != nil {
		t.Fatal(err)
	}
	if got := lookups.n.Load(); got != 1 {
		t.Errorf("%d queries, want 1", got)
	}
}

func TestAuthenticate_malformed_keys_make_no_query(t *testing.T) {
	accounts, lookups := tracedAccounts(t)
	acc, err := accounts.Create(t.Context(), "one", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "rdk_", "rdk_nope", acc.APIKey + "x", acc.APIKey[:len(acc.APIKey)-1], "Bearer " + acc.APIKey,
		strings.ToUpper(acc.APIKey), "rdk_" + strings.Repeat("A", 10_000)} {
		if _, known, err := accounts.Authenticate(t.Context(), key); known || err != nil {
			t.Errorf("Authenticate(%.20q) = %v, %v", key, known, err)
		}
	}
	if got := lookups.n.Load(); got != 0 {
		t.Errorf("%d queries for malformed keys, want none", got)
	}
}

func TestAuthenticate_a_caller_that_gives_up_does_not_fail_the_others(t *testing.T) {
	accounts, _ := tracedAccounts(t)
	acc, err := accounts.Create(t.Context(), "one", 0)
	if err != nil {
		t.Fatal(err)
	}
	impatient, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, _, err := accounts.Authenticate(impatient, acc.APIKey); err == nil {
			t.Error("a caller past its deadline got an answer")
		}
	})
	time.Sleep(5 * time.Millisecond) // the impatient caller starts the shared lookup
	if got, known, err := accounts.Authenticate(t.Context(), acc.APIKey); err != nil || !known || got != acc.AccountID {
		t.Errorf("the patient caller: %q, %v, %v", got, known, err)
	}
	wg.Wait()
}
