package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/renderd/renderd/domain"
)

// Accounts stores accounts and their API keys and authenticates requests.
// Keys are random 32-byte secrets stored only as SHA-256 digests. A key
// that authenticated is cached in-process with its own expiry, so
// authentication costs no query on the hot path; a revoked key leaves every
// process's cache through Postgres LISTEN/NOTIFY (Run), and each entry is
// trusted for at most the cache TTL without a fresh lookup, so a lost
// notification is bounded too (README, "API keys").
type Accounts struct {
	pool    *pgxpool.Pool
	ttl     time.Duration
	maxKeys int
	now     func() time.Time

	mu       sync.RWMutex
	known    map[[32]byte]*cachedKey // key digest → what a lookup found
	byID     map[string][32]byte     // key id → digest, for invalidations
	unknown  map[[32]byte]time.Time  // key digest → when it last failed
	negative time.Duration
	// gen counts invalidations: a lookup caches its answer only if none
	// happened while it ran, since it may have read the row before a
	// revoke whose notification came before the answer.
	gen     uint64
	lookups singleflight.Group // by key digest

	usage     chan string // ids of keys whose last_used_at is due
	listening atomic.Bool // Run hears revocations now
}

// cachedKey is a key a lookup found.
type cachedKey struct {
	id, account string
	expires     time.Time    // the key's own expiry (zero: none)
	fresh       time.Time    // trusted without a lookup until then (the TTL)
	used        atomic.Int64 // unix nanoseconds of the last usage recorded
}

// AccountsOptions tunes the key cache and the key limit; zero values take
// the defaults.
type AccountsOptions struct {
	// CacheTTL bounds how long a cached key is trusted without a lookup:
	// the fallback should a revocation's notification be lost
	// (DefaultKeyCacheTTL).
	CacheTTL time.Duration
	// MaxKeys caps an account's keys, expired ones included until revoked
	// (DefaultMaxKeys).
	MaxKeys int
}

// Defaults of AccountsOptions.
const (
	DefaultKeyCacheTTL = 30 * time.Second
	DefaultMaxKeys     = 20
)

// usageEvery is how often a key's last_used_at is written at most.
const usageEvery = time.Minute

// NewAccounts returns the accounts store with the default options.
func NewAccounts(pool *pgxpool.Pool) *Accounts { return NewAccountsWith(pool, AccountsOptions{}) }

// NewAccountsWith returns the accounts store.
func NewAccountsWith(pool *pgxpool.Pool, o AccountsOptions) *Accounts {
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultKeyCacheTTL
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	return &Accounts{pool: pool, ttl: o.CacheTTL, maxKeys: o.MaxKeys, now: time.Now,
		known: map[[32]byte]*cachedKey{}, byID: map[string][32]byte{}, unknown: map[[32]byte]time.Time{},
		negative: 5 * time.Second, usage: make(chan string, usageQueue)}
}

// NewAccount is a created account and its API key, shown once.
type NewAccount struct {
	AccountID string `json:"account_id"`
	APIKey    string `json:"api_key"`
}

// Create makes an account with a fresh API key (named "default") and
// grants it the free allowance, in one transaction.
func (a *Accounts) Create(ctx context.Context, name string, allowanceSeconds int64) (NewAccount, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return NewAccount{}, domain.Invalid("name", "must be 1 to 200 bytes")
	}
	acc := NewAccount{AccountID: "acc_" + uuid.Must(uuid.NewV7()).String()}
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, name) VALUES ($1, $2)`, acc.AccountID, name); err != nil {
			return err
		}
		key, _, err := insertKey(ctx, tx, acc.AccountID, "default", time.Time{})
		if err != nil {
			return err
		}
		acc.APIKey = key
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

// insertKey makes a key for an account and stores its digest.
func insertKey(ctx context.Context, tx pgx.Tx, accountID, name string, expires time.Time) (string, domain.APIKeyInfo, error) {
	var secret [domain.APIKeySecretBytes]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", domain.APIKeyInfo{}, fmt.Errorf("api key: %w", err)
	}
	key := domain.NewAPIKey(secret)
	digest := sha256.Sum256([]byte(key))
	info := domain.APIKeyInfo{ID: "key_" + uuid.Must(uuid.NewV7()).String(), Name: name, Prefix: domain.APIKeyDisplay(key), ExpiresAt: expires}
	err := tx.QueryRow(ctx, `INSERT INTO api_keys (key_hash, account_id, id, name, prefix, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		digest[:], accountID, info.ID, name, info.Prefix, optTime(expires)).Scan(&info.CreatedAt)
	if err != nil {
		return "", domain.APIKeyInfo{}, fmt.Errorf("api key: %w", err)
	}
	return key, info, nil
}

