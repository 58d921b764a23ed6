package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/telemetry"
)

// RetrySchedule gives the delay before the next attempt after failed
// attempts (the receiver's Retry-After as a floor), or false once the
// delivery has had its last attempt.
type RetrySchedule func(failed int, retryAfter time.Duration) (time.Duration, bool)

// DispatcherConfig tunes a Dispatcher.
type DispatcherConfig struct {
	Senders     int           // attempts in flight at once
	PerEndpoint int           // of which at most this many to one endpoint
	Poll        time.Duration // how often due deliveries are looked for without a notification
	// Hold is how long a claimed attempt stays invisible to other senders:
	// longer than a send's timeout, so that only a sender that died mid-
	// attempt ever lets another one send it again.
	Hold time.Duration
	// DisableAfter disables an endpoint that failed every attempt for this
	// long.
	DisableAfter time.Duration
	// ReadModelWait is how long an attempt is put off while the renders
	// read model does not yet show the state it announces.
	ReadModelWait time.Duration
}

// Dispatcher sends due deliveries: at least once, retried on the
// schedule, each attempt logged, only once the renders read model shows the
// announced state (a receiver that fetches the render never sees an older
// one). Several dispatchers share the table: a delivery is claimed with
// FOR UPDATE SKIP LOCKED and held for Hold, so no attempt goes out twice
// unless its sender died while sending it.
type Dispatcher struct {
	pool     *pgxpool.Pool
	connect  func(context.Context) (*pgx.Conn, error)
	sealer   SecretSealer
	sender   Sender
	schedule RetrySchedule
	cfg      DispatcherConfig
	now      func() time.Time
	log      *slog.Logger

	mu       sync.Mutex
	inFlight map[string]int // by endpoint
	slots    chan struct{}
	wake     chan struct{}
}

// NewDispatcher returns a dispatcher; connect opens its LISTEN
// connection, sealer opens the endpoints' secrets.
func NewDispatcher(pool *pgxpool.Pool, connect func(context.Context) (*pgx.Conn, error), sealer SecretSealer, sender Sender,
	schedule RetrySchedule, cfg DispatcherConfig, now func() time.Time, log *slog.Logger) (*Dispatcher, error) {
	if sealer == nil {
		return nil, errors.New("webhook dispatcher: no secret sealer")
	}
	if cfg.Senders < 1 || cfg.PerEndpoint < 1 || cfg.Poll <= 0 || cfg.Hold <= 0 || cfg.DisableAfter <= 0 || cfg.ReadModelWait <= 0 {
		return nil, fmt.Errorf("webhook dispatcher: invalid config %+v", cfg)
	}
	return &Dispatcher{pool: pool, connect: connect, sealer: sealer, sender: sender, schedule: schedule, cfg: cfg, now: now,
		log: log.With("component", "webhook-dispatcher"), inFlight: map[string]int{},
		slots: make(chan struct{}, cfg.Senders), wake: make(chan struct{}, 1)}, nil
}

// claimed is a delivery taken for one attempt.
type claimed struct {
	id, endpointID, eventID, renderID string
	renderVersion                     int64
	attempt                           int
	payload                           []byte
	endpoint                          Endpoint
	endpointGone                      bool
	eventAt                           time.Time // the event's commit, the start of its delivery latency
	secretErr                         error     // the endpoint's secrets did not open
	// heldUntil is a little before the claim's hold runs out: the last
	// moment to record the attempt before another sender may take the
	// delivery again.
	heldUntil time.Time
	// traceParent and traceState are the delivery projection's trace
	// context: the send continues it.
	traceParent, traceState string
}

