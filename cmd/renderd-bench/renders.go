package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

var renderdBin = flag.String("renderd", "bin/renderd", "the renderd binary the renders benchmark starts")

const (
	renderClients = 32
	renderAssets  = 1000 // × renderOutputs distinct signatures for the POSTs
	visibleProbes = 300  // sequential POST → GET probes
)

// renderOutputs are the outputs valid for a 1920×1080, 8 Mb/s video source,
// each a distinct render signature: mp4/mov × resolution {omitted, 720p,
// 1080p} × video {omitted, 5} × audio {omitted, 128, 192, 256, 320}.
var renderOutputs = func() []map[string]any {
	var out []map[string]any
	for _, f := range []string{"mp4", "mov"} {
		for _, res := range []string{"", "720p", "1080p"} {
			for _, vb := range []int{0, 5} {
				for _, ab := range []int{0, 128, 192, 256, 320} {
					o := map[string]any{"format": f}
					if res != "" {
						o["resolution"] = res
					}
					if vb != 0 {
						o["video_bitrate"] = vb
					}
					if ab != 0 {
						o["audio_bitrate"] = ab
					}
					out = append(out, o)
				}
			}
		}
	}
	return out
}()

// benchRenders measures the renders API of a real `renderd serve` (roles
// api, relay, projector) over HTTP: POST /v1/renders with new signatures,
// GET /v1/renders/{id}, and POST → visible in GET, against a baseline in
// the same run: a net/http handler doing one primary-key lookup via pgx.
func benchRenders(ctx context.Context, e *env, d time.Duration) ([]result, error) {
	dsn := e.pool.Config().ConnString()
	acc, err := postgres.NewAccounts(e.pool).Create(ctx, "bench", 600*60)
	if err != nil {
		return nil, err
	}
	assets, err := readyAssets(ctx, e, acc.AccountID, renderAssets)
	if err != nil {
		return nil, fmt.Errorf("ready assets: %w", err)
	}

	e.log.Debug("renders: ready assets created", "n", len(assets))
	base, stop, err := startRenderd(ctx, e)
	defer stop()
	if err != nil {
		return nil, err
	}
	hc := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute},
	}
	api := &renderAPI{hc: hc, base: base, key: acc.APIKey, assets: assets}

	// The first write must be projected: consumer groups take a few seconds
	// to join, and the read-your-writes wait gives up after 2 s.
	if err := api.waitProjected(ctx, 90*time.Second); err != nil {
		return nil, err
	}
	// Measure the steady state: the projector first catches up on the
	// assets' own events, which would otherwise share the CPU with the POSTs.
	if err := assetsProjected(ctx, e, acc.AccountID, len(assets), 2*time.Minute); err != nil {
		return nil, err
	}

	e.log.Debug("renders: first write projected")
	var (
		idsMu sync.Mutex
		ids   []string
	)
	run := d / 3
	post, err := load(ctx, run, func(ctx context.Context) (bool, error) {
		id, status, err := api.post(ctx)
		if err != nil || status != http.StatusCreated {
			return false, err
		}
		idsMu.Lock()
		ids = append(ids, id)
		idsMu.Unlock()
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("POST: %w", err)
	}
	post.rywTimeouts = api.rywTimeouts.Load()
	if len(ids) == 0 {
		return nil, errors.New("POST: no render created")
	}
	e.log.Debug("renders: POST done", "result", post.String())
	get, err := load(ctx, run, func(ctx context.Context) (bool, error) {
		status, err := api.get(ctx, api.base+"/v1/renders/"+ids[rand.IntN(len(ids))], true)
		return status == http.StatusOK, err
	})
	if err != nil {
		return nil, fmt.Errorf("GET: %w", err)
	}
	e.log.Debug("renders: GET done", "result", get.String())
	baseline, err := baselineGets(ctx, hc, dsn, run, ids)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	e.log.Debug("renders: baseline done", "result", baseline.String())
	visible, err := api.visibleLatency(ctx, visibleProbes, run)
	if err != nil {
		return nil, fmt.Errorf("POST → visible: %w", err)
	}

	baseStr := fmt.Sprintf("%.0f req/s, p50 %s, p99 %s (net/http + one pgx PK lookup)", baseline.rate, ms(baseline.p50), ms(baseline.p99))
	postOK := post.rate >= 500 && post.p99 <= 150*time.Millisecond && post.errors == 0 && post.rywTimeouts == 0
	getOK := get.rate >= 5000 && get.p99 <= 15*time.Millisecond && get.errors == 0
	return []result{{
		name:     fmt.Sprintf("POST /v1/renders (new signatures), %d clients", renderClients),
		value:    post.String(),
		baseline: baseStr,
		ratio:    ratio(post.rate / baseline.rate),
		target:   "≥ 500 req/s, p99 ≤ 150 ms",
		ok:       postOK,
	}, {
		name:     fmt.Sprintf("GET /v1/renders/{id}, %d clients", renderClients),
		value:    get.String(),
		baseline: baseStr,
		ratio:    ratio(get.rate / baseline.rate),
		target:   "≥ 5,000 req/s, p99 ≤ 15 ms",
		ok:       getOK,
	}, {
		name:   fmt.Sprintf("POST → visible in GET (%d sequential)", visible.n),
		value:  fmt.Sprintf("p50 %s, p99 %s (extra GETs: %d)", ms(visible.p50), ms(visible.p99), visible.extra),
		target: "read your writes: 0 extra",
		ok:     visible.p99 <= 150*time.Millisecond,
	}}, nil
}

