package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/renderd/renderd/domain"
)

// Accounts stores accounts and their API keys and authenticates requests.
// Keys are random 32-byte secrets stored only as SHA-256 digests; a key that
// authenticated once is cached in-process, so authentication costs no query
// on the hot path (there is no key revocation yet to invalidate it).
type Accounts struct {
	pool *pgxpool.Pool

	mu       sync.RWMutex
	known    map[[32]byte]string    // key digest → account id
	unknown  map[[32]byte]time.Time // key digest → when it last failed
	negative time.Duration
	lookups  singleflight.Group // by key digest
}

// NewAccounts returns the accounts store.
func NewAccounts(pool *pgxpool.Pool) *Accounts {
	return &Accounts{pool: pool, known: map[[32]byte]string{}, unknown: map[[32]byte]time.Time{}, negative: 5 * time.Second}
}

// NewAccount is a created account and its API key, shown once.
type NewAccount struct {
	AccountID string `json:"account_id"`
	APIKey    string `json:"api_key"`
}

// Create makes an account with a fresh API key and grants it the free
// allowance, in one transaction.
func (a *Accounts) Create(ctx context.Context, name string, allowanceSeconds int64) (NewAccount, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return NewAccount{}, domain.Invalid("name", "must be 1 to 200 bytes")
	}
	var secret [domain.APIKeySecretBytes]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return NewAccount{}, fmt.Errorf("api key: %w", err)
	}
	acc := NewAccount{AccountID: "acc_" + uuid.Must(uuid.NewV7()).String(), APIKey: domain.NewAPIKey(secret)}
	digest := sha256.Sum256([]byte(acc.APIKey))
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, name) VALUES ($1, $2)`, acc.AccountID, name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO api_keys (key_hash, account_id) VALUES ($1, $2)`, digest[:], acc.AccountID); err != nil {
			return err
		}
		if allowanceSeconds > 0 {
			if _, err := insertGrant(ctx, tx, acc.AccountID, allowanceSeconds, "allowance"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return NewAccount{}, fmt.Errorf("create account: %w", err)
	}
	return acc, nil
}

// Cached returns the account of a key that authenticated before in this
// process, without I/O; ok is false for any other key, known or not.
func (a *Accounts) Cached(key string) (accountID string, ok bool) {
	if !domain.WellFormedAPIKey(key) {
		return "", false
	}
	digest := sha256.Sum256([]byte(key))
	a.mu.RLock()
	accountID, ok = a.known[digest]
	a.mu.RUnlock()
	return accountID, ok
}

// Authenticate returns the account an API key belongs to; known is false
// for a key no account has. A malformed key costs no query, and concurrent
// lookups of one key share one: a burst of requests with a new (or a
// forged) key reaches Postgres once.
func (a *Accounts) Authenticate(ctx context.Context, key string) (accountID string, known bool, err error) {
	if !domain.WellFormedAPIKey(key) {
		return "", false, nil
	}
	digest := sha256.Sum256([]byte(key))
	a.mu.RLock()
	acc, ok := a.known[digest]
	failed, recentlyFailed := a.unknown[digest]
	a.mu.RUnlock()
	if ok {
		return acc, true, nil
	}
	if recentlyFailed && time.Since(failed) < a.negative {
		return "", false, nil
	}
	// The shared lookup outlives any one caller: a caller that gives up
	// must not fail the others waiting on it. lookupTimeout bounds it.
	ch := a.lookups.DoChan(string(digest[:]), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		return a.lookup(ctx, digest)
	})
	select {
	case <-ctx.Done():
		return "", false, fmt.Errorf("authenticate: %w", context.Cause(ctx))
	case res := <-ch:
		if res.Err != nil {
			return "", false, res.Err
		}
		acc = res.Val.(string)
		return acc, acc != "", nil
	}
}

// lookupTimeout bounds one shared key lookup.
const lookupTimeout = 10 * time.Second

// lookup queries the account of a key digest ("" for none) and caches the
// answer.
func (a *Accounts) lookup(ctx context.Context, digest [32]byte) (string, error) {
	var acc string
	err := a.pool.QueryRow(ctx, `SELECT account_id FROM api_keys WHERE key_hash = $1`, digest[:]).Scan(&acc)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if len(a.unknown) > 10_000 {
			clear(a.unknown) // bounded: a flood of bad keys cannot grow it
		}
		a.unknown[digest] = time.Now()
		return "", nil
	case err != nil:
		return "", fmt.Errorf("authenticate: %w", err)
	}
	a.known[digest] = acc
	return acc, nil
}

// Exists reports whether an account exists.
func (a *Accounts) Exists(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := a.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, id).Scan(&ok)
	return ok, err
}

// LedgerEntry is one line of an account's credit ledger.
type LedgerEntry struct {
	ID        string
	Seconds   int64
	Reason    string
	AssetID   string
	CreatedAt time.Time
}

// Credits returns an account's balance and its most recent ledger entries.
func (a *Accounts) Credits(ctx context.Context, accountID string, recent int) (int64, []LedgerEntry, error) {
	var balance int64
	if err := a.pool.QueryRow(ctx, `SELECT coalesce(sum(delta_seconds), 0) FROM credit_ledger WHERE account_id = $1`, accountID).Scan(&balance); err != nil {
		return 0, nil, fmt.Errorf("credits: %w", err)
	}
	rows, err := a.pool.Query(ctx, `SELECT entry_id, delta_seconds, reason, coalesce(asset_id, ''), created_at
		FROM credit_ledger WHERE account_id = $1 ORDER BY created_at DESC, entry_id DESC LIMIT $2`, accountID, recent)
	if err != nil {
		return 0, nil, fmt.Errorf("credits: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LedgerEntry, error) {
		var e LedgerEntry
		err := r.Scan(&e.ID, &e.Seconds, &e.Reason, &e.AssetID, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("credits: %w", err)
	}
	return balance, entries, nil
}