// Run sends deliveries until ctx ends; attempts in flight finish first.
func (d *Dispatcher) Run(ctx context.Context) error {
	var sends sync.WaitGroup
	defer sends.Wait()
	var listener sync.WaitGroup
	defer listener.Wait()
	listener.Go(func() { d.listen(ctx) })
	timer := time.NewTimer(d.cfg.Poll)
	defer timer.Stop()
	for {
		if err := d.dispatch(ctx, &sends); err != nil && ctx.Err() == nil {
			d.log.Warn("claiming webhook deliveries failed", "err", err)
		}
		// Sleep until the next delivery is due (a retry, a put-off
		// attempt), a notification, or the poll, whichever comes first.
		timer.Reset(d.untilNextDue(ctx))
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// untilNextDue is how long until the earliest pending delivery is due,
// at most Poll.
func (d *Dispatcher) untilNextDue(ctx context.Context) time.Duration {
	var next *time.Time
	err := d.pool.QueryRow(ctx, `SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&next)
	if err != nil || next == nil {
		return d.cfg.Poll
	}
	return min(max(time.Until(*next), time.Millisecond), d.cfg.Poll)
}

// listen turns notifications into wake-ups, reconnecting as needed.
func (d *Dispatcher) listen(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := d.connect(ctx)
		if err == nil {
			if _, err = conn.Exec(ctx, `LISTEN `+Channel); err == nil {
				d.nudge()
				for err == nil {
					_, err = conn.WaitForNotification(ctx)
					d.nudge()
				}
			}
			_ = conn.Close(context.WithoutCancel(ctx))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *Dispatcher) nudge() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// dispatch claims as many due deliveries as there are free slots and sends
// each on its own goroutine: a slow endpoint holds its own slots only.
func (d *Dispatcher) dispatch(ctx context.Context, sends *sync.WaitGroup) error {
	for {
		free := cap(d.slots) - len(d.slots)
		if free == 0 {
			return nil
		}
		batch, err := d.claim(ctx, free)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, c := range batch {
			d.mu.Lock()
			busy := d.inFlight[c.endpointID] >= d.cfg.PerEndpoint
			if !busy {
				d.inFlight[c.endpointID]++
			}
			d.mu.Unlock()
			if busy {
				d.putOff(ctx, c, 100*time.Millisecond) // the endpoint has its share in flight
				continue
			}
			d.slots <- struct{}{}
			sends.Go(func() {
				defer func() {
					<-d.slots
					d.mu.Lock()
					d.inFlight[c.endpointID]--
					d.mu.Unlock()
					d.nudge()
				}()
				d.attempt(context.WithoutCancel(ctx), c)
			})
		}
	}
}

// claim takes up to n due deliveries, hiding each for Hold, with their
// endpoints (endpointGone when deleted or disabled since).
func (d *Dispatcher) claim(ctx context.Context, n int) ([]claimed, error) {
	// A delivery is due again while an attempt of it is still in flight
	// only once that attempt's hold ran out: its sender stopped before
	// recording the outcome. The claim marks such an attempt abandoned.
	rows, err := d.pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= now()
			ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED),
		claimed AS (
			UPDATE webhook_deliveries d SET next_attempt_at = now() + $2::interval, attempts = d.attempts + 1
			FROM due, webhook_endpoints e
			WHERE d.id = due.id AND e.id = d.endpoint_id
			RETURNING d.id, d.endpoint_id, d.event_id::text, d.render_id, d.render_version, d.attempts, d.payload,
				e.deleted_at IS NOT NULL OR e.disabled_at IS NOT NULL AS gone, e.url, e.secret_sealed, e.previous_secret_sealed,
				coalesce(e.previous_secret_until, 'epoch') AS previous_until, e.secret, e.previous_secret,
				coalesce((d.payload->>'created_at')::timestamptz, d.created_at) AS event_at, d.trace_parent, d.trace_state),
		abandoned AS (
			UPDATE webhook_attempts a SET state = 'abandoned', error = $3
			FROM claimed c WHERE a.delivery_id = c.id AND a.n < c.attempts AND a.state = 'in_flight')
		SELECT * FROM claimed`, n, d.cfg.Hold.String(), AttemptAbandonedError)
	if err != nil {
		return nil, err
	}
	now := d.now()
	heldUntil := now.Add(d.cfg.Hold * 9 / 10)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		c := claimed{heldUntil: heldUntil}
		var s storedSecrets
		e := &c.endpoint
		err := row.Scan(&c.id, &c.endpointID, &c.eventID, &c.renderID, &c.renderVersion, &c.attempt, &c.payload,
			&c.endpointGone, &e.URL, &s.sealed, &s.sealedPrev, &e.PreviousUntil, &s.clear, &s.clearPrev, &c.eventAt, &c.traceParent, &c.traceState)
		e.ID = c.endpointID
		if err == nil {
			e.Secret, e.PreviousSecret, c.secretErr = s.open(d.sealer, e.ID, e.PreviousUntil, now)
		}
		return c, err
	})
}

