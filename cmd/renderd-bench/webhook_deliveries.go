package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/renderd/renderd/adapters/postgres"
	adwebhooks "github.com/renderd/renderd/adapters/webhooks"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/ports/httpapi"
	"github.com/renderd/renderd/webhooks"
)

const (
	webhookBacklog     = 1000 // render.completed events queued at once
	webhookSequence    = 100  // one at a time, for the latency
	webhookPerEndpoint = 4    // attempts in flight to one endpoint
)

// benchWebhooks measures the webhooks role of a real `renderd serve --roles
// webhooks` next to a `--roles relay,projector`: how long a backlog of
// render.completed events, queued before the role starts, takes to reach a
// loopback receiver (against a plain client's POSTs to it), render.completed
// → receiver latency one at a time, and that replaying the events re-sends
// nothing.
func benchWebhooks(ctx context.Context, e *env, _ time.Duration) ([]result, error) {
	acc, err := postgres.NewAccounts(e.pool).Create(ctx, "bench", 6000*60)
	if err != nil {
		return nil, err
	}
	rc, err := newBenchReceiver()
	if err != nil {
		return nil, err
	}
	defer rc.close()
	err = webhooks.NewStore(e.pool, e.sealer).CreateEndpoint(ctx, webhooks.Endpoint{ID: "whe_bench", AccountID: acc.AccountID,
		URL: "http://" + rc.addr + "/hooks", Events: webhooks.EventTypes, Secret: "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		CreatedAt: time.Now()}, 1)
	if err != nil {
		return nil, err
	}
	n := webhookBacklog + webhookSequence
	assets, err := readyAssets(ctx, e, acc.AccountID, n)
	if err != nil {
		return nil, err
	}
	w := newWebhookWorld(e)
	running, err := w.runningRenders(ctx, acc.AccountID, assets)
	if err != nil {
		return nil, err
	}

	// The pipeline (relay, read models) runs throughout; the webhooks role
	// starts only once the backlog is queued, as after its outage or a
	// deploy.
	pipeline, err := startServe(e, "pipeline", "relay,projector")
	if err != nil {
		return nil, err
	}
	defer pipeline.stop()
	// The read models first catch up on the renders' requests and starts.
	if err := w.waitProjected(ctx, running, 2, 3*time.Minute); err != nil {
		return nil, errors.Join(err, pipeline.alive())
	}

	// A backlog: a thousand completions as fast as commands go, relayed to
	// Kafka and shown by the renders read model before the webhooks role
	// starts.
	backlog := running[:webhookBacklog]
	if err := w.completeAll(ctx, backlog); err != nil {
		return nil, err
	}
	if err := w.waitProjected(ctx, backlog, 3, 3*time.Minute); err != nil {
		return nil, errors.Join(err, pipeline.alive())
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", port)
	proc, err := startServe(e, "webhooks", "webhooks", "RENDERD_METRICS_ADDR="+metrics,
		"RENDERD_WEBHOOK_ALLOW=127.0.0.0/8", "RENDERD_WEBHOOK_ALLOW_HTTP=true")
	if err != nil {
		return nil, err
	}
	defer proc.stop()
	// Ready: its consumer group holds its partitions; the backlog is
	// waiting in Kafka.
	if err := waitReady(ctx, "http://"+metrics, proc); err != nil {
		return nil, err
	}
	ready := time.Now()
	if err := rc.waitFor(ctx, backlog, 3*time.Minute); err != nil {
		return nil, errors.Join(err, proc.alive())
	}
	took := rc.lastOf(backlog).Sub(ready)
	rate := float64(len(backlog)) / took.Seconds()
	var created time.Duration
	var attempts int
	_ = e.pool.QueryRow(ctx, `SELECT extract(epoch FROM max(created_at) - $1::timestamptz) * 1e9, max(attempts) FROM webhook_deliveries`, ready).Scan(&created, &attempts)
	e.log.Debug("webhooks backlog", "all_recorded_after", created, "max_attempts", attempts, "last_received_after", took)

	// The baseline: the same receiver taking the same number of signed
	// POSTs from a plain client, as many at once as the dispatcher sends
	// one endpoint (webhooks.DispatcherConfig.PerEndpoint in
	// cmd/renderd/wiring.go).
	plain, err := rc.plainRate(ctx, len(backlog), webhookPerEndpoint)
	if err != nil {
		return nil, err
	}

	// One at a time: completion committed → webhook received.
	var lat []time.Duration
	for _, id := range running[webhookBacklog:] {
		committed, err := w.complete(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := rc.waitFor(ctx, []string{id}, 30*time.Second); err != nil {
			return nil, errors.Join(err, proc.alive())
		}
		lat = append(lat, rc.at(id).Sub(committed))
	}
	slices.Sort(lat)
	p50, p99 := pct(lat, 0.50), pct(lat, 0.99)

	// Replaying every render.completed (a Kafka redelivery, a rebuilt
	// consumer) must send nothing again.
	before := rc.total()
	replayed, err := w.replay(ctx, running)
	if err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second)
	resent := rc.total() - before
	dupes := rc.duplicates()

	return []result{{
		name:     fmt.Sprintf("webhook backlog: %d render.completed queued, then the webhooks role started", len(backlog)),
		value:    fmt.Sprintf("%s, %.0f deliveries/s (role ready → last receipt)", took.Round(time.Millisecond), rate),
		baseline: fmt.Sprintf("%.0f POSTs/s (a plain client, %d at once, to the same receiver)", plain, webhookPerEndpoint),
		ratio:    fmt.Sprintf("%.2f", rate/plain),
		target:   "≤ 2 s (≥ 500 deliveries/s)",
		ok:       took <= 2*time.Second,
	}, {
		name:   fmt.Sprintf("render.completed → receiver, %d one at a time", len(lat)),
		value:  fmt.Sprintf("p50 %s, p99 %s", ms(p50), ms(p99)),
		target: "p50 ≤ 100 ms, p99 ≤ 500 ms",
		ok:     p50 <= 100*time.Millisecond && p99 <= 500*time.Millisecond,
	}, {
		name:   fmt.Sprintf("replay of %d render.completed events", replayed),
		value:  fmt.Sprintf("%d webhooks re-sent, %d ids received twice", resent, dupes),
		target: "0 re-sent",
		ok:     resent == 0 && dupes == 0,
	}}, nil
}

// webhookWorld drives renders through the render commands, as encoders do.
type webhookWorld struct {
	e         *env
	store     *postgres.EventStore
	request   *commands.RequestRenderHandler
	start     *commands.StartRenderHandler
	completeH *commands.CompleteRenderHandler
}

func newWebhookWorld(e *env) *webhookWorld {
	store := postgres.NewEventStore(e.pool, e.codec, nil)
	d := commands.Deps{Store: store, Now: time.Now, NewID: func(p string) string { return p + "_" + uuid.Must(uuid.NewV7()).String() }}
	w := &webhookWorld{e: e, store: store}
	w.request, _ = commands.NewRequestRenderHandler(d, commands.RenderLimits{})
	w.start, _ = commands.NewStartRenderHandler(d, 0)
	w.completeH, _ = commands.NewCompleteRenderHandler(d)
	return w
}

// runningRenders requests one render per asset and starts it.
func (w *webhookWorld) runningRenders(ctx context.Context, account string, assets []string) ([]string, error) {
	ids := make([]string, len(assets))
	err := parallel(ctx, len(assets), func(i int) error {
		res, err := w.request.Handle(ctx, commands.Caller{AccountID: account}, commands.RequestRender{AssetID: assets[i],
			Output: domain.OutputSpec{Format: domain.FormatM4A}})
		if err != nil {
			return err
		}
		ids[i] = res.StreamID
		_, _, err = w.start.Handle(ctx, commands.Caller{}, commands.StartRender{RenderID: res.StreamID, WorkerID: "bench", LeaseUntil: time.Now().Add(time.Hour)})
		return err
	})
	return ids, err
}

func (w *webhookWorld) complete(ctx context.Context, id string) (time.Time, error) {
	_, err := w.completeH.Handle(ctx, commands.Caller{}, commands.CompleteRender{RenderID: id, Result: domain.RenderCompleted{
		Attempt: 1, BlobKey: "renders/" + id + "/attempt-1.m4a", SizeBytes: 480_000, Duration: 30 * time.Second, AudioBitrate: 128_000}})
	at := time.Now()
	if err == nil {
		// Wake the relay, as an encoder's commit notifier does.
		err = postgres.NotifyCommitted(ctx, w.e.pool)
	}
	return at, err
}

func (w *webhookWorld) completeAll(ctx context.Context, ids []string) error {
	return parallel(ctx, len(ids), func(i int) error { _, err := w.complete(ctx, ids[i]); return err })
}

// waitProjected waits until every render's row is at version v or later.
func (w *webhookWorld) waitProjected(ctx context.Context, ids []string, v int64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var n int
		if err := w.e.pool.QueryRow(ctx, `SELECT count(*) FROM rm_renders WHERE id = ANY($1) AND version >= $2`, ids, v).Scan(&n); err != nil {
			return err
		}
		if n == len(ids) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d renders projected after %s", n, len(ids), within)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// replay hands every render.completed to a fresh delivery projection, as a
// redelivered or re-read topic would, and returns how many it handed over.
func (w *webhookWorld) replay(ctx context.Context, ids []string) (int, error) {
	p := webhooks.NewProjector(w.e.pool, w.store, httpapi.WebhookPayload,
		func() string { return "whd_" + uuid.Must(uuid.NewV7()).String() }, w.e.log)
	var n atomic.Int64
	err := parallel(ctx, len(ids), func(i int) error {
		recs, err := w.store.Load(ctx, ids[i])
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if _, ok := rec.Event.(domain.RenderCompleted); ok {
				n.Add(1)
				if err := p.Handle(ctx, rec); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return int(n.Load()), err
}

// parallel runs f(0..n-1) on 16 goroutines and returns the first error.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	var next atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// benchReceiver is a loopback webhook receiver noting when each render's
// webhook first arrived.
type benchReceiver struct {
	srv   *http.Server
	addr  string
	mu    sync.Mutex
	first map[string]time.Time // render id → first receipt
	ids   map[string]int       // webhook-id → receipts
	n     int
	wake  chan struct{}
}

func newBenchReceiver() (*benchReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &benchReceiver{addr: ln.Addr().String(), first: map[string]time.Time{}, ids: map[string]int{}, wake: make(chan struct{}, 1)}
	rc.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == plainPath { // the baseline's POSTs: answered, not counted
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var p struct {
			Data struct{ Render struct{ ID string } }
		}
		_ = json.Unmarshal(body, &p)
		rc.mu.Lock()
		if _, ok := rc.first[p.Data.Render.ID]; !ok {
			rc.first[p.Data.Render.ID] = at
		}
		rc.ids[r.Header.Get("webhook-id")]++
		rc.n++
		rc.mu.Unlock()
		select {
		case rc.wake <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

func (rc *benchReceiver) close() { _ = rc.srv.Close() }

func (rc *benchReceiver) at(id string) time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.first[id]
}

func (rc *benchReceiver) total() int { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.n }

func (rc *benchReceiver) duplicates() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	d := 0
	for _, n := range rc.ids {
		d += n - 1
	}
	return d
}

// lastOf is the latest first receipt among ids.
func (rc *benchReceiver) lastOf(ids []string) time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var last time.Time
	for _, id := range ids {
		if t := rc.first[id]; t.After(last) {
			last = t
		}
	}
	return last
}

// waitFor waits until every id's webhook arrived.
func (rc *benchReceiver) waitFor(ctx context.Context, ids []string, within time.Duration) error {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		rc.mu.Lock()
		missing := 0
		for _, id := range ids {
			if _, ok := rc.first[id]; !ok {
				missing++
			}
		}
		rc.mu.Unlock()
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%d of %d webhooks not received within %s", missing, len(ids), within)
		case <-rc.wake:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// plainPath is where the baseline's POSTs go.
const plainPath = "/plain"

// plainRate sends n signed POSTs of a webhook's size to the receiver, k at
// once over kept-alive connections, and returns POSTs per second: what the
// receiver and the loopback take from a client doing nothing else.
func (rc *benchReceiver) plainRate(ctx context.Context, n, k int) (float64, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: k}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	body := bytes.Repeat([]byte("x"), 1024)
	secret := []string{"whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	var next atomic.Int64
	errs := make(chan error, k)
	start := time.Now()
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for int(next.Add(1)) <= n {
				id := "msg_plain_" + uuid.NewString()
				now := time.Now()
				sig, err := adwebhooks.Sign(secret, id, now, body)
				if err != nil {
					errs <- err
					return
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+rc.addr+plainPath, bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
				req.Header.Set("webhook-signature", sig)
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("plain POSTs: %w", err)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
