package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres/pgread"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/telemetry"
)

// Delivery is one event for one endpoint, with its attempts.
type Delivery struct {
	ID            string
	EndpointID    string
	EventID       string
	EventType     string
	RenderID      string
	Status        string // pending, delivered, failed
	Redeliveries  int    // asked for through the API
	NextAttemptAt time.Time
	CreatedAt     time.Time
	Attempts      []Attempt
}

// Attempt is one try of a delivery, for the delivery log.
type Attempt struct {
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

// Deliveries returns a page of an endpoint's deliveries, newest first, with
// their attempts, and the cursor of the next page ("" after the last);
// status filters when not empty, and a cursor is bound to it (as
// readmodel.Queries.ListRenders' to its filters).
func (w *Store) Deliveries(ctx context.Context, accountID, endpointID, status string, page projections.Page) ([]Delivery, string, error) {
	if _, err := w.Endpoint(ctx, accountID, endpointID); err != nil {
		return nil, "", err
	}
	keyset, err := projections.UnbindCursor("status="+status, page.Cursor, "keep status")
	if err != nil {
		return nil, "", fmt.Errorf("webhook deliveries: %w", err)
	}
	page.Cursor = keyset
	list, next, err := pgread.List(ctx, w.pool, page, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.RenderID, &d.Status, &d.Redeliveries, &d.NextAttemptAt, &d.CreatedAt)
		if d.NextAttemptAt.Equal(time.Unix(0, 0)) || d.Status != "pending" {
			d.NextAttemptAt = time.Time{}
		}
		return d, err
	}, `SELECT id, endpoint_id, event_id::text, event_type, render_id, status, redeliveries, coalesce(next_attempt_at, 'epoch'), created_at
		FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 = '' OR status = $2)`, []any{endpointID, status},
		func(d Delivery) projections.Cursor { return projections.Cursor{CreatedAt: d.CreatedAt, ID: d.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("webhook deliveries: %w", err)
	}
	next = projections.BindCursor("status="+status, next)
	if len(list) == 0 {
		return list, next, nil
	}
	ids := make([]string, len(list))
	byID := make(map[string]*Delivery, len(list))
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
		var a Attempt
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
func (w *Store) Redeliver(ctx context.Context, accountID, deliveryID string, limit int) error {
	tag, err := w.pool.Exec(ctx, `UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(), redeliveries = d.redeliveries + 1
		FROM webhook_endpoints e
		WHERE d.id = $1 AND d.account_id = $2 AND e.id = d.endpoint_id AND e.deleted_at IS NULL AND e.disabled_at IS NULL
			AND d.status IN ('delivered', 'failed') AND d.redeliveries < $3`, deliveryID, accountID, limit)
	if err != nil {
		return fmt.Errorf("redeliver: %w", pgread.LookupError(err))
	}
	if tag.RowsAffected() == 1 {
		_, err = w.pool.Exec(ctx, `SELECT pg_notify($1, '')`, Channel)
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
		return fmt.Errorf("webhook delivery %s: %w", deliveryID, domain.ErrNotFound)
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

// Payload builds the body of a webhook: the event's id, public type
// and time, and the render as the API shows it (without a download URL).
type Payload func(eventID, eventType string, at time.Time, render projections.RenderView) ([]byte, error)

// Projector turns render.completed and render.failed into one
// delivery per subscribed endpoint of the render's account, keyed by the
// event id: a redelivered message (or a replay) creates nothing new.
//
// The payload shows the render as of the event. The projector folds every
// render event it consumes onto the render's view, as the render read
// model folds its row (projections.FoldRenderView), so that a render that
// ends finds its view one fold away; one statement then checks the event
// against the event store and inserts the deliveries. A view it does not
// hold (a render it did not see from its start: a restart, a rebalance, a
// gap) is built from the render's history in the event store instead.
type Projector struct {
	pool    *pgxpool.Pool
	events  projections.EventLoader
	payload Payload
	newID   func() string
	log     *slog.Logger
	views   *foldedViews
	// poke wakes the dispatchers after a commit that added deliveries,
	// through a notifier that coalesces a burst's wake-ups into a few
	// NOTIFYs (postgres.CommitNotifier); nil: a NOTIFY of Channel after
	// each such commit.
	poke func()
}

// deliveriesLag is renderd_projection_lag_seconds of the delivery
// projection.
var deliveriesLag = telemetry.ProjectionLag.WithLabelValues("webhook_deliveries")

// NewProjector returns the delivery projection.
func NewProjector(pool *pgxpool.Pool, events projections.EventLoader, payload Payload, newID func() string, log *slog.Logger) *Projector {
	return &Projector{pool: pool, events: events, payload: payload, newID: newID, log: log.With("projection", "webhook-deliveries"),
		views: newFoldedViews(maxFoldedViews)}
}

// WakeWith makes p wake the dispatchers with poke after each commit that
// added deliveries, instead of a NOTIFY of its own for each (a NOTIFY takes
// Postgres' global notify lock at its commit). It returns p.
func (p *Projector) WakeWith(poke func()) *Projector {
	p.poke = poke
	return p
}

// Handle records the deliveries of one render event. Everything but the
// stream, the version and the event id is checked against the event
// store, the account above all: the Kafka record's attributes (ce_accountid
// among them) only point at the event, so a forged or stale record cannot
// send a render to another account's endpoints. A record the store does
// not hold at that version is unprojectable.
func (p *Projector) Handle(ctx context.Context, rec domain.Recorded) error {
	if rec.StreamType != domain.AggregateRender {
		return nil
	}
	view, folded := p.views.fold(rec)
	typ, ok := webhookType(rec.Event)
	if !ok {
		return nil
	}
	if folded && rec.ID != "" {
		done, err := p.recordFolded(ctx, rec, typ, view)
		if err != nil || done {
			return err
		}
	}
	return p.recordLoaded(ctx, rec)
}

// recordFolded records the deliveries of rec, a render's end, with view,
// the render as of rec, in one statement: it inserts them only when the
// event store holds rec (its id, type, time and account at its stream's
// version), and reports false when it does not, for the caller to look at
// the store's history instead.
func (p *Projector) recordFolded(ctx context.Context, rec domain.Recorded, typ string, view projections.RenderView) (bool, error) {
	body, err := p.payload(rec.ID, typ, rec.OccurredAt, view)
	if err != nil {
		return false, fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	tp, ts := telemetry.Carry(ctx)
	ids := p.ids(foldedIDs)
	for {
		var stored bool
		var endpoints, added int
		err := p.pool.QueryRow(ctx, `
			WITH stored AS (
				SELECT FROM events WHERE stream_id = $5 AND stream_version = $6 AND event_id = $3 AND account_id = $2 AND occurred_at = $10
					AND event_type = $11),
			endpoints AS (
				SELECT e.id, row_number() OVER (ORDER BY e.id) AS n FROM webhook_endpoints e
				WHERE e.account_id = $2 AND e.deleted_at IS NULL AND e.disabled_at IS NULL AND $4 = ANY(e.events) AND EXISTS (SELECT FROM stored)),
			added AS (
				INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, event_type, render_id, render_version,
					payload, status, next_attempt_at, created_at, trace_parent, trace_state)
				SELECT ($1::text[])[e.n], e.id, $2, $3, $4, $5, $6, $7, 'pending', now(), now(), $8, $9
				FROM endpoints e WHERE e.n <= cardinality($1::text[])
				ON CONFLICT (event_id, endpoint_id) DO NOTHING
				RETURNING 1)
			SELECT EXISTS (SELECT FROM stored), (SELECT count(*) FROM endpoints), (SELECT count(*) FROM added)`,
			ids, view.AccountID, rec.ID, typ, rec.StreamID, rec.StreamVersion, body, tp, ts, rec.OccurredAt, storedTypes[typ]).Scan(&stored, &endpoints, &added)
		switch {
		case err != nil:
			return false, fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
		case !stored:
			return false, nil
		case endpoints > len(ids):
			// More endpoints than ids: again with enough (the ones added
			// are not added twice).
			ids = p.ids(endpoints)
			continue
		}
		p.recorded(ctx, rec, typ, endpoints, added > 0)
		return true, nil
	}
}

// webhookType is the webhook type of a render event that has deliveries.
func webhookType(e domain.Event) (string, bool) {
	switch e.(type) {
	case domain.RenderCompleted:
		return RenderCompleted, true
	case domain.RenderFailed:
		return RenderFailed, true
	}
	return "", false
}

// storedTypes is the event store's name of each webhook type's event: the
// record must be the store's event of that type (another version of the
// event, unknown here, is looked at through the store's history).
var storedTypes = map[string]string{RenderCompleted: eventschema.RenderCompletedV1, RenderFailed: eventschema.RenderFailedV1}

// foldedIDs is how many delivery ids recordFolded offers at first: most
// accounts have an endpoint or two.
const foldedIDs = 2

func (p *Projector) ids(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = p.newID()
	}
	return ids
}

// recordLoaded records the deliveries of rec with the render's view built
// from its history in the event store, which must hold rec.
func (p *Projector) recordLoaded(ctx context.Context, rec domain.Recorded) error {
	history, err := p.events.Load(ctx, rec.StreamID)
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	if rec.StreamVersion < 1 || int64(len(history)) < rec.StreamVersion {
		return fmt.Errorf("webhook deliveries of %s: the store holds %d events: %w", rec.ID, len(history), projections.ErrUnprojectable)
	}
	stored := history[rec.StreamVersion-1]
	if stored.ID != rec.ID {
		return fmt.Errorf("webhook deliveries of %s: the store holds event %s at version %d: %w", rec.ID, stored.ID, rec.StreamVersion, projections.ErrUnprojectable)
	}
	typ, ok := webhookType(stored.Event)
	if !ok {
		return fmt.Errorf("webhook deliveries of %s: the store holds %T: %w", rec.ID, stored.Event, projections.ErrUnprojectable)
	}
	view, err := projections.RenderViewOf(history[:rec.StreamVersion])
	if err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w: %w", rec.ID, projections.ErrUnprojectable, err)
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
	// The deliveries carry this projection's trace context: the
	// dispatcher's send, later and maybe in another process, continues it.
	tp, ts := telemetry.Carry(ctx)
	batch := &pgx.Batch{}
	inserted := false
	for _, ep := range endpoints {
		batch.Queue(`INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, event_type, render_id, render_version,
				payload, status, next_attempt_at, created_at, trace_parent, trace_state)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', now(), now(), $9, $10)
			ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
			p.newID(), ep, view.AccountID, stored.ID, typ, stored.StreamID, stored.StreamVersion, body, tp, ts).Exec(func(ct pgconn.CommandTag) error {
			inserted = inserted || ct.RowsAffected() > 0
			return nil
		})
	}
	if err := p.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("webhook deliveries of %s: %w", rec.ID, err)
	}
	p.recorded(ctx, stored, typ, len(endpoints), inserted)
	return nil
}

// recorded wakes the dispatchers and measures the projection's lag once
// deliveries of rec were added (a redelivered message, which adds none, is
// not a measure of it).
func (p *Projector) recorded(ctx context.Context, rec domain.Recorded, typ string, endpoints int, added bool) {
	if added {
		if p.poke != nil {
			p.poke()
		} else if _, err := p.pool.Exec(ctx, `SELECT pg_notify($1, '')`, Channel); err != nil {
			p.log.Warn("waking the webhook dispatchers failed; they poll", "err", err)
		}
		deliveriesLag.Set(max(time.Since(rec.OccurredAt).Seconds(), 0))
	}
	p.log.Debug("webhook deliveries recorded", "render_id", rec.StreamID, "event", typ, "endpoints", endpoints)
}