// attempt sends one claimed delivery and records what happened.
func (d *Dispatcher) attempt(ctx context.Context, c claimed) {
	log := d.log.With("delivery_id", c.id, "endpoint_id", c.endpointID, "render_id", c.renderID, "attempt", c.attempt)
	if c.endpointGone {
		gone := &pgx.Batch{}
		gone.Queue(`UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, attempts = attempts - 1 WHERE id = $1`, c.id)
		d.record(ctx, log, c, gone)
		deliveriesAbandoned.Inc()
		return
	}
	if c.secretErr != nil {
		// An operator's mistake (a key left out of RENDERD_SECRETS_KEY):
		// nothing is sent unsigned; the delivery waits for the key.
		log.Error("cannot sign a webhook: its secret does not open with RENDERD_SECRETS_KEY", "error", c.secretErr)
		d.putOff(ctx, c, time.Minute)
		return
	}
	var shown bool
	err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM rm_renders WHERE id = $1 AND version >= $2)`, c.renderID, c.renderVersion).Scan(&shown)
	if err != nil || !shown {
		d.putOff(ctx, c, d.cfg.ReadModelWait) // not an attempt: nothing was sent
		return
	}
	now := d.now()
	// Logged before it is sent, so that the log shows the attempt even if
	// this sender dies before it finishes. An attempt that cannot be logged
	// is not sent.
	if _, err := d.pool.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error, body, state)
		VALUES ($1, $2, $3, 0, 0, '', NULL, 'in_flight')`, c.id, c.attempt, now); err != nil {
		log.Warn("logging a webhook attempt failed; not sending it", "err", err)
		d.putOff(ctx, c, time.Second)
		return
	}
	sctx, span := startSend(ctx, c)
	res := d.sender.Send(sctx, Message{URL: c.endpoint.URL, ID: c.eventID, Timestamp: now, Body: c.payload, Secrets: c.endpoint.Secrets(now)})
	endSend(span, res)
	var body *string // NULL: not kept
	if res.BodyKept {
		body = &res.Body
	}
	batch := &pgx.Batch{}
	batch.Queue(`UPDATE webhook_attempts SET status_code = $3, latency_ms = $4, error = $5, body = $6, state = 'finished'
	WHERE delivery_id = $1 AND n = $2`,
		c.id, c.attempt, res.StatusCode, res.Latency.Milliseconds(), res.Error, body)
	switch {
	case res.OK():
		batch.Queue(`UPDATE webhook_deliveries SET status = 'delivered', next_attempt_at = NULL WHERE id = $1`, c.id)
		batch.Queue(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1`, c.endpointID)
		log.Info("webhook delivered", "status", res.StatusCode, "latency", res.Latency)
		deliveriesDelivered.Inc()
		telemetry.WebhookLatency.Observe(max(d.now().Sub(c.eventAt).Seconds(), 0))
	case res.Gone():
		batch.Queue(`UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE id = $1`, c.id)
		batch.Queue(`UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = 'the receiver answered 410 Gone' WHERE id = $1`, c.endpointID)
		log.Warn("webhook endpoint disabled: 410 Gone")
		deliveriesAbandoned.Inc() // the receiver's own wish, not a failing endpoint: not counted as disabled
	default:
		if delay, ok := d.schedule(c.attempt, res.RetryAfter); ok {
			batch.Queue(`UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id = $1`, c.id, now.Add(delay))
			log.Info("webhook attempt failed; retrying", "status", res.StatusCode, "error", res.Error, "in", delay.Round(time.Millisecond))
			deliveriesFailed.Inc()
		} else {
			batch.Queue(`UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE id = $1`, c.id)
			log.Warn("webhook delivery failed after its last attempt", "status", res.StatusCode, "error", res.Error)
			deliveriesAbandoned.Inc()
		}
		batch.Queue(`UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2) WHERE id = $1`, c.endpointID, now)
		batch.Queue(`UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = 'every delivery failed for too long'
		WHERE id = $1 AND disabled_at IS NULL AND failing_since < $2`, c.endpointID, now.Add(-d.cfg.DisableAfter)).Exec(countDisabled)
	}
	d.record(ctx, log, c, batch)
}

// The delivery outcomes, bound once. An outcome is counted when the
// attempt's end is decided, before it is recorded: an attempt whose record
// is lost goes out again and counts again (at least once, as it is sent).
var (
	deliveriesDelivered = telemetry.WebhookDeliveries.WithLabelValues(telemetry.DeliveryDelivered)
	deliveriesFailed    = telemetry.WebhookDeliveries.WithLabelValues(telemetry.DeliveryFailed)
	deliveriesAbandoned = telemetry.WebhookDeliveries.WithLabelValues(telemetry.DeliveryAbandoned)
)

// countDisabled counts the endpoint the disabling statement disabled:
// only the attempt whose statement changed the row, of the senders that
// raced to it (the statement keeps an endpoint disabled once).
func countDisabled(ct pgconn.CommandTag) error {
	if ct.RowsAffected() > 0 {
		telemetry.WebhookEndpointsDisabled.Inc()
	}
	return nil
}

// putOff gives a claimed delivery back, due after wait, without counting an
// attempt.
func (d *Dispatcher) putOff(ctx context.Context, c claimed, wait time.Duration) {
	b := &pgx.Batch{}
	b.Queue(`UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = $2 WHERE id = $1`, c.id, d.now().Add(wait))
	d.record(ctx, d.log, c, b)
}

// Retries of a record that failed: the first soon, then doubling up to
// the longest, so that an outcome lands within about half a second of the
// database's return.
const (
	recordRetryMin = 100 * time.Millisecond
	recordRetryMax = 500 * time.Millisecond
)

// record writes what became of claim c, one batch (one implicit
// transaction), and retries it while the database cannot take it, as long
// as c is still held: a delivered webhook whose outcome is lost would stay
// pending until the hold runs out and then go out again. Past the hold, it
// gives up: another sender may have the delivery by then, and its claim
// marks this attempt abandoned (at least once).
func (d *Dispatcher) record(ctx context.Context, log *slog.Logger, c claimed, batch *pgx.Batch) {
	wait := recordRetryMin
	for failed := false; ; failed = true {
		send := &pgx.Batch{} // a batch is sent once: each try queues its statements afresh
		for _, q := range batch.QueuedQueries {
			send.Queue(q.SQL, q.Arguments...).Fn = q.Fn // with its result's callback, if any
		}
		err := d.pool.SendBatch(ctx, send).Close()
		if err == nil {
			if failed {
				log.Info("recorded the webhook attempt once the database answered")
			}
			return
		}
		if ctx.Err() != nil || d.now().Add(wait).After(c.heldUntil) {
			log.Warn("recording a webhook attempt failed; it goes out again once its hold runs out", "err", err)
			return
		}
		if !failed {
			log.Warn("recording a webhook attempt failed; retrying while the delivery is held", "err", err)
		}
		time.Sleep(wait)
		wait = min(wait*2, recordRetryMax)
	}
}
