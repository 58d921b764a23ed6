package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
)

// connector opens dedicated connections to pool's database, as serve
// gives Run.
func connector(pool *pgxpool.Pool) func(context.Context) (*pgx.Conn, error) {
	return func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, pool.Config().ConnConfig) }
}

// running starts a's Run until the test ends and waits until it listens.
func running(t *testing.T, pool *pgxpool.Pool, a *postgres.Accounts) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, connector(pool), testenv.Logger(t)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	testenv.Eventually(t, 10*time.Second, "the key listener to listen", a.Listening)
}

func conflictCode(err error) string {
	var c *domain.ConflictError
	if errors.As(err, &c) {
		return c.Code
	}
	return ""
}

func TestAPIKeys_create_list_and_revoke(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	accounts := postgres.NewAccountsWith(pool, postgres.AccountsOptions{MaxKeys: 3})
	acc, err := accounts.Create(ctx, "keys", 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := accounts.Create(ctx, "other", 0)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	key, info, err := accounts.CreateKey(ctx, acc.AccountID, "  ci  ", expires)
	if err != nil {
		t.Fatal(err)
	}
	if !domain.WellFormedAPIKey(key) || !strings.HasPrefix(info.ID, "key_") || info.Name != "ci" || info.Prefix != key[:12] || !info.ExpiresAt.Equal(expires) {
		t.Errorf("created %q %+v", key, info)
	}
	if got, known, err := accounts.Authenticate(ctx, key); err != nil || !known || got != acc.AccountID {
		t.Errorf("the new key authenticates as %q %v %v", got, known, err)
	}
	if got, known, _ := accounts.Authenticate(ctx, acc.APIKey); !known || got != acc.AccountID {
		t.Error("the account's first key stopped working")
	}

	t.Run("only_digests_are_stored", func(t *testing.T) {
		var n int
		digest := sha256.Sum256([]byte(key))
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE key_hash = $1 AND prefix = $2`, digest[:], key[:12]).Scan(&n); err != nil || n != 1 {
			t.Errorf("the digest row: %d %v", n, err)
		}
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_keys t WHERE strpos(t::text, $1) > 0`, key[12:]).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d rows hold the key's secret in clear (%v)", n, err)
		}
	})

	t.Run("the_list_is_newest_first_and_per_account", func(t *testing.T) {
		keys, err := accounts.Keys(ctx, acc.AccountID)
		if err != nil || len(keys) != 2 || keys[0].ID != info.ID || keys[1].Name != "default" || keys[1].Prefix != acc.APIKey[:12] {
			t.Fatalf("keys %+v %v", keys, err)
		}
		if theirs, _ := accounts.Keys(ctx, other.AccountID); len(theirs) != 1 || theirs[0].ID == info.ID {
			t.Errorf("another account lists %+v", theirs)
		}
	})

	t.Run("names_and_expiries_are_checked", func(t *testing.T) {
		for _, c := range []struct {
			name    string
			expires time.Time
			field   string
		}{
			{strings.Repeat("x", 101), time.Time{}, "name"},
			{"a\x00b", time.Time{}, "name"},
			{"a\nb", time.Time{}, "name"},
			{"\xff", time.Time{}, "name"},
			{"", time.Now().Add(-time.Second), "expires_at"},
			{"", time.Now().Add(6 * 365 * 24 * time.Hour), "expires_at"},
		} {
			var v *domain.ValidationError
			if _, _, err := accounts.CreateKey(ctx, acc.AccountID, c.name, c.expires); !errors.As(err, &v) || v.Field != c.field {
				t.Errorf("CreateKey(%q, %v) = %v, want a validation error on %s", c.name, c.expires, err, c.field)
			}
		}
	})

	t.Run("the_key_limit_holds", func(t *testing.T) {
		if _, _, err := accounts.CreateKey(ctx, acc.AccountID, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := accounts.CreateKey(ctx, acc.AccountID, "", time.Time{}); conflictCode(err) != "too_many_api_keys" {
			t.Errorf("a fourth key: %v, want too_many_api_keys", err)
		}
	})

	t.Run("unknown_foreign_and_malformed_ids_are_not_found", func(t *testing.T) {
		for _, id := range []string{"key_0190a1b2-0000-7000-8000-000000000001", "key_nope", "", "key_\x00", "\xff\xfe", info.ID + " "} {
			if err := accounts.RevokeKey(ctx, acc.AccountID, id); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("RevokeKey(%q) = %v, want not found", id, err)
			}
		}
		if err := accounts.RevokeKey(ctx, other.AccountID, info.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("another account revoking the key: %v", err)
		}
		if _, _, err := accounts.CreateKey(ctx, "acc_nobody", "", time.Time{}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("a key for no account: %v", err)
		}
	})

	t.Run("a_revoked_key_is_refused_at_once_in_its_own_process", func(t *testing.T) {
		if err := accounts.RevokeKey(ctx, acc.AccountID, info.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok := accounts.Cached(key); ok {
			t.Error("the revoked key is still cached")
		}
		if _, known, err := accounts.Authenticate(ctx, key); known || err != nil {
			t.Errorf("the revoked key authenticates: %v %v", known, err)
		}
		if err := accounts.RevokeKey(ctx, acc.AccountID, info.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("revoking it again: %v, want not found", err)
		}
	})

	t.Run("the_last_key_cannot_be_revoked", func(t *testing.T) {
		keys, _ := accounts.Keys(ctx, other.AccountID)
		if err := accounts.RevokeKey(ctx, other.AccountID, keys[0].ID); conflictCode(err) != "last_api_key" {
			t.Errorf("revoking the last key: %v, want last_api_key", err)
		}
		if _, known, _ := accounts.Authenticate(ctx, other.APIKey); !known {
			t.Error("the refused revoke removed the key")
		}
	})
}