// optTime is a time for a nullable column: NULL for the zero time.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Cached returns the account of a key this process looked up within the
// cache TTL and that has not expired, without I/O; ok is false for any
// other key, known or not.
func (a *Accounts) Cached(key string) (accountID string, ok bool) {
	if !domain.WellFormedAPIKey(key) {
		return "", false
	}
	digest := sha256.Sum256([]byte(key))
	now := a.now()
	a.mu.RLock()
	e := a.known[digest]
	a.mu.RUnlock()
	if e == nil || !now.Before(e.fresh) || !domain.APIKeyUsable(e.expires, now) {
		return "", false
	}
	a.markUsed(e, now)
	return e.account, true
}

// Authenticate returns the account an API key belongs to; known is false
// for a key no account has, a revoked key and an expired one. A malformed
// key costs no query, and concurrent lookups of one key share one: a burst
// of requests with a new (or a forged) key reaches Postgres once.
func (a *Accounts) Authenticate(ctx context.Context, key string) (accountID string, known bool, err error) {
	if !domain.WellFormedAPIKey(key) {
		return "", false, nil
	}
	digest := sha256.Sum256([]byte(key))
	now := a.now()
	a.mu.RLock()
	e := a.known[digest]
	failed, recentlyFailed := a.unknown[digest]
	a.mu.RUnlock()
	if e != nil && now.Before(e.fresh) {
		return a.answer(e, now)
	}
	if recentlyFailed && now.Sub(failed) < a.negative {
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
		e, _ := res.Val.(*cachedKey)
		if e == nil {
			return "", false, nil
		}
		return a.answer(e, a.now())
	}
}

// answer is a found key's verdict at now: its account, unless it expired.
func (a *Accounts) answer(e *cachedKey, now time.Time) (string, bool, error) {
	if !domain.APIKeyUsable(e.expires, now) {
		return "", false, nil
	}
	a.markUsed(e, now)
	return e.account, true, nil
}

// lookupTimeout bounds one shared key lookup.
const lookupTimeout = 10 * time.Second

// maxCached bounds the cache: past it, entries past their TTL go, and if
// that is not enough, all of them (they are looked up again).
const maxCached = 100_000

// lookup queries the key of a digest (nil for none) and caches the answer,
// unless an invalidation happened meanwhile.
func (a *Accounts) lookup(ctx context.Context, digest [32]byte) (*cachedKey, error) {
	a.mu.RLock()
	gen := a.gen
	a.mu.RUnlock()
	e := &cachedKey{}
	var expires *time.Time
	err := a.pool.QueryRow(ctx, `SELECT id, account_id, expires_at FROM api_keys WHERE key_hash = $1`, digest[:]).
		Scan(&e.id, &e.account, &expires)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if len(a.unknown) > 10_000 {
			clear(a.unknown) // bounded: a flood of bad keys cannot grow it
		}
		a.unknown[digest] = now
		return nil, nil
	case IsUnavailable(err):
		return nil, fmt.Errorf("authenticate: %w: %w", domain.ErrUnavailable, err)
	case err != nil:
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if expires != nil {
		e.expires = *expires
	}
	if gen != a.gen {
		return e, nil // answer this once, cache nothing
	}
	e.fresh = now.Add(a.ttl)
	if old := a.known[digest]; old != nil {
		e.used.Store(old.used.Load()) // the usage throttle survives a refresh
	}
	if len(a.known) >= maxCached {
		a.evictStale(now)
	}
	a.known[digest] = e
	a.byID[e.id] = digest
	return e, nil
}

// evictStale drops the entries past their TTL, or every entry if they
// were all fresh. a.mu is held.
func (a *Accounts) evictStale(now time.Time) {
	for d, e := range a.known {
		if !now.Before(e.fresh) {
			delete(a.known, d)
			delete(a.byID, e.id)
		}
	}
	if len(a.known) >= maxCached {
		clear(a.known)
		clear(a.byID)
	}
}

// forget drops a key from the cache (it was revoked).
func (a *Accounts) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	if d, ok := a.byID[id]; ok {
		delete(a.known, d)
		delete(a.byID, id)
	}
}

// forgetAll empties the cache: revocations may have been missed.
func (a *Accounts) forgetAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	clear(a.known)
	clear(a.byID)
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
