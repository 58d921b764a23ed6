package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
)

// Public webhook event types (unversioned, unlike the Kafka ce_types).
const (
	WebhookRenderCompleted = "render.completed"
	WebhookRenderFailed    = "render.failed"
)

// WebhookEventTypes are the types an endpoint may subscribe to.
var WebhookEventTypes = []string{WebhookRenderCompleted, WebhookRenderFailed}

// WebhooksChannel is the LISTEN/NOTIFY channel that wakes the senders when
// deliveries are due now.
const WebhooksChannel = "renderd_webhooks"

// WebhookEndpoint is an account's receiver of webhooks.
type WebhookEndpoint struct {
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
func (e WebhookEndpoint) Secrets(now time.Time) []string {
	s := []string{e.Secret}
	if e.PreviousSecret != "" && now.Before(e.PreviousUntil) {
		s = append(s, e.PreviousSecret)
	}
	return s
}

// WebhookDelivery is one event for one endpoint, with its attempts.
type WebhookDelivery struct {
	ID            string
	EndpointID    string
	EventID       string
	EventType     string
	RenderID      string
	Status        string // pending, delivered, failed
	Redeliveries  int    // asked for through the API
	NextAttemptAt time.Time
	CreatedAt     time.Time
	Attempts      []WebhookAttempt
}

// WebhookAttempt is one try of a delivery, for the delivery log.
type WebhookAttempt struct {
	N          int
	At         time.Time
	State      AttemptState
	StatusCode int // 0: no response
	Latency    time.Duration
	Error      string
	// Body is the response body's excerpt (at most 1 KiB) when BodyKept:
	// only a public destination's is (adapters/webhooks.Public).
	Body     string
	BodyKept bool
}

// AttemptState is where a logged attempt is: the log has an attempt from
// before it is sent until its outcome is recorded.
type AttemptState string

// Attempt states.
const (
	AttemptInFlight  AttemptState = "in_flight" // sent, no outcome yet
	AttemptFinished  AttemptState = "finished"  // its outcome is recorded
	AttemptAbandoned AttemptState = "abandoned" // its sender stopped before recording the outcome
)

// AttemptAbandonedError is the error an abandoned attempt shows.
const AttemptAbandonedError = "the sender stopped before the attempt finished"

// Webhook conflicts (409), by code.
const (
	CodeEndpointLimit   = "webhook_endpoint_limit"
	CodeDuplicateURL    = "duplicate_webhook_url"
	CodeDeliveryPending = "delivery_pending"
	CodeRedeliveryLimit = "redelivery_limit"
	CodeEndpointOff     = "webhook_endpoint_disabled"
)

// SecretSealer encrypts webhook signing secrets at rest; adapters/keyring
// implements it with AES-256-GCM under the operator's key ring. ad binds a
// sealed value to its place, so one copied to another row or column does
// not open.
type SecretSealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
	// Stale reports a value sealed under a key other than the one Seal uses.
	Stale(sealed []byte) bool
}

// The columns a secret is sealed for: its additional data.
const (
	secretCurrent  = "current"
	secretPrevious = "previous"
)

func secretAD(endpointID, column string) []byte {
	return []byte("webhook_endpoints/" + endpointID + "/" + column)
}

func sealSecret(s SecretSealer, endpointID, column, secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	b, err := s.Seal([]byte(secret), secretAD(endpointID, column))
	if err != nil {
		return nil, fmt.Errorf("seal the %s secret of %s: %w", column, endpointID, err)
	}
	return b, nil
}

func openSecret(s SecretSealer, endpointID, column string, sealed []byte) (string, error) {
	if sealed == nil {
		return "", nil
	}
	b, err := s.Open(sealed, secretAD(endpointID, column))
	if err != nil {
		return "", fmt.Errorf("open the %s secret of %s: %w", column, endpointID, err)
	}
	return string(b), nil
}