// readyAssets appends the events of n READY 1920×1080 30 s video assets
// straight to the event store, as the encoder would after an upload.
func readyAssets(ctx context.Context, e *env, account string, n int) ([]string, error) {
	store := postgres.NewEventStore(e.pool, e.codec, nil)
	ids := make([]string, n)
	err := parallel(ctx, n, func(i int) error {
		id := "ast_" + uuid.Must(uuid.NewV7()).String()
		meta := domain.Metadata{AccountID: account, CorrelationID: "bench", OccurredAt: time.Now()}
		err := store.Transact(ctx, []string{id}, func(ctx context.Context, tx commands.Tx) error {
			_, err := tx.Append(ctx, id, commands.NoStream(), meta,
				domain.AssetCreated{Kind: domain.AssetKindVideo, Name: fmt.Sprintf("bench-%d.mp4", i)},
				domain.AssetSourceUploaded{BlobKey: "assets/" + id + "/source", SizeBytes: 30_000_000},
				domain.AssetProbed{Part: domain.AssetPartSource, Media: domain.MediaInfo{
					Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 30 * time.Second, SizeBytes: 30_000_000,
					HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 1920, Height: 1080,
					FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrate: 8_000_000,
					AudioCodec: "aac", AudioBitrate: 192_000, AudioChannels: 2, AudioSampleRate: 48000,
				}},
				domain.AssetCharged{Seconds: 30, LedgerEntryID: uuid.Must(uuid.NewV7()).String()},
				domain.AssetReady{})
			return err
		})
		ids[i] = id
		return err
	})
	return ids, err
}

// startRenderd starts `renderd serve` (api, relay, projector) on a free
// loopback port, on the bench database (migrated by newEnv), with extra
// added to its environment, and waits until it is ready; stop sends SIGTERM
// and waits for it (SIGKILL after 20 s). stop is always safe to call.
func startRenderd(ctx context.Context, e *env, extra ...string) (base string, stop func(), err error) {
	base, _, stop, err = startRenderdProc(ctx, e, extra...)
	return base, stop, err
}

