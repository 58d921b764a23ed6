package webhooks_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/webhooks"
)

// probingSender answers every attempt with answer and records, for each,
// the attempt rows the log held while it was being sent.
type probingSender struct {
	pool   *pgxpool.Pool
	answer webhooks.Result
	seen   [][]string // per send: "n:state" of whd_s's attempts
}

func (p *probingSender) Send(ctx context.Context, m webhooks.Message) webhooks.Result {
	p.seen = append(p.seen, attemptStates(ctx, p.pool))
	return p.answer
}

func attemptStates(ctx context.Context, pool *pgxpool.Pool) []string {
	rows, err := pool.Query(ctx, `SELECT n || ':' || state FROM webhook_attempts WHERE delivery_id = 'whd_s' ORDER BY n`)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		out = append(out, s)
	}
	rows.Close()
	return out
}

// attemptFixture is secretsFixture's due delivery with its render shown in
// the read model, and a dispatcher whose sender answers with answer.
func attemptFixture(t *testing.T, answer webhooks.Result) (*webhooks.Store, *webhooks.Dispatcher, *probingSender, *pgxpool.Pool) {
	t.Helper()
	w, _, pool := secretsFixture(t)
	_, err := pool.Exec(t.Context(), `INSERT INTO rm_renders (id, account_id, asset_id, state, output, plan, version, created_at, updated_at)
		VALUES ('rnd_1', 'acc_a', 'ast_1', 'completed', '{}', '{}', 1, now(), now())`)
	if err != nil {
		t.Fatal(err)
	}
	sender := &probingSender{pool: pool, answer: answer}
	retry := func(failed int, _ time.Duration) (time.Duration, bool) { return time.Minute, failed < 5 }
	d, err := webhooks.NewDispatcher(pool, nil, testSealer(t), sender, retry,
		webhooks.DispatcherConfig{Senders: 1, PerEndpoint: 1, Poll: time.Second, Hold: time.Minute, DisableAfter: time.Hour, ReadModelWait: time.Second},
		time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return w, d, sender, pool
}

func attemptsOf(t *testing.T, w *webhooks.Store) []webhooks.Attempt {
	t.Helper()
	list, _, err := w.Deliveries(t.Context(), "acc_a", "whe_s", "", projections.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("deliveries: %v, %v", list, err)
	}
	return list[0].Attempts
}

func TestWebhookAttempts_an_attempt_is_logged_in_flight_before_it_is_sent_and_finished_after(t *testing.T) {
	answer := webhooks.Result{StatusCode: 503, Latency: 42 * time.Millisecond}
	w, d, sender, _ := attemptFixture(t, answer)
	if n, err := webhooks.ClaimAndAttempt(t.Context(), d, 10); err != nil || n != 1 {
		t.Fatalf("claimed %d (%v), want 1", n, err)
	}
	if len(sender.seen) != 1 || len(sender.seen[0]) != 1 || sender.seen[0][0] != "1:in_flight" {
		t.Fatalf("the log while sending: %v, want attempt 1 in flight", sender.seen)
	}
	got := attemptsOf(t, w)
	if len(got) != 1 || got[0].N != 1 || got[0].State != webhooks.AttemptFinished || got[0].StatusCode != 503 ||
		got[0].Latency != 42*time.Millisecond || got[0].At.IsZero() {
		t.Fatalf("attempts after sending: %+v, want attempt 1 finished with 503 in 42ms", got)
	}
}

func TestWebhookAttempts_a_claim_marks_the_attempt_its_sender_left_unfinished_abandoned(t *testing.T) {
	w, d, _, pool := attemptFixture(t, webhooks.Result{StatusCode: 200})
	// Attempt 1's sender died mid-send and its hold ran out.
	_, err := pool.Exec(t.Context(), `INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error, body, state)
		VALUES ('whd_s', 1, now() - interval '2 minutes', 0, 0, '', NULL, 'in_flight');
		UPDATE webhook_deliveries SET attempts = 1, next_attempt_at = now() WHERE id = 'whd_s'`)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := webhooks.ClaimAndAttempt(t.Context(), d, 10); err != nil || n != 1 {
		t.Fatalf("claimed %d (%v), want 1", n, err)
	}
	got := attemptsOf(t, w)
	if len(got) != 2 {
		t.Fatalf("attempts %+v, want two", got)
	}
	if got[0].State != webhooks.AttemptAbandoned || got[0].Error != webhooks.AttemptAbandonedError || got[0].StatusCode != 0 {
		t.Errorf("attempt 1: %+v, want abandoned", got[0])
	}
	if got[1].N != 2 || got[1].State != webhooks.AttemptFinished || got[1].StatusCode != 200 {
		t.Errorf("attempt 2: %+v, want finished with 200", got[1])
	}
}

func TestWebhookAttempts_an_attempt_that_cannot_be_logged_is_not_sent(t *testing.T) {
	w, d, sender, pool := attemptFixture(t, webhooks.Result{StatusCode: 200})
	// A row in attempt 1's place makes logging it fail.
	_, err := pool.Exec(t.Context(), `INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error, body, state)
		VALUES ('whd_s', 1, now(), 500, 7, '', NULL, 'finished')`)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := webhooks.ClaimAndAttempt(t.Context(), d, 10); err != nil || n != 1 {
		t.Fatalf("claimed %d (%v), want 1", n, err)
	}
	if len(sender.seen) != 0 {
		t.Fatalf("sent %d times, want nothing sent", len(sender.seen))
	}
	var attempts int
	var status string
	if err := pool.QueryRow(t.Context(), `SELECT attempts, status FROM webhook_deliveries WHERE id = 'whd_s'`).Scan(&attempts, &status); err != nil {
		t.Fatal(err)
	}
	if attempts != 0 || status != "pending" {
		t.Errorf("delivery after the unlogged attempt: attempts %d, %s; want 0, pending (put off, not counted)", attempts, status)
	}
	if got := attemptsOf(t, w); len(got) != 1 || got[0].StatusCode != 500 {
		t.Errorf("attempts %+v, want the existing row untouched", got)
	}
}

// cuttingSender cuts the database's connections while it sends, and gives
// them back restoreAfter later: the outcome of the attempt meets the outage.
type cuttingSender struct {
	proxy        *testenv.FaultProxy
	restoreAfter time.Duration
	sent         int
}

func (c *cuttingSender) Send(context.Context, webhooks.Message) webhooks.Result {
	c.sent++
	c.proxy.Cut()
	time.AfterFunc(c.restoreAfter, c.proxy.Restore)
	return webhooks.Result{StatusCode: 200, Latency: time.Millisecond}
}

func TestWebhookAttempts_an_outcome_that_meets_an_outage_is_recorded_once_the_database_is_back(t *testing.T) {
	w, _, pool := secretsFixture(t)
	_, err := pool.Exec(t.Context(), `INSERT INTO rm_renders (id, account_id, asset_id, state, output, plan, version, created_at, updated_at)
		VALUES ('rnd_1', 'acc_a', 'ast_1', 'completed', '{}', '{}', 1, now(), now())`)
	if err != nil {
		t.Fatal(err)
	}
	proxy, dsn := testenv.ProxyPostgres(t, pool.Config().ConnString())
	through, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(through.Close)
	sender := &cuttingSender{proxy: proxy, restoreAfter: 300 * time.Millisecond}
	retry := func(failed int, _ time.Duration) (time.Duration, bool) { return time.Minute, failed < 5 }
	d, err := webhooks.NewDispatcher(through, nil, testSealer(t), sender, retry,
		webhooks.DispatcherConfig{Senders: 1, PerEndpoint: 1, Poll: time.Second, Hold: time.Minute, DisableAfter: time.Hour, ReadModelWait: time.Second},
		time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := webhooks.ClaimAndAttempt(t.Context(), d, 10); err != nil || n != 1 {
		t.Fatalf("claimed %d (%v), want 1", n, err)
	}
	// Recorded, not left pending until the hold (a minute) runs out and
	// then sent again.
	var status string
	if err := pool.QueryRow(t.Context(), `SELECT status FROM webhook_deliveries WHERE id = 'whd_s'`).Scan(&status); err != nil {
		t.Fatal(err)
	}
	got := attemptsOf(t, w)
	if status != "delivered" || len(got) != 1 || got[0].State != webhooks.AttemptFinished || got[0].StatusCode != 200 || sender.sent != 1 {
		t.Fatalf("after the outage: delivery %s, attempts %+v, sent %d; want delivered, attempt 1 finished with 200, sent once", status, got, sender.sent)
	}
}