// Webhooks holds webhook endpoints (an account's configuration: plain rows,
// not events) and the delivery log.
type Webhooks struct {
	pool   *pgxpool.Pool
	sealer SecretSealer
}

// NewWebhooks returns the webhook tables on pool; sealer seals and opens
// the signing secrets.
func NewWebhooks(pool *pgxpool.Pool, sealer SecretSealer) *Webhooks {
	return &Webhooks{pool: pool, sealer: sealer}
}

// endpointColumns leave the secrets out: only the dispatcher opens them.
const endpointColumns = `id, account_id, url, events, description,
	coalesce(previous_secret_until, 'epoch'), coalesce(disabled_at, 'epoch'), coalesce(disabled_reason, ''), created_at`

func scanEndpoint(row pgx.CollectableRow) (WebhookEndpoint, error) {
	var e WebhookEndpoint
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
func (w *Webhooks) CreateEndpoint(ctx context.Context, e WebhookEndpoint, limit int) error {
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
func (w *Webhooks) Endpoint(ctx context.Context, accountID, id string) (WebhookEndpoint, error) {
	rows, err := w.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`, id, accountID)
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("webhook endpoint: %w", lookupError(err))
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanEndpoint)
	if noRow(err) {
		return WebhookEndpoint{}, fmt.Errorf("webhook endpoint %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("webhook endpoint: %w", err)
	}
	return e, nil
}

// Endpoints returns a page of the account's endpoints, newest first, and
// the cursor of the next page ("" after the last), like ListAssets.
func (w *Webhooks) Endpoints(ctx context.Context, accountID string, page Page) ([]WebhookEndpoint, string, error) {
	list, next, err := listPage(ctx, w.pool, page, scanEndpoint,
		`SELECT `+endpointColumns+` FROM webhook_endpoints WHERE account_id = $1 AND deleted_at IS NULL`, []any{accountID},
		func(e WebhookEndpoint) cursor { return cursor{e.CreatedAt, e.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("webhook endpoints: %w", err)
	}
	return list, next, nil
}

// DeleteEndpoint removes an endpoint; its pending deliveries fail.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, accountID, id string) error {
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = now() WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`, id, accountID)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", lookupError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook endpoint %s: %w", id, ErrNotFound)
	}
	if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL
		WHERE endpoint_id = $1 AND status = 'pending'`, id); err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	return tx.Commit(ctx)
}

// RotateSecret replaces the endpoint's secret; the old one keeps signing
// until keepOldUntil. The returned endpoint carries the new secret.
func (w *Webhooks) RotateSecret(ctx context.Context, accountID, id, secret string, keepOldUntil time.Time) (WebhookEndpoint, error) {
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		var current []byte
		var clear *string // a row not sealed yet (SealSecrets)
		err := tx.QueryRow(ctx, `SELECT secret_sealed, secret FROM webhook_endpoints
			WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL FOR UPDATE`, id, accountID).Scan(&current, &clear)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("webhook endpoint %s: %w", id, ErrNotFound)
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
		return WebhookEndpoint{}, fmt.Errorf("rotate webhook secret: %w", lookupError(err))
	}
	e, err := w.Endpoint(ctx, accountID, id)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	e.Secret = secret
	return e, nil
}

// SealSecrets seals the secrets rows still hold in clear (from before
// migration 00013, or written by an older process) and clears the
// plaintext; with reseal, it also seals again every secret sealed under a
// key other than the ring's first, so that an old key can leave the ring.
// It is idempotent and safe beside live traffic: each batch of rows is
// locked while it is rewritten. It returns how many rows changed.
func (w *Webhooks) SealSecrets(ctx context.Context, reseal bool) (int, error) {
	changed, after := 0, ""
	for {
		var batch []sealRow
		err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id, secret, previous_secret, secret_sealed, previous_secret_sealed
				FROM webhook_endpoints WHERE id > $1 AND ($2 OR secret IS NOT NULL OR previous_secret IS NOT NULL)
				ORDER BY id LIMIT 200 FOR UPDATE`, after, reseal)
			if err != nil {
				return err
			}
			batch, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealRow, error) {
				var x sealRow
				return x, r.Scan(&x.id, &x.plain, &x.plainPrev, &x.sealed, &x.sealedPrev)
			})
			if err != nil {
				return err
			}
			for i := range batch {
				x := &batch[i]
				if err := x.movedByOlderRotate(w.sealer); err != nil {
					return err
				}
				var dirty bool
				if x.newSealed, dirty, err = w.resealed(x.id, secretCurrent, x.plain, x.sealed); err != nil {
					return err
				}
				var dirtyPrev bool
				if x.newSealedPrev, dirtyPrev, err = w.resealed(x.id, secretPrevious, x.plainPrev, x.sealedPrev); err != nil {
					return err
				}
				if !dirty && !dirtyPrev {
					continue
				}
				if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET secret = NULL, previous_secret = NULL,
					secret_sealed = $2, previous_secret_sealed = $3 WHERE id = $1`, x.id, x.newSealed, x.newSealedPrev); err != nil {
					return err
				}
				changed++
			}
			return nil
		})
		if err != nil {
			return changed, fmt.Errorf("seal webhook secrets: %w", err)
		}
		if len(batch) == 0 {
			return changed, nil
		}
		after = batch[len(batch)-1].id
	}
}

// sealRow is one endpoint's secret columns while SealSecrets rewrites them.
type sealRow struct {
	id                       string
	plain, plainPrev         *string
	sealed, sealedPrev       []byte
	newSealed, newSealedPrev []byte
}

// movedByOlderRotate repairs a sealed row that a process from before
// migration 00013 rotated during a rolling upgrade: its rotation ran
// `SET previous_secret = secret, previous_secret_until = $3, secret = $4`,
// which leaves the new secret in clear, the one it replaced sealed as
// current and no previous secret in clear. The replaced secret is the
// previous one, still signing until the previous_secret_until that
// rotation set; the older previous secret is gone (as after any rotation).
func (x *sealRow) movedByOlderRotate(sealer SecretSealer) error {
	if x.plain == nil || *x.plain == "" || x.sealed == nil || (x.plainPrev != nil && *x.plainPrev != "") {
		return nil
	}
	old, err := openSecret(sealer, x.id, secretCurrent, x.sealed)
	if err != nil {
		return err
	}
	x.plainPrev, x.sealedPrev = &old, nil
	return nil
}

// resealed is the sealed value one secret column should hold: plain sealed
// when the row holds it in clear, sealed again under the first key when
// stale, else as it is; dirty says whether it changed.
func (w *Webhooks) resealed(id, column string, plain *string, sealed []byte) ([]byte, bool, error) {
	switch {
	case plain != nil && *plain != "":
		b, err := sealSecret(w.sealer, id, column, *plain)
		return b, true, err
	case plain != nil: // an empty plaintext: nothing to seal, but clear it
		return sealed, true, nil
	case sealed != nil && w.sealer.Stale(sealed):
		s, err := openSecret(w.sealer, id, column, sealed)
		if err != nil {
			return nil, false, err
		}
		b, err := sealSecret(w.sealer, id, column, s)
		return b, true, err
	}
	return sealed, false, nil
}

// Deliveries returns a page of an endpoint's deliveries, newest first, with
// their attempts, and the cursor of the next page ("" after the last);
// status filters when not empty, and a cursor is bound to it (as
// ListRenders' to its filters).
func (w *Webhooks) Deliveries(ctx context.Context, accountID, endpointID, status string, page Page) ([]WebhookDelivery, string, error) {
	if _, err := w.Endpoint(ctx, accountID, endpointID); err != nil {
		return nil, "", err
	}
	keyset, err := unbindCursor("status="+status, page.Cursor, "keep status")
	if err != nil {
		return nil, "", fmt.Errorf("webhook deliveries: %w", err)
	}
	page.Cursor = keyset
	list, next, err := listPage(ctx, w.pool, page, func(row pgx.CollectableRow) (WebhookDelivery, error) {
		var d WebhookDelivery
		err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.RenderID, &d.Status, &d.Redeliveries, &d.NextAttemptAt, &d.CreatedAt)
		if d.NextAttemptAt.Equal(time.Unix(0, 0)) || d.Status != "pending" {
			d.NextAttemptAt = time.Time{}
		}
		return d, err
	}, `SELECT id, endpoint_id, event_id::text, event_type, render_id, status, redeliveries, coalesce(next_attempt_at, 'epoch'), created_at
		FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 = '' OR status = $2)`, []any{endpointID, status},
		func(d WebhookDelivery) cursor { return cursor{d.CreatedAt, d.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("webhook deliveries: %w", err)
	}
	next = bindCursor("status="+status, next)
	if len(list) == 0 {
		return list, next, nil
	}
	ids := make([]string, len(list))
	byID := make(map[string]*WebhookDelivery, len(list))
	for i := range list {
		ids[i], byID[list[i].ID] = list[i].ID, &list[i]
	}
	rows, err := w.pool.Query(ctx, `SELECT delivery_id, n, at, state, status_code, latency_ms, error, body
		FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, n`, ids)
	if err != nil {
		return nil, "", fmt.Errorf("webhook attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a WebhookAttempt
		var ms int64
		var body *string
		if err := rows.Scan(&id, &a.N, &a.At, &a.State, &a.StatusCode, &ms, &a.Error, &body); err != nil {
			return nil, "", fmt.Errorf("webhook attempts: %w", err)
		}
		a.Latency = time.Duration(ms) * time.Millisecond
		if body != nil {
			a.Body, a.BodyKept = *body, true
		}
		byID[id].Attempts = append(byID[id].Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("webhook attempts: %w", err)
	}
	return list, next, nil
}

// Redeliver makes a delivered or failed delivery due now, for one more
// attempt with the same webhook-id, at most limit times per delivery. A
// pending one (waiting for a retry, or in flight) is a ConflictError
// delivery_pending, one redelivered limit times redelivery_limit, and one
// whose endpoint is disabled webhook_endpoint_disabled; the update checks
// all of it at once, so concurrent calls cannot pass the limit.
func (w *Webhooks) Redeliver(ctx context.Context, accountID, deliveryID string, limit int) error {
	tag, err := w.pool.Exec(ctx, `UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(), redeliveries = d.redeliveries + 1
		FROM webhook_endpoints e
		WHERE d.id = $1 AND d.account_id = $2 AND e.id = d.endpoint_id AND e.deleted_at IS NULL AND e.disabled_at IS NULL
			AND d.status IN ('delivered', 'failed') AND d.redeliveries < $3`, deliveryID, accountID, limit)
	if err != nil {
		return fmt.Errorf("redeliver: %w", lookupError(err))
	}
	if tag.RowsAffected() == 1 {
		_, err = w.pool.Exec(ctx, `SELECT pg_notify($1, '')`, WebhooksChannel)
		return err
	}
	// Why not: read back once; a concurrent change only picks another reason.
	var status string
	var redeliveries int
	var disabled bool
	err = w.pool.QueryRow(ctx, `SELECT d.status, d.redeliveries, e.disabled_at IS NOT NULL
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
		WHERE d.id = $1 AND d.account_id = $2 AND e.deleted_at IS NULL`, deliveryID, accountID).Scan(&status, &redeliveries, &disabled)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("webhook delivery %s: %w", deliveryID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("redeliver: %w", err)
	case disabled:
		return domain.Conflict(CodeEndpointOff, "the delivery's endpoint is disabled and cannot be enabled again: register its URL as a new endpoint")
	case status == "pending":
		return domain.Conflict(CodeDeliveryPending, "the delivery is still pending (waiting for a retry or being sent); redeliver it once it is delivered or failed")
	case redeliveries >= limit:
		return domain.Conflict(CodeRedeliveryLimit, "the delivery was redelivered %d times, the most it may be", redeliveries)
	}
	return domain.Conflict(CodeDeliveryPending, "the delivery changed while this request ran; retry it")
}

// WebhookPayload builds the body of a webhook: the event's id, public type
// and time, and the render as the API shows it (without a download URL).
type WebhookPayload func(eventID, eventType string, at time.Time, render RenderView) ([]byte, error)

// WebhookProjector turns render.completed and render.failed into one
// delivery per subscribed endpoint of the render's account, keyed by the
// event id: a redelivered message (or a replay) creates nothing new.
type WebhookProjector struct {
	pool    *pgxpool.Pool
	events  EventLoader
	payload WebhookPayload
	newID   func() string
	log     *slog.Logger
}

// NewWebhookProjector returns the delivery projection.
func NewWebhookProjector(pool *pgxpool.Pool, events EventLoader, payload WebhookPayload, newID func() string, log *slog.Logger) *WebhookProjector {
	return &WebhookProjector{pool: pool, events: events, payload: payload, newID: newID, log: log.With("projection", "webhook-deliveries")}
}

// Handle records the deliveries of one render event. Everything but the
// stream, the version and the event id is taken from the event store, the
// account above all: the Kafka record's attributes (ce_accountid among
// them) only point at the event, so a forged or stale record cannot send a
// render to another account's endpoints. A record the store does not hold
// at that version is unprojectable.
func (p *WebhookProjector) Handle(ctx context.Context, rec domain.Recorded) error {
	switch rec.Event.(type) {
	case domain.RenderCompleted, domain.RenderFailed:
	default:
		return nil
	}
	history, err := p.events.Load(ctx, rec.StreamID)
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	if rec.StreamVersion < 1 || int64(len(history)) < rec.StreamVersion {
		return fmt.Errorf("webhook deliveries of %s: the store holds %d events: %w", rec.ID, len(history), ErrUnprojectable)
	}
	stored := history[rec.StreamVersion-1]
	if stored.ID != rec.ID {
		return fmt.Errorf("webhook deliveries of %s: the store holds event %s at version %d: %w", rec.ID, stored.ID, rec.StreamVersion, ErrUnprojectable)
	}
	var typ string
	switch stored.Event.(type) {
	case domain.RenderCompleted:
		typ = WebhookRenderCompleted
	case domain.RenderFailed:
		typ = WebhookRenderFailed
	default:
		return fmt.Errorf("webhook deliveries of %s: the store holds %T: %w", rec.ID, stored.Event, ErrUnprojectable)
	}
	view, err := renderView(history[:rec.StreamVersion])
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w: %w", rec.ID, ErrUnprojectable, err)
	}
	body, err := p.payload(stored.ID, typ, stored.OccurredAt, view)
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	rows, err := p.pool.Query(ctx, `SELECT id FROM webhook_endpoints
		WHERE account_id = $1 AND deleted_at IS NULL AND disabled_at IS NULL AND $2 = ANY(events)`, view.AccountID, typ)
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	endpoints, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(endpoints) == 0 {
		return err
	}
	batch := &pgx.Batch{}
	for _, ep := range endpoints {
		batch.Queue(`INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, event_type, render_id, render_version,
				payload, status, next_attempt_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', now(), now())
			ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
			p.newID(), ep, view.AccountID, stored.ID, typ, stored.StreamID, stored.StreamVersion, body)
	}
	batch.Queue(`SELECT pg_notify($1, '')`, WebhooksChannel)
	if err := p.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	p.log.Debug("webhook deliveries recorded", "render_id", stored.StreamID, "event", typ, "endpoints", len(endpoints))
	return nil
}
