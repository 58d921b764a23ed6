// Package webhooks is the webhook feature: an account's endpoints and their
// signing secrets (sealed at rest), the delivery projection that turns
// render.completed and render.failed into one delivery per subscribed
// endpoint, and the dispatcher that sends due deliveries through a Sender
// (adapters/webhooks is the HTTP one) and logs every attempt. Its tables,
// webhook_endpoints, webhook_deliveries and webhook_attempts, are its own
// (docs/webhooks.md).
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres/pgread"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// Public webhook event types (unversioned, unlike the Kafka ce_types).
const (
	RenderCompleted = "render.completed"
	RenderFailed    = "render.failed"
)

// EventTypes are the types an endpoint may subscribe to.
var EventTypes = []string{RenderCompleted, RenderFailed}

// Channel is the LISTEN/NOTIFY channel that wakes the senders when
// deliveries are due now.
const Channel = "renderd_webhooks"

// Endpoint is an account's receiver of webhooks.
type Endpoint struct {
	ID          string
	AccountID   string
	URL         string
	URLKey      string // the URL's comparison form: one enabled endpoint per key and account
	Events      []string
	Description string
	// Secret is the current signing secret and PreviousSecret a rotated-out
	// one still signing until PreviousUntil. They are stored sealed (see
	// SecretSealer): reads of the API leave them empty; they are set on
	// create and rotate, and for the dispatcher.
	Secret         string
	PreviousSecret string
	PreviousUntil  time.Time
	DisabledAt     time.Time // zero while enabled
	DisabledReason string
	CreatedAt      time.Time
}

// Secrets are the secrets that sign a message sent at now: the current one
// first, then a rotated-out one still within its grace period.
func (e Endpoint) Secrets(now time.Time) []string {
	s := []string{e.Secret}
	if e.PreviousSecret != "" && now.Before(e.PreviousUntil) {
		s = append(s, e.PreviousSecret)
	}
	return s
}

// Webhook conflicts (409), by code.
const (
	CodeEndpointLimit   = "webhook_endpoint_limit"
	CodeDuplicateURL    = "duplicate_webhook_url"
	CodeDeliveryPending = "delivery_pending"
	CodeRedeliveryLimit = "redelivery_limit"
	CodeEndpointOff     = "webhook_endpoint_disabled"
)

// Store holds webhook endpoints (an account's configuration: plain rows,
// not events) and the delivery log.
type Store struct {
	pool   *pgxpool.Pool
	sealer SecretSealer
}

// NewStore returns the webhook tables on pool; sealer seals and opens
// the signing secrets.
func NewStore(pool *pgxpool.Pool, sealer SecretSealer) *Store {
	return &Store{pool: pool, sealer: sealer}
}

// endpointColumns leave the secrets out: only the dispatcher opens them.
const endpointColumns = `id, account_id, url, events, description,
	coalesce(previous_secret_until, 'epoch'), coalesce(disabled_at, 'epoch'), coalesce(disabled_reason, ''), created_at`

func scanEndpoint(row pgx.CollectableRow) (Endpoint, error) {
	var e Endpoint
	err := row.Scan(&e.ID, &e.AccountID, &e.URL, &e.Events, &e.Description,
		&e.PreviousUntil, &e.DisabledAt, &e.DisabledReason, &e.CreatedAt)
	if e.DisabledAt.Equal(time.Unix(0, 0)) {
		e.DisabledAt = time.Time{}
	}
	return e, err
}

// CreateEndpoint stores a new endpoint, its secret sealed, unless the
// account has limit endpoints already, disabled ones included (a
// ConflictError webhook_endpoint_limit), or an enabled one with the same
// URLKey (duplicate_webhook_url): a disabled endpoint cannot be enabled
// again, so its URL is free for a new one. An account's creations take turns on a
// transaction lock, so concurrent ones cannot pass the limit together; the
// unique index on the key backs the duplicate check up. Endpoints made
// before keys existed get theirs from BackfillURLKeys.
func (w *Store) CreateEndpoint(ctx context.Context, e Endpoint, limit int) error {
	if e.Secret == "" {
		return errors.New("create webhook endpoint: no secret")
	}
	sealed, err := sealSecret(w.sealer, e.ID, secretCurrent, e.Secret)
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	// The count is a statement of its own, after the lock: its snapshot then
	// holds what the previous holder committed.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('renderd.webhook_endpoints:' || $1, 0))`, e.AccountID); err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	var live int
	var duplicate bool
	err = tx.QueryRow(ctx, `SELECT count(*), coalesce(bool_or(disabled_at IS NULL AND url_key = $2), false)
		FROM webhook_endpoints WHERE account_id = $1 AND deleted_at IS NULL`, e.AccountID, e.URLKey).Scan(&live, &duplicate)
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	switch {
	case duplicate:
		return duplicateURL()
	case live >= limit:
		return domain.Conflict(CodeEndpointLimit, "the account has %d webhook endpoints, the most it may have: delete one first", live)
	}
	_, err = tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, account_id, url, url_key, events, description, secret_sealed, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, e.AccountID, e.URL, e.URLKey, e.Events, e.Description, sealed, e.CreatedAt)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.ConstraintName == "webhook_endpoints_url_once" {
		return duplicateURL()
	}
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	return nil
}

