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
	inFlight map[string]int       // by endpoint
	waiting  map[string][]claimed // claims waiting for their endpoint's turn, oldest first
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
		log: log.With("component", "webhook-dispatcher"), inFlight: map[string]int{}, waiting: map[string][]claimed{},
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
	// shown: the renders read model shows the state the delivery
	// announces. logged: the claim logged the attempt in flight (only a
	// live endpoint's shown delivery's), the condition of its send: the log
	// shows the attempt even if this sender dies before it finishes.
	shown, logged bool
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
	defer func() {
		sends.Wait()
		d.giveBack(context.WithoutCancel(ctx))
	}()
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

// claimDepth is how many of its shares of senders (PerEndpoint) one
// endpoint may have claimed at once: in flight, or waiting here for a turn.
// A send that ends hands its slot to its endpoint's next claim without a
// round trip to claim it; the claim of a backlog costs one statement per
// several deliveries.
const claimDepth = 4

// dispatch starts the sends its free slots allow, first of the claims
// waiting for their endpoint's turn, then of new claims, each on its own
// goroutine: a slow endpoint holds its own slots only.
func (d *Dispatcher) dispatch(ctx context.Context, sends *sync.WaitGroup) error {
	for {
		for _, c := range d.turns() {
			d.send(ctx, sends, c)
		}
		d.mu.Lock()
		room := cap(d.slots)*claimDepth - d.claimedTotal()
		d.mu.Unlock()
		if room <= 0 || len(d.slots) == cap(d.slots) {
			return nil
		}
		batch, err := d.claim(ctx, room)
		if err != nil || len(batch) == 0 {
			return err
		}
		d.mu.Lock()
		for _, c := range batch {
			d.waiting[c.endpointID] = append(d.waiting[c.endpointID], c)
		}
		d.mu.Unlock()
	}
}

// turns takes, for each endpoint with claims waiting, as many as its free
// share of senders and the free slots allow, oldest claim first.
func (d *Dispatcher) turns() []claimed {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []claimed
	for ep, queue := range d.waiting {
		for len(queue) > 0 && d.inFlight[ep] < d.cfg.PerEndpoint && len(d.slots)+len(out) < cap(d.slots) {
			out = append(out, queue[0])
			queue = queue[1:]
			d.inFlight[ep]++
		}
		if len(queue) == 0 {
			delete(d.waiting, ep)
		} else {
			d.waiting[ep] = queue
		}
	}
	return out
}

// claimedTotal counts the claims in flight or waiting; d.mu is held.
func (d *Dispatcher) claimedTotal() int {
	n := 0
	for _, k := range d.inFlight {
		n += k
	}
	for _, q := range d.waiting {
		n += len(q)
	}
	return n
}

// send makes c's attempt on a goroutine of its own, holding a slot and a
// place in its endpoint's share, counted by turns; then it hands both to
// the endpoint's next waiting claim, if any.
func (d *Dispatcher) send(ctx context.Context, sends *sync.WaitGroup, c claimed) {
	d.slots <- struct{}{}
	sends.Go(func() {
		for {
			d.attemptClaimed(context.WithoutCancel(ctx), c)
			d.mu.Lock()
			queue := d.waiting[c.endpointID]
			next := len(queue) > 0 && ctx.Err() == nil
			if next {
				c = queue[0]
				if d.waiting[c.endpointID] = queue[1:]; len(queue) == 1 {
					delete(d.waiting, c.endpointID)
				}
			} else if d.inFlight[c.endpointID]--; d.inFlight[c.endpointID] == 0 {
				delete(d.inFlight, c.endpointID)
			}
			d.mu.Unlock()
			if !next {
				<-d.slots
				d.nudge()
				return
			}
		}
	})
}

// attemptClaimed attempts c, unless it waited so long for its turn that
// its hold might run out during the send: then it is given back, due now
// (another sender, or this one, claims it again with a fresh hold).
func (d *Dispatcher) attemptClaimed(ctx context.Context, c claimed) {
	if d.now().After(c.heldUntil.Add(-d.cfg.Hold * 8 / 10)) {
		d.putOff(ctx, c, 0)
		return
	}
	d.attempt(ctx, c)
}

// giveBack makes the claims still waiting for a turn due now, for another
// sender: the dispatcher is stopping.
func (d *Dispatcher) giveBack(ctx context.Context) {
	d.mu.Lock()
	var left []claimed
	for _, q := range d.waiting {
		left = append(left, q...)
	}
	clear(d.waiting)
	d.mu.Unlock()
	for _, c := range left {
		d.putOff(ctx, c, 0)
	}
}

