package webhooks_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/webhooks"
)

// turnsFixture stores endpoints whe_a and whe_b of acc_a, a deliveries of
// whe_a due first (the oldest a minute ago) and b of whe_b due after them,
// each of a render the read model shows, and returns a dispatcher with
// cfg's senders whose clock is now.
func turnsFixture(t *testing.T, a, b int, cfg webhooks.DispatcherConfig, sender webhooks.Sender, now func() time.Time) (*webhooks.Dispatcher, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.Postgres(t)
	sealer := testSealer(t)
	w := webhooks.NewStore(pool, sealer)
	ctx := t.Context()
	for _, ep := range []string{"whe_a", "whe_b"} {
		err := w.CreateEndpoint(ctx, webhooks.Endpoint{ID: ep, AccountID: "acc_a", URL: "https://example.com/" + ep, URLKey: "https://example.com/" + ep,
			Events: webhooks.EventTypes, Secret: secretA, CreatedAt: time.Now()}, 20)
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := pool.Exec(ctx, `INSERT INTO rm_renders (id, account_id, asset_id, state, output, plan, version, created_at, updated_at)
		VALUES ('rnd_1', 'acc_a', 'ast_1', 'completed', '{}', '{}', 1, now(), now())`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, event_type, render_id, render_version,
			payload, status, created_at, next_attempt_at)
		SELECT 'whd_' || i, CASE WHEN i <= $1::int THEN 'whe_a' ELSE 'whe_b' END, 'acc_a', gen_random_uuid(), 'render.completed', 'rnd_1', 1,
			'{}', 'pending', now(), now() - interval '1 minute' + i * interval '1 millisecond'
		FROM generate_series(1, $1::int + $2::int) AS i`, a, b)
	if err != nil {
		t.Fatal(err)
	}
	connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, pool.Config().ConnString()) }
	retry := func(failed int, _ time.Duration) (time.Duration, bool) { return time.Minute, failed < 5 }
	d, err := webhooks.NewDispatcher(pool, connect, sealer, sender, retry, cfg, now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return d, pool
}

func TestWebhookDispatcher_a_claim_takes_a_share_of_each_endpoint_however_long_a_backlog(t *testing.T) {
	cfg := webhooks.DispatcherConfig{Senders: 8, PerEndpoint: 2, Poll: time.Second, Hold: time.Minute, DisableAfter: time.Hour, ReadModelWait: time.Second}
	d, _ := turnsFixture(t, 40, 1, cfg, nil, time.Now)
	eps, err := webhooks.ClaimEndpoints(t.Context(), d, 100)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ep := range eps {
		count[ep]++
	}
	// At most its claim depth of shares (4 × PerEndpoint) of whe_a's 40,
	// and whe_b's one although 40 older ones are due.
	if count["whe_a"] != 8 || count["whe_b"] != 1 {
		t.Errorf("claimed %v, want whe_a 8 and whe_b 1", count)
	}
}

// concurrencySender answers 200 after a pause, counting the sends in
// flight to each endpoint and the most there ever were.
type concurrencySender struct {
	mu       sync.Mutex
	inFlight map[string]int
	most     map[string]int
	sent     atomic.Int64
}

func (c *concurrencySender) Send(_ context.Context, m webhooks.Message) webhooks.Result {
	c.mu.Lock()
	c.inFlight[m.URL]++
	c.most[m.URL] = max(c.most[m.URL], c.inFlight[m.URL])
	c.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	c.mu.Lock()
	c.inFlight[m.URL]--
	c.mu.Unlock()
	c.sent.Add(1)
	return webhooks.Result{StatusCode: 200, Latency: 5 * time.Millisecond}
}

func TestWebhookDispatcher_sends_a_backlog_in_turns_each_delivery_once_within_its_endpoints_share(t *testing.T) {
	cfg := webhooks.DispatcherConfig{Senders: 8, PerEndpoint: 2, Poll: time.Second, Hold: time.Minute, DisableAfter: time.Hour, ReadModelWait: time.Second}
	sender := &concurrencySender{inFlight: map[string]int{}, most: map[string]int{}}
	d, pool := turnsFixture(t, 60, 20, cfg, sender, time.Now)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	testenv.Eventually(t, 30*time.Second, "every delivery delivered", func() bool {
		var pending int
		_ = pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'`).Scan(&pending)
		return pending == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := sender.sent.Load(); n != 80 {
		t.Errorf("%d sends, want 80: each delivery once", n)
	}
	var attempts, rows int
	err := pool.QueryRow(t.Context(), `SELECT (SELECT sum(attempts) FROM webhook_deliveries),
		(SELECT count(*) FROM webhook_attempts WHERE state = 'finished' AND status_code = 200)`).Scan(&attempts, &rows)
	if err != nil || attempts != 80 || rows != 80 {
		t.Errorf("%d attempts counted, %d logged finished (%v); want 80 and 80: none put off and counted again", attempts, rows, err)
	}
	for ep, n := range sender.most {
		if n > cfg.PerEndpoint {
			t.Errorf("%s had %d sends in flight at once, more than its share of %d", ep, n, cfg.PerEndpoint)
		}
	}
}