func TestAPIKeys_two_revokes_of_an_accounts_last_two_keys_one_wins(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	accounts := postgres.NewAccounts(pool)
	for round := range 5 {
		acc, err := accounts.Create(ctx, "race", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := accounts.CreateKey(ctx, acc.AccountID, "second", time.Time{}); err != nil {
			t.Fatal(err)
		}
		keys, _ := accounts.Keys(ctx, acc.AccountID)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 2 {
			wg.Go(func() { <-start; errs[i] = accounts.RevokeKey(ctx, acc.AccountID, keys[i].ID) })
		}
		close(start)
		wg.Wait()
		codes := []string{conflictCode(errs[0]), conflictCode(errs[1])}
		if (errs[0] == nil) == (errs[1] == nil) || !slicesHas(codes, "last_api_key") {
			t.Fatalf("round %d: revokes answered %v and %v, want one success and one last_api_key", round, errs[0], errs[1])
		}
		if left, _ := accounts.Keys(ctx, acc.AccountID); len(left) != 1 {
			t.Fatalf("round %d: %d keys left, want 1", round, len(left))
		}
	}
}

func slicesHas(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestAPIKeys_an_expired_key_is_refused_and_can_be_revoked_even_last(t *testing.T) {
	ctx := t.Context()
	accounts, lookups := tracedAccounts(t)
	lookups.slow = 0
	acc, err := accounts.Create(ctx, "expiry", 0)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(1500 * time.Millisecond)
	key, info, err := accounts.CreateKey(ctx, acc.AccountID, "short", expires)
	if err != nil {
		t.Fatal(err)
	}
	if _, known, err := accounts.Authenticate(ctx, key); !known || err != nil {
		t.Fatalf("before its expiry: %v %v", known, err)
	}
	before := lookups.n.Load()
	time.Sleep(time.Until(expires) + 50*time.Millisecond)
	if _, ok := accounts.Cached(key); ok {
		t.Error("an expired key is still cached as valid")
	}
	if _, known, err := accounts.Authenticate(ctx, key); known || err != nil {
		t.Errorf("after its expiry: %v %v", known, err)
	}
	if n := lookups.n.Load() - before; n != 0 {
		t.Errorf("%d lookups to refuse an expired cached key, want none: the cache holds its expiry", n)
	}
	// The account's first key is its last usable one; the expired key does
	// not count, and can go.
	keys, _ := accounts.Keys(ctx, acc.AccountID)
	var first string
	for _, k := range keys {
		if k.ID != info.ID {
			first = k.ID
		}
	}
	if err := accounts.RevokeKey(ctx, acc.AccountID, first); conflictCode(err) != "last_api_key" {
		t.Errorf("revoking the last usable key beside an expired one: %v, want last_api_key", err)
	}
	if err := accounts.RevokeKey(ctx, acc.AccountID, info.ID); err != nil {
		t.Errorf("revoking the expired key: %v", err)
	}
}

// The rule: a revoked key is refused by every API process within
// one second. Two stores stand for two processes on one database; the
// second has the key cached (its TTL is the default 30 s, so only the
// notification can explain a quick refusal).
func TestAPIKeys_a_revoked_key_leaves_another_process_cache_within_a_second(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	first, second := postgres.NewAccounts(pool), postgres.NewAccounts(pool)
	running(t, pool, second)
	acc, err := first.Create(ctx, "two processes", 0)
	if err != nil {
		t.Fatal(err)
	}
	key, info, err := first.CreateKey(ctx, acc.AccountID, "leaked", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, known, err := second.Authenticate(ctx, key); !known || err != nil {
		t.Fatalf("the second process: %v %v", known, err)
	}
	if _, ok := second.Cached(key); !ok {
		t.Fatal("the second process did not cache the key")
	}
	start := time.Now()
	if err := first.RevokeKey(ctx, acc.AccountID, info.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the second process to forget the key", func() bool {
		_, ok := second.Cached(key)
		return !ok
	})
	took := time.Since(start)
	t.Logf("the second process refused the revoked key after %s", took)
	if took > 3*time.Second {
		t.Errorf("took %s, want about a second at most", took)
	}
	if _, known, err := second.Authenticate(ctx, key); known || err != nil {
		t.Errorf("the second process still authenticates it: %v %v", known, err)
	}
}

func TestAPIKeys_without_notifications_the_cache_TTL_bounds_a_revoked_key(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	first := postgres.NewAccounts(pool)
	deaf := postgres.NewAccountsWith(pool, postgres.AccountsOptions{CacheTTL: 500 * time.Millisecond}) // no Run
	acc, err := first.Create(ctx, "ttl", 0)
	if err != nil {
		t.Fatal(err)
	}
	key, info, err := first.CreateKey(ctx, acc.AccountID, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, known, _ := deaf.Authenticate(ctx, key); !known {
		t.Fatal("not known")
	}
	if err := first.RevokeKey(ctx, acc.AccountID, info.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the TTL to end the cached key", func() bool {
		_, ok := deaf.Cached(key)
		return !ok
	})
	if _, known, err := deaf.Authenticate(ctx, key); known || err != nil {
		t.Errorf("after the TTL the revoked key authenticates: %v %v", known, err)
	}
	// A key still valid is looked up again after the TTL, and passes.
	if _, known, _ := deaf.Authenticate(ctx, acc.APIKey); !known {
		t.Fatal("the valid key")
	}
	time.Sleep(600 * time.Millisecond)
	if _, known, err := deaf.Authenticate(ctx, acc.APIKey); !known || err != nil {
		t.Errorf("the valid key after its TTL: %v %v", known, err)
	}
}

func TestAPIKeys_a_listener_that_loses_its_connection_empties_the_cache_and_listens_again(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	first, second := postgres.NewAccounts(pool), postgres.NewAccounts(pool)
	running(t, pool, second)
	acc, err := first.Create(ctx, "reconnect", 0)
	if err != nil {
		t.Fatal(err)
	}
	key, info, err := first.CreateKey(ctx, acc.AccountID, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, known, _ := second.Authenticate(ctx, key); !known {
		t.Fatal("not known")
	}
	var killed int
	err = pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %renderd_api_keys%'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", killed, err)
	}
	testenv.Eventually(t, 10*time.Second, "the lost listener to empty the cache", func() bool {
		_, ok := second.Cached(key)
		return !ok
	})
	testenv.Eventually(t, 10*time.Second, "the listener to listen again", second.Listening)
	if _, known, _ := second.Authenticate(ctx, key); !known {
		t.Fatal("not known after the reconnection")
	}
	if err := first.RevokeKey(ctx, acc.AccountID, info.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the reconnected listener to hear the revocation", func() bool {
		_, ok := second.Cached(key)
		return !ok
	})
}

func TestAPIKeys_last_used_at_is_written_at_most_once_a_minute(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	accounts := postgres.NewAccounts(pool)
	running(t, pool, accounts)
	acc, err := accounts.Create(ctx, "usage", 0)
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		t.Helper()
		keys, err := accounts.Keys(ctx, acc.AccountID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %v %v", keys, err)
		}
		return keys[0].LastUsedAt
	}
	if !lastUsed().IsZero() {
		t.Fatal("a key never used has a last use")
	}
	if _, known, _ := accounts.Authenticate(ctx, acc.APIKey); !known {
		t.Fatal("not known")
	}
	testenv.Eventually(t, 10*time.Second, "last_used_at to be written", func() bool { return !lastUsed().IsZero() })
	first := lastUsed()
	for range 100 {
		accounts.Cached(acc.APIKey)
	}
	// Another process within the minute: its write is refused by the
	// statement's own bound.
	other := postgres.NewAccounts(pool)
	running(t, pool, other)
	if _, known, _ := other.Authenticate(ctx, acc.APIKey); !known {
		t.Fatal("not known")
	}
	time.Sleep(2500 * time.Millisecond) // two flushes of each process
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("last_used_at moved from %s to %s within the minute", first, got)
	}
	// A minute later (set back), a new use is written again.
	if _, err := pool.Exec(ctx, `UPDATE api_keys SET last_used_at = last_used_at - interval '61 seconds'`); err != nil {
		t.Fatal(err)
	}
	third := postgres.NewAccounts(pool)
	running(t, pool, third)
	if _, known, _ := third.Authenticate(ctx, acc.APIKey); !known {
		t.Fatal("not known")
	}
	testenv.Eventually(t, 10*time.Second, "a use a minute later to be written", func() bool { return lastUsed().After(first) })
}