// startRenderdProc is startRenderd that also returns the process.
func startRenderdProc(ctx context.Context, e *env, extra ...string) (base string, proc *renderdProc, stop func(), err error) {
	stop = func() {}
	port, err := freePort()
	if err != nil {
		return "", nil, stop, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	blobDir, err := os.MkdirTemp("", "renderd-bench-blobs-")
	if err != nil {
		return "", nil, stop, err
	}
	p, err := startServe(e, "api", "api,relay,projector", append([]string{
		"RENDERD_HTTP_ADDR=" + addr, "RENDERD_DB_MAX_CONNS=40", "RENDERD_BLOB_URL=file:" + blobDir}, extra...)...)
	if err != nil {
		_ = os.RemoveAll(blobDir)
		return "", nil, stop, err
	}
	stop = func() {
		p.stop()
		_ = os.RemoveAll(blobDir)
	}
	base = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := p.alive(); err != nil {
			return "", nil, stop, err
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return "", nil, stop, err
		}
		if res, err := http.Get(base + "/readyz"); err == nil { //nolint:noctx // short poll
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base, p, stop, nil
			}
		}
		if time.Now().After(deadline) {
			return "", nil, stop, errors.New("renderd not ready after 60 s")
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func joinBrokers(bs []string) string {
	var b bytes.Buffer
	for i, s := range bs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
	return b.String()
}

// renderAPI is a client of the renders API; each post asks for a signature
// not asked before.
type renderAPI struct {
	hc     *http.Client
	base   string
	key    string
	assets []string
	next   atomic.Int64
	// rywTimeouts counts responses whose read-your-writes wait timed out.
	rywTimeouts atomic.Int64

	mu  sync.Mutex
	ids []string // the renders record saw created
}

// record notes a render post created.
func (a *renderAPI) record(id string) {
	a.mu.Lock()
	a.ids = append(a.ids, id)
	a.mu.Unlock()
}

// created is the renders recorded so far.
func (a *renderAPI) created() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ids[:len(a.ids):len(a.ids)]
}

func (a *renderAPI) body() ([]byte, error) {
	i := int(a.next.Add(1)) - 1
	asset, out := i%len(a.assets), i/len(a.assets)
	if out >= len(renderOutputs) {
		return nil, errors.New("ran out of distinct render signatures: raise renderAssets")
	}
	return json.Marshal(map[string]any{"asset_id": a.assets[asset], "output": renderOutputs[out]})
}

// post requests a render with a new signature: its id and status.
func (a *renderAPI) post(ctx context.Context) (string, int, error) {
	body, err := a.body()
	if err != nil {
		return "", 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/v1/renders", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	if res.Header.Get("Renderd-Read-Your-Writes") == "timeout" {
		a.rywTimeouts.Add(1)
	}
	var v struct {
		ID string `json:"id"`
	}
	if res.StatusCode != http.StatusCreated {
		_, _ = io.Copy(io.Discard, res.Body)
		return "", res.StatusCode, nil
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		return "", 0, err
	}
	return v.ID, res.StatusCode, nil
}

func (a *renderAPI) get(ctx context.Context, url string, auth bool) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode, nil
}

