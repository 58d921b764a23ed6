package projections

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
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
	ID             string
	AccountID      string
	URL            string
	Events         []string
	Description    string
	Secret         string // the current signing secret
	PreviousSecret string // a rotated-out secret still signing until PreviousUntil
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
	NextAttemptAt time.Time
	CreatedAt     time.Time
	Attempts      []WebhookAttempt
}

// WebhookAttempt is one try of a delivery, for the delivery log.
type WebhookAttempt struct {
	N          int
	At         time.Time
	StatusCode int // 0: no response
	Latency    time.Duration
	Error      string
	Body       string // response body excerpt, at most 1 KiB
}

// Webhooks holds webhook endpoints (an account's configuration: plain rows,
// not events) and the delivery log.
type Webhooks struct{ pool *pgxpool.Pool }

// NewWebhooks returns the webhook tables on pool.
func NewWebhooks(pool *pgxpool.Pool) *Webhooks { return &Webhooks{pool: pool} }

const endpointColumns = `id, account_id, url, events, description, secret, coalesce(previous_secret, ''),
	coalesce(previous_secret_until, 'epoch'), coalesce(disabled_at, 'epoch'), coalesce(disabled_reason, ''), created_at`

func scanEndpoint(row pgx.CollectableRow) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := row.Scan(&e.ID, &e.AccountID, &e.URL, &e.Events, &e.Description, &e.Secret, &e.PreviousSecret,
		&e.PreviousUntil, &e.DisabledAt, &e.DisabledReason, &e.CreatedAt)
	if e.DisabledAt.Equal(time.Unix(0, 0)) {
		e.DisabledAt = time.Time{}
	}
	return e, err
}

// CreateEndpoint stores a new endpoint.
func (w *Webhooks) CreateEndpoint(ctx context.Context, e WebhookEndpoint) error {
	_, err := w.pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, account_id, url, events, description, secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.ID, e.AccountID, e.URL, e.Events, e.Description, e.Secret, e.CreatedAt)
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	return nil
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

// Endpoints lists the account's endpoints, newest first.
func (w *Webhooks) Endpoints(ctx context.Context, accountID string) ([]WebhookEndpoint, error) {
	rows, err := w.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE account_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 100`, accountID)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoints: %w", err)
	}
	list, err := pgx.CollectRows(rows, scanEndpoint)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoints: %w", err)
	}
	return list, nil
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
// until keepOldUntil.
func (w *Webhooks) RotateSecret(ctx context.Context, accountID, id, secret string, keepOldUntil time.Time) (WebhookEndpoint, error) {
	tag, err := w.pool.Exec(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $3, secret = $4
		WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`, id, accountID, keepOldUntil, secret)
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("rotate webhook secret: %w", lookupError(err))
	}
	if tag.RowsAffected() == 0 {
		return WebhookEndpoint{}, fmt.Errorf("webhook endpoint %s: %w", id, ErrNotFound)
	}
	return w.Endpoint(ctx, accountID, id)
}

// Deliveries lists an endpoint's deliveries, newest first, with their
// attempts; status filters when not empty.
func (w *Webhooks) Deliveries(ctx context.Context, accountID, endpointID, status string) ([]WebhookDelivery, error) {
	if _, err := w.Endpoint(ctx, accountID, endpointID); err != nil {
		return nil, err
	}
	rows, err := w.pool.Query(ctx, `SELECT id, endpoint_id, event_id::text, event_type, render_id, status,
			coalesce(next_attempt_at, 'epoch'), created_at
		FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 = '' OR status = $2)
		ORDER BY created_at DESC, id DESC LIMIT 100`, endpointID, status)
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookDelivery, error) {
		var d WebhookDelivery
		err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.RenderID, &d.Status, &d.NextAttemptAt, &d.CreatedAt)
		if d.NextAttemptAt.Equal(time.Unix(0, 0)) || d.Status != "pending" {
			d.NextAttemptAt = time.Time{}
		}
		return d, err
	})
	if err != nil || len(list) == 0 {
		return list, err
	}
	ids := make([]string, len(list))
	byID := make(map[string]*WebhookDelivery, len(list))
	for i := range list {
		ids[i], byID[list[i].ID] = list[i].ID, &list[i]
	}
	rows, err = w.pool.Query(ctx, `SELECT delivery_id, n, at, status_code, latency_ms, error, body
		FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, n`, ids)
	if err != nil {
		return nil, fmt.Errorf("webhook attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a WebhookAttempt
		var ms int64
		if err := rows.Scan(&id, &a.N, &a.At, &a.StatusCode, &ms, &a.Error, &a.Body); err != nil {
			return nil, fmt.Errorf("webhook attempts: %w", err)
		}
		a.Latency = time.Duration(ms) * time.Millisecond
		byID[id].Attempts = append(byID[id].Attempts, a)
	}
	return list, rows.Err()
}

// Redeliver makes a delivery due now, whatever its status: the next
// attempt goes out with the same webhook-id.
func (w *Webhooks) Redeliver(ctx context.Context, accountID, deliveryID string) error {
	tag, err := w.pool.Exec(ctx, `UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now()
		FROM webhook_endpoints e
		WHERE d.id = $1 AND d.account_id = $2 AND e.id = d.endpoint_id AND e.deleted_at IS NULL`, deliveryID, accountID)
	if err != nil {
		return fmt.Errorf("redeliver: %w", lookupError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook delivery %s: %w", deliveryID, ErrNotFound)
	}
	_, err = w.pool.Exec(ctx, `SELECT pg_notify($1, '')`, WebhooksChannel)
	return err
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

// Handle records the deliveries of one render event.
func (p *WebhookProjector) Handle(ctx context.Context, rec domain.Recorded) error {
	var typ string
	switch rec.Event.(type) {
	case domain.RenderCompleted:
		typ = WebhookRenderCompleted
	case domain.RenderFailed:
		typ = WebhookRenderFailed
	default:
		return nil
	}
	history, err := p.events.Load(ctx, rec.StreamID)
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	if int64(len(history)) < rec.StreamVersion {
		return fmt.Errorf("webhook deliveries of %s: the store holds %d events: %w", rec.ID, len(history), ErrUnprojectable)
	}
	view, err := renderView(history[:rec.StreamVersion])
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w: %w", rec.ID, ErrUnprojectable, err)
	}
	body, err := p.payload(rec.ID, typ, rec.OccurredAt, view)
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	rows, err := p.pool.Query(ctx, `SELECT id FROM webhook_endpoints
		WHERE account_id = $1 AND deleted_at IS NULL AND disabled_at IS NULL AND $2 = ANY(events)`, rec.AccountID, typ)
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
			p.newID(), ep, rec.AccountID, rec.ID, typ, rec.StreamID, rec.StreamVersion, body)
	}
	batch.Queue(`SELECT pg_notify($1, '')`, WebhooksChannel)
	if err := p.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	p.log.Debug("webhook deliveries recorded", "render_id", rec.StreamID, "event", typ, "endpoints", len(endpoints))
	return nil
}