// Keys made before key management (digest, account, time) keep working
// after the migration, with an id, the name "default" and no prefix.
func TestAPIKeys_the_migration_keeps_older_keys_working(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	up := migrateDown(t, pool, "00012_api_keys.sql")
	key := domain.NewAPIKey([domain.APIKeySecretBytes]byte{7, 7, 7})
	digest := sha256.Sum256([]byte(key))
	if _, err := pool.Exec(ctx, `INSERT INTO accounts (id, name) VALUES ('acc_old', 'old')`); err != nil {
		t.Fatal(err)
	}
	// The statement a process from before the migration runs to make a key.
	const olderInsert = `INSERT INTO api_keys (key_hash, account_id) VALUES ($1, 'acc_old')`
	if _, err := pool.Exec(ctx, olderInsert, digest[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, strings.TrimPrefix(up, "-- +goose Up")); err != nil {
		t.Fatal(err)
	}
	accounts := postgres.NewAccounts(pool)
	// During a rolling upgrade that process still runs beside the new
	// schema: its keys get an id and a name too, and work.
	during := domain.NewAPIKey([domain.APIKeySecretBytes]byte{8, 8, 8})
	duringDigest := sha256.Sum256([]byte(during))
	if _, err := pool.Exec(ctx, olderInsert, duringDigest[:]); err != nil {
		t.Fatalf("the older process's key insert after the migration: %v", err)
	}
	if got, known, err := accounts.Authenticate(ctx, during); err != nil || !known || got != "acc_old" {
		t.Fatalf("a key the older process made after the migration authenticates as %q %v %v", got, known, err)
	}
	both, err := accounts.Keys(ctx, "acc_old")
	if err != nil || len(both) != 2 || both[0].ID == both[1].ID || both[0].Name != "default" || both[1].Name != "default" {
		t.Fatalf("keys %+v %v", both, err)
	}
	if err := accounts.RevokeKey(ctx, "acc_old", both[0].ID); err != nil { // the newer
		t.Fatal(err)
	}
	if got, known, err := accounts.Authenticate(ctx, key); err != nil || !known || got != "acc_old" {
		t.Fatalf("the older key authenticates as %q %v %v", got, known, err)
	}
	keys, err := accounts.Keys(ctx, "acc_old")
	if err != nil || len(keys) != 1 || !strings.HasPrefix(keys[0].ID, "key_") || keys[0].Name != "default" || keys[0].Prefix != "" {
		t.Fatalf("keys %+v %v", keys, err)
	}
	if _, _, err := accounts.CreateKey(ctx, "acc_old", "new", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := accounts.RevokeKey(ctx, "acc_old", keys[0].ID); err != nil {
		t.Errorf("revoking the older key once another exists: %v", err)
	}
	if _, known, _ := accounts.Authenticate(ctx, key); known {
		t.Error("the revoked older key authenticates")
	}
}

func TestAPIKeys_a_key_change_does_not_block_the_accounts_other_writes(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	accounts := postgres.NewAccounts(pool)
	acc, err := accounts.Create(ctx, "busy", 0)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the test's end
	if err := postgres.LockAccount(ctx, tx, acc.AccountID); err != nil {
		t.Fatal(err)
	}
	// While a key change holds the account, its other writes (which check
	// the account's row through their foreign key) go on. lock_timeout
	// turns a wait into an error rather than a hang.
	err = pgx.BeginFunc(ctx, pool, func(other pgx.Tx) error {
		if _, err := other.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
			return err
		}
		_, err := other.Exec(ctx, `INSERT INTO credit_ledger (entry_id, account_id, delta_seconds, reason) VALUES ('led_busy', $1, 10, 'grant')`, acc.AccountID)
		return err
	})
	if err != nil {
		t.Fatalf("a credit grant while a key change holds the account: %v", err)
	}
}

// A lookup that read a key's row before an invalidation (a revocation's
// notification, the listener's reconnection) answers its caller but caches
// nothing: the invalidation came first and must win.
func TestAPIKeys_a_lookup_racing_an_invalidation_caches_nothing(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name       string
		invalidate func(a *postgres.Accounts, id string)
	}{
		{"a revocation", func(a *postgres.Accounts, id string) { a.Forget(id) }},
		{"a reconnection", func(a *postgres.Accounts, _ string) { a.ForgetAll() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accounts := postgres.NewAccounts(pool)
			acc, err := accounts.Create(ctx, "race", 0)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := accounts.Keys(ctx, acc.AccountID)
			if err != nil || len(keys) != 1 {
				t.Fatalf("keys %v %v", keys, err)
			}
			// Hold the lookup's query on the table until the invalidation.
			lock, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // released below
			if _, err := lock.Exec(ctx, `LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
			type answer struct {
				account string
				known   bool
				err     error
			}
			done := make(chan answer, 1)
			go func() {
				id, known, err := accounts.Authenticate(ctx, acc.APIKey)
				done <- answer{id, known, err}
			}()
			waitForLockWait(t, pool, "api_keys")
			tc.invalidate(accounts, keys[0].ID)
			if err := lock.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			got := <-done
			if got.err != nil || !got.known || got.account != acc.AccountID {
				t.Fatalf("the racing lookup answered %+v", got)
			}
			if _, ok := accounts.Cached(acc.APIKey); ok {
				t.Error("a lookup that raced an invalidation cached its row")
			}
			// The next lookup, after the invalidation, caches as usual.
			if _, known, err := accounts.Authenticate(ctx, acc.APIKey); err != nil || !known {
				t.Fatal(known, err)
			}
			if _, ok := accounts.Cached(acc.APIKey); !ok {
				t.Error("a lookup after the invalidation cached nothing")
			}
		})
	}
}

// waitForLockWait waits until a query naming table waits for a lock.
func waitForLockWait(t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	for {
		var waiting bool
		err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid())`, table).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAPIKeys_a_key_no_account_has_is_remembered_for_a_while(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	accounts := postgres.NewAccounts(pool)
	accounts.SetNegativeTTL(time.Hour)
	acc, err := accounts.Create(ctx, "neg", 0)
	if err != nil {
		t.Fatal(err)
	}
	key := domain.NewAPIKey([domain.APIKeySecretBytes]byte{9, 9, 9})
	if _, known, err := accounts.Authenticate(ctx, key); err != nil || known {
		t.Fatalf("an unknown key: %v %v", known, err)
	}
	// The key appears behind the cache's back: the store answers from its
	// memory of the failure, without a query.
	digest := sha256.Sum256([]byte(key))
	if _, err := pool.Exec(ctx, `INSERT INTO api_keys (key_hash, account_id) VALUES ($1, $2)`, digest[:], acc.AccountID); err != nil {
		t.Fatal(err)
	}
	if _, known, err := accounts.Authenticate(ctx, key); err != nil || known {
		t.Fatalf("within the negative TTL the key is still unknown: %v %v", known, err)
	}
	accounts.SetNegativeTTL(0)
	if got, known, err := accounts.Authenticate(ctx, key); err != nil || !known || got != acc.AccountID {
		t.Fatalf("past the negative TTL: %q %v %v", got, known, err)
	}
}

// After a session that got to listen, the listener's backoff starts over:
// a blip after earlier outages is retried at the shortest wait.
func TestAPIKeys_the_listener_backoff_starts_over_after_a_session_that_listened(t *testing.T) {
	pool := testenv.Postgres(t)
	accounts := postgres.NewAccounts(pool)
	var mu sync.Mutex
	calls, pid := 0, uint32(0)
	connect := func(ctx context.Context) (*pgx.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 3 { // an outage: the backoff grows
			return nil, errors.New("outage")
		}
		conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
		if err == nil {
			pid = conn.PgConn().PID()
		}
		return conn, err
	}
	var logs testenv.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// DEBUG: only the first failure of an outage is a WARN.
		_ = accounts.Run(ctx, connect, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 30*time.Second, "the listener to listen", accounts.Listening)
	mu.Lock()
	listener := pid
	mu.Unlock()
	if _, err := pool.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, listener); err != nil {
		t.Fatal(err)
	}
	retries := func() []string {
		var waits []string
		for line := range strings.Lines(logs.String()) {
			if _, w, ok := strings.Cut(strings.TrimSpace(line), "retry_in="); ok {
				waits = append(waits, w)
			}
		}
		return waits
	}
	testenv.Eventually(t, 30*time.Second, "the lost session to be logged", func() bool { return len(retries()) >= 4 })
	waits := retries()
	if got := waits[3]; got != "100ms" {
		t.Errorf("after a session that listened, the retry waits %s (waits %v), want 100ms", got, waits)
	}
}

// A key lookup that cannot reach Postgres is an outage (domain.ErrUnavailable,
// 503 at the API), not an unknown key and not a bug.
func TestAPIKeys_a_lookup_without_postgres_is_unavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	pool, err := pgxpool.New(t.Context(), "postgres://renderd@"+addr+"/renderd?connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	accounts := postgres.NewAccounts(pool)
	key := domain.NewAPIKey([domain.APIKeySecretBytes]byte{4, 2})
	if _, known, err := accounts.Authenticate(t.Context(), key); !errors.Is(err, domain.ErrUnavailable) || known {
		t.Fatalf("Authenticate = %v, %v; want domain.ErrUnavailable", known, err)
	}
	// A query error that is no outage stays what it is.
	bad := testenv.Postgres(t)
	if _, err := bad.Exec(t.Context(), `ALTER TABLE api_keys RENAME COLUMN key_hash TO digest`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := postgres.NewAccounts(bad).Authenticate(t.Context(), key); err == nil || errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("a broken query: %v, want an error other than ErrUnavailable", err)
	}
}

// Blips, then a long outage, then a blip: each time the listener listens
// again within about a second of Postgres' return, whatever came before.
func TestAPIKeys_the_listener_listens_again_within_a_second_of_postgres_returning(t *testing.T) {
	pool := testenv.Postgres(t)
	proxy, dsn := testenv.ProxyPostgres(t, pool.Config().ConnString())
	conf, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	a := postgres.NewAccounts(pool)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.Run(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, conf) }, testenv.Logger(t))
	}()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 10*time.Second, "the key listener to listen", a.Listening)
	for i, outage := range []time.Duration{400 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond, 7 * time.Second, 400 * time.Millisecond} {
		proxy.Cut()
		began := time.Now()
		testenv.Eventually(t, 5*time.Second, "the listener to notice", func() bool { return !a.Listening() })
		time.Sleep(outage - time.Since(began))
		proxy.Restore()
		restored := time.Now()
		testenv.Eventually(t, 15*time.Second, "the key listener to listen again", a.Listening)
		took := time.Since(restored)
		t.Logf("outage %d (%s): listening %s after Postgres returned", i+1, outage, took.Round(time.Millisecond))
		if bound := 1500 * time.Millisecond; took > bound {
			t.Errorf("outage %d (%s): listening again took %s, want within %s", i+1, outage, took.Round(time.Millisecond), bound)
		}
	}
}