// waitProjected posts renders until one is answered without a
// read-your-writes timeout and is visible in GET.
func (a *renderAPI) waitProjected(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		before := a.rywTimeouts.Load()
		id, status, err := a.post(ctx)
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("first POST /v1/renders answered %d", status)
		}
		if a.rywTimeouts.Load() == before {
			if s, err := a.get(ctx, a.base+"/v1/renders/"+id, true); err != nil {
				return err
			} else if s == http.StatusOK {
				a.rywTimeouts.Store(0)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("no write projected within %s", within)
}

// assetsProjected waits until the asset read model shows n ready assets of
// the account.
func assetsProjected(ctx context.Context, e *env, account string, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var ready int
		err := e.pool.QueryRow(ctx, `SELECT count(*) FROM rm_assets WHERE account_id = $1 AND state = 'ready'`, account).Scan(&ready)
		if err != nil {
			return fmt.Errorf("count projected assets: %w", err)
		}
		if ready >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d assets projected after %s", ready, n, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type visibility struct {
	n        int
	p50, p99 time.Duration
	extra    int // GETs that did not yet find the render
}

// visibleLatency: up to n sequential POSTs (at least 20, else as many as
// fit in d), each followed by GETs until the render shows; POST start →
// first 200.
func (a *renderAPI) visibleLatency(ctx context.Context, n int, d time.Duration) (visibility, error) {
	var v visibility
	lat := make([]time.Duration, 0, n)
	deadline := time.Now().Add(d)
	for i := 0; i < n && (i < 20 || time.Now().Before(deadline)); i++ {
		start := time.Now()
		id, status, err := a.post(ctx)
		if err != nil {
			return v, err
		}
		if status != http.StatusCreated {
			return v, fmt.Errorf("POST answered %d", status)
		}
		for {
			s, err := a.get(ctx, a.base+"/v1/renders/"+id, true)
			if err != nil {
				return v, err
			}
			if s == http.StatusOK {
				break
			}
			if s != http.StatusNotFound {
				return v, fmt.Errorf("GET answered %d", s)
			}
			v.extra++
			if time.Since(start) > 10*time.Second {
				return v, fmt.Errorf("render %s not visible after 10 s", id)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	v.n, v.p50, v.p99 = len(lat), pct(lat, 0.50), pct(lat, 0.99)
	return v, nil
}

// baselineGets serves GET /r/{id} from an in-process net/http server whose
// handler does one primary-key lookup through pgx, and loads it like the
// API's GETs.
func baselineGets(ctx context.Context, hc *http.Client, dsn string, d time.Duration, ids []string) (loadResult, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return loadResult{}, err
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return loadResult{}, err
	}
	defer pool.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /r/{id}", func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		err := pool.QueryRow(r.Context(), `SELECT id, state FROM rm_renders WHERE id = $1`, r.PathValue("id")).Scan(&v.ID, &v.State)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return loadResult{}, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/r/"
	a := &renderAPI{hc: hc}
	return load(ctx, d, func(ctx context.Context) (bool, error) {
		s, err := a.get(ctx, base+ids[rand.IntN(len(ids))], false)
		return s == http.StatusOK, err
	})
}

type loadResult struct {
	rate        float64
	p50, p99    time.Duration
	n, errors   int
	rywTimeouts int64
}

func (r loadResult) String() string {
	s := fmt.Sprintf("%.0f req/s, p50 %s, p99 %s", r.rate, ms(r.p50), ms(r.p99))
	if r.errors > 0 {
		s += fmt.Sprintf(", %d errors", r.errors)
	}
	if r.rywTimeouts > 0 {
		s += fmt.Sprintf(", %d read-your-writes timeouts", r.rywTimeouts)
	}
	return s
}

// load runs op from renderClients goroutines for a warm-up second and then
// d; op reports whether the request succeeded (a false is counted as an
// error, an error aborts the run). The successful requests that complete
// within d give the throughput and, with their whole latency, the
// percentiles.
func load(ctx context.Context, d time.Duration, op func(context.Context) (bool, error)) (loadResult, error) {
	var (
		counting atomic.Bool
		stopped  atomic.Bool
		errCount atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
		lats     = make([][]time.Duration, renderClients)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for c := range renderClients {
		wg.Go(func() {
			for ctx.Err() == nil && !stopped.Load() {
				start := time.Now()
				ok, err := op(ctx)
				if err != nil {
					if ctx.Err() == nil && !stopped.Load() {
						errOnce.Do(func() { firstErr = err; cancel() })
					}
					return
				}
				if !counting.Load() || stopped.Load() {
					continue
				}
				if !ok {
					errCount.Add(1)
					continue
				}
				lats[c] = append(lats[c], time.Since(start))
			}
		})
	}
	time.Sleep(time.Second)
	counting.Store(true)
	start := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stopped.Store(true)
	elapsed := time.Since(start)
	wg.Wait()
	if firstErr != nil {
		return loadResult{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return loadResult{
		rate:   float64(len(all)) / elapsed.Seconds(),
		p50:    pct(all, 0.50),
		p99:    pct(all, 0.99),
		n:      len(all),
		errors: int(errCount.Load()),
	}, nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// ratio prints a throughput ratio with two significant digits at least.
func ratio(r float64) string {
	if r < 0.1 {
		return fmt.Sprintf("%.3f", r)
	}
	return fmt.Sprintf("%.2f", r)
}