func duplicateURL() error {
	return domain.Conflict(CodeDuplicateURL, "the account has an enabled endpoint with this URL already: use that one, or delete it first")
}

// BackfillURLKeys gives the endpoints made before URL keys existed
// (migration 00014, or an older process during an upgrade) their key: key
// returns a URL's comparison form, false for a URL it cannot read. A row
// whose key an enabled endpoint of its account holds already (two
// endpoints made before the rule with one URL) keeps none: the holder
// refuses the duplicates. Batched and idempotent, safe beside live traffic;
// it returns how many rows got a key.
func BackfillURLKeys(ctx context.Context, pool *pgxpool.Pool, key func(url string) (string, bool)) (int, error) {
	type row struct{ id, accountID, url string }
	keyed, after := 0, ""
	for {
		rows, err := pool.Query(ctx, `SELECT id, account_id, url FROM webhook_endpoints
			WHERE url_key IS NULL AND deleted_at IS NULL AND id > $1 ORDER BY id LIMIT 200`, after)
		if err != nil {
			return keyed, fmt.Errorf("backfill webhook URL keys: %w", err)
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.accountID, &x.url)
		})
		if err != nil {
			return keyed, fmt.Errorf("backfill webhook URL keys: %w", err)
		}
		if len(batch) == 0 {
			return keyed, nil
		}
		for _, x := range batch {
			k, ok := key(x.url)
			if !ok {
				continue
			}
			// The same predicate as the unique index: a row it would refuse
			// is skipped, not failed.
			tag, err := pool.Exec(ctx, `UPDATE webhook_endpoints e SET url_key = $2 WHERE e.id = $1 AND e.url_key IS NULL
				AND NOT EXISTS (SELECT FROM webhook_endpoints o WHERE o.account_id = $3 AND o.url_key = $2
					AND o.deleted_at IS NULL AND o.disabled_at IS NULL)`, x.id, k, x.accountID)
			if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.ConstraintName == "webhook_endpoints_url_once" {
				continue // a concurrent creation took the key
			}
			if err != nil {
				return keyed, fmt.Errorf("backfill webhook URL keys: %w", err)
			}
			keyed += int(tag.RowsAffected())
		}
		after = batch[len(batch)-1].id
	}
}

// Endpoint returns one of the account's endpoints.
func (w *Store) Endpoint(ctx context.Context, accountID, id string) (Endpoint, error) {
	rows, err := w.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`, id, accountID)
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook endpoint: %w", pgread.LookupError(err))
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanEndpoint)
	if pgread.NoRow(err) {
		return Endpoint{}, fmt.Errorf("webhook endpoint %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook endpoint: %w", err)
	}
	return e, nil
}

// Endpoints returns a page of the account's endpoints, newest first, and
// the cursor of the next page ("" after the last), like readmodel.Queries.ListAssets.
func (w *Store) Endpoints(ctx context.Context, accountID string, page projections.Page) ([]Endpoint, string, error) {
	list, next, err := pgread.List(ctx, w.pool, page, scanEndpoint,
		`SELECT `+endpointColumns+` FROM webhook_endpoints WHERE account_id = $1 AND deleted_at IS NULL`, []any{accountID},
		func(e Endpoint) projections.Cursor { return projections.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("webhook endpoints: %w", err)
	}
	return list, next, nil
}

// DeleteEndpoint removes an endpoint; its pending deliveries fail.
func (w *Store) DeleteEndpoint(ctx context.Context, accountID, id string) error {
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = now() WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`, id, accountID)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", pgread.LookupError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook endpoint %s: %w", id, domain.ErrNotFound)
	}
	if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL
		WHERE endpoint_id = $1 AND status = 'pending'`, id); err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	return tx.Commit(ctx)
}

// RotateSecret replaces the endpoint's secret; the old one keeps signing
// until keepOldUntil. The returned endpoint carries the new secret.
func (w *Store) RotateSecret(ctx context.Context, accountID, id, secret string, keepOldUntil time.Time) (Endpoint, error) {
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		var current []byte
		var clear *string // a row not sealed yet (SealSecrets)
		err := tx.QueryRow(ctx, `SELECT secret_sealed, secret FROM webhook_endpoints
			WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL FOR UPDATE`, id, accountID).Scan(&current, &clear)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("webhook endpoint %s: %w", id, domain.ErrNotFound)
		}
		if err != nil {
			return err
		}
		// The current secret moves to the previous column: sealed again,
		// for its new place.
		old, err := openSecret(w.sealer, id, secretCurrent, current)
		if err != nil {
			return err
		}
		if current == nil && clear != nil {
			old = *clear
		}
		previous, err := sealSecret(w.sealer, id, secretPrevious, old)
		if err != nil {
			return err
		}
		next, err := sealSecret(w.sealer, id, secretCurrent, secret)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_endpoints SET previous_secret_sealed = $2, previous_secret_until = $3, secret_sealed = $4,
			secret = NULL, previous_secret = NULL WHERE id = $1`, id, previous, keepOldUntil, next)
		return err
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("rotate webhook secret: %w", pgread.LookupError(err))
	}
	e, err := w.Endpoint(ctx, accountID, id)
	if err != nil {
		return Endpoint{}, err
	}
	e.Secret = secret
	return e, nil
}