// claim takes up to n due deliveries, hiding each for Hold, with their
// endpoints (endpointGone when deleted or disabled since). In the same
// statement it logs each one's attempt in flight, when it is to be sent: its
// endpoint is live and the renders read model shows the state it announces
// (shown). One statement, one commit, for the whole batch: a delivery's
// send then costs only the round trip that records its outcome.
func (d *Dispatcher) claim(ctx context.Context, n int) ([]claimed, error) {
	// A delivery is due again while an attempt of it is still in flight
	// only once that attempt's hold ran out: its sender stopped before
	// recording the outcome. The claim marks such an attempt abandoned.
	// An attempt whose row is already there (it cannot be logged) is not
	// logged, and so not sent.
	//
	// Each endpoint gives at most claimDepth shares of senders less what
	// it has claimed here already, the oldest due first: a backlog for one
	// endpoint never crowds the others out of a claim. The endpoints with pending deliveries
	// are walked on webhook_deliveries_pending_by_endpoint, one index probe
	// each.
	busyIDs, busyN := d.busy()
	rows, err := d.pool.Query(ctx, `
		WITH RECURSIVE endpoints AS (
			(SELECT endpoint_id FROM webhook_deliveries WHERE status = 'pending' ORDER BY endpoint_id LIMIT 1)
			UNION ALL
			SELECT (SELECT w.endpoint_id FROM webhook_deliveries w
				WHERE w.status = 'pending' AND w.endpoint_id > endpoints.endpoint_id ORDER BY w.endpoint_id LIMIT 1)
			FROM endpoints WHERE endpoints.endpoint_id IS NOT NULL),
		due AS (
			SELECT share.id FROM endpoints
			CROSS JOIN LATERAL (
				SELECT w.id, w.next_attempt_at FROM webhook_deliveries w
				WHERE w.endpoint_id = endpoints.endpoint_id AND w.status = 'pending' AND w.next_attempt_at <= now()
				ORDER BY w.next_attempt_at
				LIMIT greatest(0, $5 - coalesce((SELECT b.n FROM unnest($6::text[], $7::int[]) AS b(id, n) WHERE b.id = endpoints.endpoint_id), 0))
				FOR UPDATE SKIP LOCKED) AS share
			WHERE endpoints.endpoint_id IS NOT NULL
			ORDER BY share.next_attempt_at LIMIT $1),
		claimed AS (
			UPDATE webhook_deliveries d SET next_attempt_at = now() + $2::interval, attempts = d.attempts + 1
			FROM due, webhook_endpoints e
			WHERE d.id = due.id AND e.id = d.endpoint_id
			RETURNING d.id, d.endpoint_id, d.event_id::text, d.render_id, d.render_version, d.attempts, d.payload,
				e.deleted_at IS NOT NULL OR e.disabled_at IS NOT NULL AS gone, e.url, e.secret_sealed, e.previous_secret_sealed,
				coalesce(e.previous_secret_until, 'epoch') AS previous_until, e.secret, e.previous_secret,
				coalesce((d.payload->>'created_at')::timestamptz, d.created_at) AS event_at, d.trace_parent, d.trace_state,
				EXISTS (SELECT FROM rm_renders r WHERE r.id = d.render_id AND r.version >= d.render_version) AS shown),
		abandoned AS (
			UPDATE webhook_attempts a SET state = 'abandoned', error = $3
			FROM claimed c WHERE a.delivery_id = c.id AND a.n < c.attempts AND a.state = 'in_flight'),
		logged AS (
			INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error, body, state)
			SELECT c.id, c.attempts, $4, 0, 0, '', NULL, 'in_flight' FROM claimed c WHERE c.shown AND NOT c.gone
			ON CONFLICT DO NOTHING
			RETURNING delivery_id)
		SELECT c.*, c.id IN (SELECT delivery_id FROM logged) FROM claimed c`,
		n, d.cfg.Hold.String(), AttemptAbandonedError, d.now(), d.cfg.PerEndpoint*claimDepth, busyIDs, busyN)
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
			&c.endpointGone, &e.URL, &s.sealed, &s.sealedPrev, &e.PreviousUntil, &s.clear, &s.clearPrev, &c.eventAt, &c.traceParent, &c.traceState,
			&c.shown, &c.logged)
		e.ID = c.endpointID
		if err == nil {
			e.Secret, e.PreviousSecret, c.secretErr = s.open(d.sealer, e.ID, e.PreviousUntil, now)
		}
		return c, err
	})
}

// busy lists the endpoints with claims here, in flight or waiting for a
// turn, and how many.
func (d *Dispatcher) busy() ([]string, []int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := map[string]int{}
	for id, k := range d.inFlight {
		n[id] += k
	}
	for id, q := range d.waiting {
		n[id] += len(q)
	}
	ids := make([]string, 0, len(n))
	ns := make([]int32, 0, len(n))
	for id, k := range n {
		ids, ns = append(ids, id), append(ns, int32(k)) //nolint:gosec // at most Senders × claimDepth
	}
	return ids, ns
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
	if !c.shown {
		d.putOff(ctx, c, d.cfg.ReadModelWait) // not an attempt: nothing was sent
		return
	}
	if !c.logged {
		log.Warn("logging a webhook attempt failed; not sending it")
		d.putOff(ctx, c, time.Second)
		return
	}
	now := d.now()
	sctx, span := startSend(ctx, c)
	res := d.sender.Send(sctx, Message{URL: c.endpoint.URL, ID: c.eventID, Timestamp: now, Body: c.payload, Secrets: c.endpoint.Secrets(now)})
	endSend(span, res)
	var body *string // NULL: not kept
	if res.BodyKept {
		body = &res.Body
	}
	batch := &pgx.Batch{}
	// The attempt's time is its send's, not its claim's.
	batch.Queue(`UPDATE webhook_attempts SET at = $7, status_code = $3, latency_ms = $4, error = $5, body = $6, state = 'finished'
	WHERE delivery_id = $1 AND n = $2`,
		c.id, c.attempt, res.StatusCode, res.Latency.Milliseconds(), res.Error, body, now)
	switch {
	case res.OK():
		batch.Queue(`UPDATE webhook_deliveries SET status = 'delivered', next_attempt_at = NULL WHERE id = $1`, c.id)
		// Only a failing endpoint's row is written: every delivery to an
		// endpoint writing its row would queue them all on its lock.
		batch.Queue(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, c.endpointID)
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
	if c.logged { // logged by the claim, never sent
		b.Queue(`DELETE FROM webhook_attempts WHERE delivery_id = $1 AND n = $2 AND state = 'in_flight'`, c.id, c.attempt)
	}
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
