package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/renderd/renderd/adapters/outage"
	"github.com/renderd/renderd/domain"
)

// KeysChannel is the LISTEN/NOTIFY channel that announces revoked API keys;
// the payload is the key's id.
const KeysChannel = "renderd_api_keys"

// CreateKey makes another API key for an account; the key is returned once
// and only its digest is stored. name and expires (zero: none) are
// checked; an account at its key limit is refused with 409
// too_many_api_keys, and an unknown account with domain.ErrNotFound.
// Blanks around name are dropped.
func (a *Accounts) CreateKey(ctx context.Context, accountID, name string, expires time.Time) (string, domain.APIKeyInfo, error) {
	name = strings.TrimSpace(name)
	expires = expires.Truncate(time.Microsecond) // as Postgres keeps it
	if err := errors.Join(domain.CheckAPIKeyName(name), domain.CheckAPIKeyExpiry(expires, a.now())); err != nil {
		return "", domain.APIKeyInfo{}, err
	}
	var key string
	var info domain.APIKeyInfo
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		// The account's row lock orders the key changes of one account:
		// two creates cannot both pass the limit.
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE account_id = $1`, accountID).Scan(&n); err != nil {
			return err
		}
		if n >= a.maxKeys {
			return domain.Conflict("too_many_api_keys", "the account has %d API keys, the most it may have; revoke one first (expired keys count until revoked)", n)
		}
		var err error
		key, info, err = insertKey(ctx, tx, accountID, name, expires)
		return err
	})
	if err != nil {
		return "", domain.APIKeyInfo{}, fmt.Errorf("create api key: %w", err)
	}
	return key, info, nil
}

// Keys lists an account's keys, newest first (at most its key limit).
func (a *Accounts) Keys(ctx context.Context, accountID string) ([]domain.APIKeyInfo, error) {
	rows, err := a.pool.Query(ctx, `SELECT id, name, coalesce(prefix, ''), created_at, last_used_at, expires_at
		FROM api_keys WHERE account_id = $1 ORDER BY created_at DESC, id DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.APIKeyInfo, error) {
		var k domain.APIKeyInfo
		var used, expires *time.Time
		err := r.Scan(&k.ID, &k.Name, &k.Prefix, &k.CreatedAt, &used, &expires)
		if used != nil {
			k.LastUsedAt = *used
		}
		if expires != nil {
			k.ExpiresAt = *expires
		}
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	return keys, nil
}