func TestWebhookDispatcher_a_claim_that_waited_too_long_for_its_turn_is_given_back_unsent(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	cfg := webhooks.DispatcherConfig{Senders: 1, PerEndpoint: 1, Poll: time.Second, Hold: time.Minute, DisableAfter: time.Hour, ReadModelWait: time.Second}
	sender := &concurrencySender{inFlight: map[string]int{}, most: map[string]int{}}
	d, pool := turnsFixture(t, 2, 0, cfg, sender, now)
	// A turn after a fifth of the hold: the send might outlast the claim.
	n, err := webhooks.ClaimAndAttemptLate(t.Context(), d, 10, func() { clock.Add(int64(cfg.Hold / 5)) })
	if err != nil || n != 2 {
		t.Fatalf("claimed %d (%v), want 2", n, err)
	}
	if s := sender.sent.Load(); s != 0 {
		t.Errorf("%d sent, want none", s)
	}
	var due, attempts, logged int
	err = pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= $1), sum(attempts),
		(SELECT count(*) FROM webhook_attempts) FROM webhook_deliveries`, now()).Scan(&due, &attempts, &logged)
	if err != nil || due != 2 || attempts != 0 || logged != 0 {
		t.Errorf("after the late turns: %d due, %d attempts counted, %d logged (%v); want 2 due by the dispatcher's clock, none counted or logged", due, attempts, logged, err)
	}
}

// blockingSender holds every send until released.
type blockingSender struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingSender) Send(context.Context, webhooks.Message) webhooks.Result {
	b.started <- struct{}{}
	<-b.release
	return webhooks.Result{StatusCode: 200}
}

func TestWebhookDispatcher_a_stopping_dispatcher_gives_back_the_claims_waiting_for_a_turn(t *testing.T) {
	cfg := webhooks.DispatcherConfig{Senders: 4, PerEndpoint: 1, Poll: time.Second, Hold: time.Minute, DisableAfter: time.Hour, ReadModelWait: time.Second}
	sender := &blockingSender{started: make(chan struct{}, 10), release: make(chan struct{})}
	d, pool := turnsFixture(t, 10, 0, cfg, sender, time.Now)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-sender.started // one in flight; three more claimed, waiting for whe_a's turn
	testenv.Eventually(t, 10*time.Second, "whe_a's claims", func() bool {
		var claimed int
		_ = pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_deliveries WHERE attempts = 1`).Scan(&claimed)
		return claimed == 4
	})
	cancel()
	close(sender.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var delivered, due, held int
	err := pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE status = 'delivered'),
		count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()),
		count(*) FILTER (WHERE status = 'pending' AND next_attempt_at > now()) FROM webhook_deliveries`).Scan(&delivered, &due, &held)
	if err != nil || delivered != 1 || due != 9 || held != 0 {
		t.Errorf("after the stop: %d delivered, %d due now, %d still held (%v); want 1, 9, 0", delivered, due, held, err)
	}
}