// RevokeKey deletes one of an account's keys and tells every process to
// forget it (KeysChannel). Revoking the account's last usable key is
// refused with 409 last_api_key, so an account never locks itself out;
// another account's key, an unknown or a malformed id is domain.ErrNotFound.
func (a *Accounts) RevokeKey(ctx context.Context, accountID, id string) error {
	if !validKeyID(id) {
		return fmt.Errorf("api key %.64q: %w", id, domain.ErrNotFound)
	}
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		// Two revokes of an account's last two keys serialise here: the
		// second sees the first's deletion and is refused.
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		var expires *time.Time
		err := tx.QueryRow(ctx, `SELECT expires_at FROM api_keys WHERE id = $1 AND account_id = $2`, id, accountID).Scan(&expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("api key %s: %w", id, domain.ErrNotFound)
		}
		if err != nil {
			return err
		}
		now := a.now()
		if expires == nil || domain.APIKeyUsable(*expires, now) {
			var others int
			err := tx.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE account_id = $1 AND id <> $2 AND (expires_at IS NULL OR expires_at > $3)`,
				accountID, id, now).Scan(&others)
			if err != nil {
				return err
			}
			if others == 0 {
				return domain.Conflict("last_api_key", "this is the account's last usable API key; create another before revoking it")
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, id); err != nil {
			return err
		}
		// Delivered at commit, to every listening process. Revokes are rare,
		// so the notify lock this takes at commit costs nothing (unlike a
		// NOTIFY in every command transaction, notifier.go).
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, KeysChannel, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	a.forget(id) // this process at once, whether or not it listens
	return nil
}

// lockAccount takes an account's row lock; an unknown account is
// domain.ErrNotFound. FOR NO KEY UPDATE orders the account's key changes
// but, unlike FOR UPDATE, leaves alone the inserts that only check the
// account through a foreign key (credit_ledger, api_keys, …).
func lockAccount(ctx context.Context, tx pgx.Tx, accountID string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("account %s: %w", accountID, domain.ErrNotFound)
	}
	return err
}

// validKeyID reports whether id has the shape of a key id (key_<uuid>), so
// that no other text (invalid UTF-8, NUL) reaches a query.
func validKeyID(id string) bool {
	rest, ok := strings.CutPrefix(id, "key_")
	if !ok || len(rest) != 36 {
		return false
	}
	_, err := uuid.Parse(rest)
	return err == nil
}

// Listener backoff: the first retry after a lost connection and the
// longest wait between retries. The backoff starts over after a session
// that got to listen; the longest wait is short, so that the listener is
// back within about half a second of Postgres' return however long it was
// away (a refused connection costs next to nothing).
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 500 * time.Millisecond
)

// Run keeps the key cache honest until ctx ends: it listens on a dedicated
// connection for revocations (connect opens it) and forgets each revoked
// key, and it writes last_used_at in the background. Whenever the listener
// is not connected, revocations may be missed, so the cache is emptied
// when the connection is lost and again once it listens anew; in between,
// the cache TTL bounds how long a revoked key can still pass.
func (a *Accounts) Run(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), log *slog.Logger) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { a.listenLoop(ctx, connect, log); return nil })
	g.Go(func() error { a.writeUsage(ctx, log); return nil })
	return g.Wait()
}

func (a *Accounts) listenLoop(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), log *slog.Logger) {
	link := outage.NewTracker(log, "the API key listener lost its connection: the key cache is emptied and the listener reconnects",
		"the API key listener listens again", time.Now)
	wait := listenRetryMin
	for {
		listened, err := a.listen(ctx, connect, link.Succeeded)
		a.forgetAll()
		if ctx.Err() != nil {
			return
		}
		if listened {
			// That session worked: a blip after it is retried at once,
			// however long earlier outages were.
			wait = listenRetryMin
		}
		link.Failed(err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// Listening reports whether revocations reach this process at once: Run
// is listening. When it is not, a revoked key may pass here for up to the
// cache TTL.
func (a *Accounts) Listening() bool { return a.listening.Load() }

// listen runs one listening session until its connection fails or ctx
// ends; listened says whether it got to LISTEN, when it calls listening.
func (a *Accounts) listen(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), listening func()) (listened bool, err error) {
	conn, err := connect(ctx)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx) // the session is over either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{KeysChannel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// Revocations before LISTEN were not heard: start from an empty cache.
	a.forgetAll()
	a.listening.Store(true)
	defer a.listening.Store(false)
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		a.forget(n.Payload)
	}
}

// usageQueue bounds the keys waiting for their last_used_at write: a key
// enters it at most once a minute per process; when it is full, a usage is
// dropped (the next one, a minute later, records it).
const usageQueue = 4096

// markUsed queues a key's last_used_at write if its last one is a minute
// old. It never blocks.
func (a *Accounts) markUsed(e *cachedKey, now time.Time) {
	last := e.used.Load()
	if now.UnixNano()-last < int64(usageEvery) || !e.used.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	select {
	case a.usage <- e.id:
	default:
	}
}

// usageFlush is how often queued usages are written, in one statement.
const usageFlush = time.Second

// writeUsage writes queued usages until ctx ends. The statement keeps the
// once-a-minute bound across processes too. A failed write is logged and
// dropped: last_used_at is a hint, never worth failing a request.
func (a *Accounts) writeUsage(ctx context.Context, log *slog.Logger) {
	tick := time.NewTicker(usageFlush)
	defer tick.Stop()
	ids := map[string]struct{}{}
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-a.usage:
			ids[id] = struct{}{}
			continue
		case <-tick.C:
		}
		if len(ids) == 0 {
			continue
		}
		batch := make([]string, 0, len(ids))
		for id := range ids {
			batch = append(batch, id)
		}
		clear(ids)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := a.pool.Exec(wctx, `UPDATE api_keys SET last_used_at = now()
			WHERE id = ANY($1) AND (last_used_at IS NULL OR last_used_at <= now() - make_interval(secs => $2))`,
			batch, usageEvery.Seconds())
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn("recording API key usage failed", "error", err, "keys", len(batch))
		}
	}
}
