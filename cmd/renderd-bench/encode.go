package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
	"github.com/renderd/renderd/eventschema"
)

// The encode benchmark's sizes, from the issue: three alternating pairs per
// comparison, 20 cancels, 10 start latencies, 4 renders two at a time.
const (
	encodePairs       = 3
	encodeCancels     = 20
	encodeStarts      = 10
	encodeBatch       = 4
	encodeFairQueue   = 20 // renders account A queues before account B posts one
	encodeConcurrency = 2
	// Uploads of the same file: a signature is per asset, and the runs
	// need more same-plan 720p signatures than one asset offers.
	encodeAssets = 4
)

// benchEncode measures the render pipeline of a real `renderd serve` on a
// 30 s 1080p source: the service's own time for an encode against ffmpeg
// run directly with the same arguments, the fast path, cancel and start
// latencies, two renders at once, and the encoder process's peak RSS. The
// encoder runs as a process of its own (api, relay and projector in
// another) so that its memory is measured alone.
func benchEncode(ctx context.Context, e *env, _ time.Duration) (rs []result, err error) {
	dir, err := os.MkdirTemp("", "renderd-bench-encode-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &encodeBench{
		e: e, dir: dir, source: filepath.Join(dir, "source.mp4"), blobDir: filepath.Join(dir, "blobs"),
		store: postgres.NewEventStore(e.pool, e.codec, nil),
		hc:    &http.Client{Timeout: time.Minute},
	}
	e.log.Debug("encode: making the source")
	if err := makeEncodeSource(ctx, b.source); err != nil {
		return nil, err
	}
	defer func() {
		b.stop()
		if err != nil {
			b.dumpLogs()
		}
	}()
	if err := b.start(ctx); err != nil {
		return nil, err
	}
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}

	e.log.Debug("encode: video pairs")
	video, err := b.pairs(ctx, b.take(encodePairs))
	if err != nil {
		return nil, fmt.Errorf("720p pairs: %w", err)
	}
	e.log.Debug("encode: audio pairs")
	audio, err := b.pairs(ctx, b.sameOutput(domain.OutputSpec{Format: domain.FormatM4A, AudioBitrate: 128}))
	if err != nil {
		return nil, fmt.Errorf("m4a pairs: %w", err)
	}
	e.log.Debug("encode: fast path")
	remux, err := b.pairs(ctx, b.sameOutput(domain.OutputSpec{Format: domain.FormatMP4}))
	if err != nil {
		return nil, fmt.Errorf("fast path: %w", err)
	}
	e.log.Debug("encode: POST → ffmpeg")
	var starts []time.Duration
	for _, r := range b.take(encodeStarts) {
		d, err := b.startLatency(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("POST → ffmpeg: %w", err)
		}
		starts = append(starts, d)
	}
	e.log.Debug("encode: cancels")
	var fromAck, fromSent []time.Duration
	for i, r := range b.take(encodeCancels) {
		// Cancels land at spread points of the worker's cancel-check
		// period instead of always just after the encode starts.
		a, s, err := b.cancelRunning(ctx, r, time.Duration(i%20)*25*time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("cancel: %w", err)
		}
		fromAck, fromSent = append(fromAck, a), append(fromSent, s)
	}
	e.log.Debug("encode: two at once")
	wall, batch, err := b.batch(ctx, b.take(encodeBatch))
	if err != nil {
		return nil, fmt.Errorf("two at once: %w", err)
	}
	e.log.Debug("encode: fairness")
	fair, err := b.fairness(ctx, b.take(encodeFairQueue))
	if err != nil {
		return nil, fmt.Errorf("fairness: %w", err)
	}
	hwm, maxRSS, samples := b.rss.finish()
	rs = b.results(video, audio, remux, starts, fromAck, fromSent, wall, batch, hwm, maxRSS, samples)
	return append(rs, fair.result(video)), nil
}

// fairRun is the fairness measurement: account A queues renders, then
// account B posts one.
type fairRun struct {
	queued      int           // A's renders, queued before B's POST
	wait        time.Duration // B's POST sent → B's ffmpeg seen
	startedOfA  int           // A's renders whose ffmpeg started meanwhile (the two running before excluded)
	runningOfA  int           // A's renders running when B posted
	queueFullOK bool          // A's queue took all its renders (none refused)
	// encode is how long the render of A that freed B's slot took, from
	// render.started to render.completed: one encode as it ran here, next
	// to another (two slots share the two cores).
	encode time.Duration
}

// fairness has account A post its renders (two start at once, the rest
// wait), then account B post one render of its own asset, and times B's
// POST to B's ffmpeg: with fair claims it starts as soon as one of A's
// encodes ends, however many A queued. Every render is cancelled after.
func (b *encodeBench) fairness(ctx context.Context, queueA []encodeRequest) (fairRun, error) {
	if err := b.waitIdle(ctx); err != nil {
		return fairRun{}, err
	}
	accB, err := postgres.NewAccounts(b.e.pool).Create(ctx, "bench-encode-b", 600*60)
	if err != nil {
		return fairRun{}, err
	}
	benchB := *b
	benchB.key = accB.APIKey
	assetB, err := benchB.upload(ctx)
	if err == nil {
		err = benchB.waitAsset(ctx, assetB)
	}
	if err != nil {
		return fairRun{}, fmt.Errorf("account B's asset: %w", err)
	}
	var run fairRun
	var ids []string
	defer func() {
		for _, id := range ids {
			_, _, _ = b.call(context.WithoutCancel(ctx), http.MethodDelete, "/v1/renders/"+id, nil, nil)
		}
	}()
	before := pids()
	for _, r := range queueA {
		id, err := b.post(ctx, r)
		if err != nil {
			return run, err
		}
		ids = append(ids, id)
	}
	run.queued, run.queueFullOK = len(ids), true
	// Both slots busy with A's first two.
	for deadline := time.Now().Add(time.Minute); len(b.ffmpegsOf(before, ids)) < encodeConcurrency; {
		if time.Now().After(deadline) {
			return run, fmt.Errorf("account A's first %d renders did not start within a minute", encodeConcurrency)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return run, err
		}
	}
	runningBefore := b.ffmpegsOf(before, ids)
	run.runningOfA = len(runningBefore)
	known := pids()
	sent := time.Now()
	idB, err := benchB.post(ctx, encodeRequest{asset: assetB, output: domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p}})
	if err != nil {
		return run, err
	}
	defer func() {
		_, _, _ = benchB.call(context.WithoutCancel(ctx), http.MethodDelete, "/v1/renders/"+idB, nil, nil)
	}()
	for deadline := sent.Add(5 * time.Minute); ; {
		if pid, _ := b.findFFmpeg(known, "/renders/"+idB+"/"); pid != 0 {
			run.wait = time.Since(sent)
			break
		}
		if time.Now().After(deadline) {
			return run, errors.New("account B's render did not start within 5 minutes")
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return run, err
		}
	}
	run.startedOfA = len(b.ffmpegsOf(known, ids))
	for _, id := range ids {
		if r, err := b.history(ctx, id); err == nil && (run.encode == 0 || r.took() < run.encode) {
			run.encode = r.took()
		}
	}
	if run.encode == 0 {
		return run, errors.New("none of account A's renders completed before account B's started")
	}
	return run, nil
}

// ffmpegsOf counts the encoder's ffmpeg children not in known that render
// one of ids.
func (b *encodeBench) ffmpegsOf(known map[int]bool, ids []string) map[int]bool {
	out := map[int]bool{}
	for _, id := range ids {
		if pid, _ := b.findFFmpeg(known, "/renders/"+id+"/"); pid != 0 {
			out[pid] = true
		}
	}
	return out
}

func (f fairRun) result(video pairResult) result {
	alone := pct(slices.Sorted(slices.Values(video.service)), 0.5)
	return result{
		name: fmt.Sprintf("fairness: account A queues %d × 720p renders (%d start at once), then account B posts 1: B's POST → B's ffmpeg started",
			f.queued, f.runningOfA),
		value: fmt.Sprintf("%.2f s; A's renders started in between: %d", f.wait.Seconds(), f.startedOfA),
		baseline: fmt.Sprintf("%.2f s, the encode of A's that freed the slot (started → completed, %d at once; %.2f s alone, median of the pairs above)",
			f.encode.Seconds(), f.runningOfA, alone.Seconds()),
		ratio:  ratio(f.wait.Seconds() / f.encode.Seconds()),
		target: "≤ 1.5 × one encode",
		ok:     f.queueFullOK && f.startedOfA == 0 && f.wait.Seconds() <= 1.5*f.encode.Seconds(),
	}
}

// encodeBench is one run: the source, the two renderd processes and the
// client of their API.
type encodeBench struct {
	e       *env
	dir     string // removed at the end: source, blobs, bare outputs
	source  string
	blobDir string
	store   *postgres.EventStore
	hc      *http.Client

	api, encoder *renderdProc
	rss          *rssWatch
	base, key    string

	assets []string
	media  domain.MediaInfo // the source's probe as the worker reads it
	next   int              // of encodes
	// encodes are 720p re-encodes with one plan and distinct signatures
	// (an explicit value equal to Auto is a new signature).
	encodes []encodeRequest
}

type encodeRequest struct {
	asset  string
	output domain.OutputSpec
}

func (r encodeRequest) body() ([]byte, error) {
	o := map[string]any{"format": r.output.Format}
	if r.output.Resolution != "" {
		o["resolution"] = r.output.Resolution
	}
	if r.output.VideoBitrate != 0 {
		o["video_bitrate"] = r.output.VideoBitrate
	}
	if r.output.AudioBitrate != 0 {
		o["audio_bitrate"] = r.output.AudioBitrate
	}
	return json.Marshal(map[string]any{"asset_id": r.asset, "output": o})
}

// makeEncodeSource writes the source: 30 s of 1920×1080 30 fps
// testsrc2 in H.264 (ultrafast, yuv420p, 6 Mb/s capped) with 48 kHz stereo
// AAC at 128 kb/s, in mp4.
func makeEncodeSource(ctx context.Context, path string) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=30",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", "6M", "-maxrate", "6M", "-bufsize", "12M",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart", "file:"+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("making the source with ffmpeg: %w: %s", err, out)
	}
	return nil
}

// start runs `renderd serve` twice on e's database, topics and one blob
// directory: api, relay and projector in one process, the encoder in the
// other, whose memory is then watched.
func (b *encodeBench) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	common := []string{"RENDERD_BLOB_DIR=" + b.blobDir, "RENDERD_MAX_UPLOAD_BYTES=200000000"}
	b.api, err = startServe(b.e, "api", "api,relay,projector", append(common,
		"RENDERD_HTTP_ADDR="+addr, "RENDERD_DB_MAX_CONNS=40", "RENDERD_DOWNLOAD_SECRET="+base64.StdEncoding.EncodeToString(secret))...)
	if err != nil {
		return err
	}
	// Info lines only reach the log tail printed on a failure.
	b.encoder, err = startServe(b.e, "encoder", "encoder", append(common,
		"RENDERD_ENCODER_CONCURRENCY="+strconv.Itoa(encodeConcurrency), "RENDERD_LOG_LEVEL=info")...)
	if err != nil {
		return err
	}
	b.rss = watchRSS(b.encoder.cmd.Process.Pid)
	b.base = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := errors.Join(b.api.alive(), b.encoder.alive()); err != nil {
			return err
		}
		if res, err := http.Get(b.base + "/readyz"); err == nil { //nolint:noctx // short poll
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("renderd api not ready after 60 s")
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func (b *encodeBench) stop() {
	if b.rss != nil {
		b.rss.finish()
	}
	for _, p := range []*renderdProc{b.encoder, b.api} {
		if p != nil {
			p.stop()
		}
	}
}

func (b *encodeBench) dumpLogs() {
	for _, p := range []*renderdProc{b.api, b.encoder} {
		if p != nil {
			fmt.Fprintf(os.Stderr, "--- last log lines of renderd %s ---\n%s", p.name, p.log.tail())
		}
	}
}

// prepare creates the account, uploads the source as encodeAssets assets
// through the API, and reads back the probe the worker will use.
func (b *encodeBench) prepare(ctx context.Context) error {
	acc, err := postgres.NewAccounts(b.e.pool).Create(ctx, "bench-encode", 600*60)
	if err != nil {
		return err
	}
	b.key = acc.APIKey
	for range encodeAssets {
		id, err := b.upload(ctx)
		if err != nil {
			return err
		}
		b.assets = append(b.assets, id)
	}
	for _, id := range b.assets {
		if err := b.waitAsset(ctx, id); err != nil {
			return err
		}
	}
	recs, err := b.store.Load(ctx, b.assets[0])
	if err != nil {
		return err
	}
	a, err := domain.RebuildAsset(recs)
	if err != nil {
		return err
	}
	var ok bool
	if b.media, ok = a.Media(); !ok {
		return errors.New("the ready asset has no probe")
	}
	for _, f := range []domain.Format{domain.FormatMP4, domain.FormatMOV} {
		for _, asset := range b.assets {
			for _, vb := range []int{0, 5} {
				// 192 and up are capped to the 128 kb/s source, as Auto is.
				for _, ab := range []int{0, 192, 256, 320} {
					b.encodes = append(b.encodes, encodeRequest{asset, domain.OutputSpec{
						Format: f, Resolution: domain.Resolution720p, VideoBitrate: vb, AudioBitrate: ab}})
				}
			}
		}
	}
	if need := encodePairs + encodeStarts + encodeCancels + encodeBatch + encodeFairQueue; need > len(b.encodes) {
		return fmt.Errorf("%d renders need more than the %d prepared signatures: raise encodeAssets", need, len(b.encodes))
	}
	return nil
}

func (b *encodeBench) take(n int) []encodeRequest {
	b.next += n
	return b.encodes[b.next-n : b.next]
}

// sameOutput is one output on encodePairs different assets: the same plan
// each time.
func (b *encodeBench) sameOutput(o domain.OutputSpec) []encodeRequest {
	var rs []encodeRequest
	for _, a := range b.assets[:encodePairs] {
		rs = append(rs, encodeRequest{a, o})
	}
	return rs
}

// upload creates a video asset and PUTs the source.
func (b *encodeBench) upload(ctx context.Context) (string, error) {
	var a struct {
		ID string `json:"id"`
	}
	status, raw, err := b.call(ctx, http.MethodPost, "/v1/assets", []byte(`{"kind":"video","name":"bench 1080p"}`), &a)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("POST /v1/assets answered %d: %s", status, raw)
	}
	f, err := os.Open(b.source)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.base+"/v1/assets/"+a.ID+"/source", f)
	if err != nil {
		return "", err
	}
	req.ContentLength = st.Size()
	status, raw, err = b.do(req, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusAccepted {
		return "", fmt.Errorf("PUT /v1/assets/%s/source answered %d: %s", a.ID, status, raw)
	}
	return a.ID, nil
}

func (b *encodeBench) waitAsset(ctx context.Context, id string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var v struct {
			State string `json:"state"`
		}
		status, raw, err := b.call(ctx, http.MethodGet, "/v1/assets/"+id, nil, &v)
		if err != nil {
			return err
		}
		switch {
		case status == http.StatusOK && v.State == "ready":
			return nil
		case status == http.StatusOK && v.State == "failed":
			return fmt.Errorf("asset %s failed: %s", id, raw)
		case time.Now().After(deadline):
			return fmt.Errorf("asset %s not ready after 2 min: %d %s", id, status, raw)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// call sends a JSON request with the account's key and decodes a 2xx
// answer into v (when not nil).
func (b *encodeBench) call(ctx context.Context, method, path string, body []byte, v any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return b.do(req, v)
}

func (b *encodeBench) do(req *http.Request, v any) (int, []byte, error) {
	req.Header.Set("Authorization", "Bearer "+b.key)
	res, err := b.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	if v != nil && res.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, v); err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w: %s", req.Method, req.URL.Path, err, raw)
		}
	}
	return res.StatusCode, raw, nil
}

// post requests a render; each request of the benchmark is a new one.
func (b *encodeBench) post(ctx context.Context, r encodeRequest) (string, error) {
	body, err := r.body()
	if err != nil {
		return "", err
	}
	var v struct {
		ID string `json:"id"`
	}
	status, raw, err := b.call(ctx, http.MethodPost, "/v1/renders", body, &v)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("POST /v1/renders %s answered %d (want 201, a new render): %s", body, status, raw)
	}
	return v.ID, nil
}

// waitCompleted polls the render every 50 ms until it is completed.
func (b *encodeBench) waitCompleted(ctx context.Context, id string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var v struct {
			State string `json:"state"`
		}
		status, raw, err := b.call(ctx, http.MethodGet, "/v1/renders/"+id, nil, &v)
		if err != nil {
			return err
		}
		switch {
		case status == http.StatusOK && v.State == "completed":
			return nil
		case status == http.StatusOK && (v.State == "failed" || v.State == "cancelled"):
			return fmt.Errorf("render %s is %s: %s", id, v.State, raw)
		case status != http.StatusOK && status != http.StatusNotFound:
			return fmt.Errorf("GET /v1/renders/%s answered %d: %s", id, status, raw)
		case time.Now().After(deadline):
			return fmt.Errorf("render %s not completed after 5 min: %s", id, raw)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// serviceRun is a completed render as its events record it.
type serviceRun struct {
	id                 string
	started, completed time.Time // render.started, render.completed
	encodeSeconds      float64   // render.completed's own figure: claim → completion
	fastPath           bool
	attempts           int
	// Where the time went, when the benchmark watched the render's ffmpeg:
	// its start and its exit as seen in /proc.
	ffmpegStart, ffmpegExit time.Time
}

func (r serviceRun) took() time.Duration { return r.completed.Sub(r.started) }

// phases: render.started → ffmpeg running, ffmpeg's run, ffmpeg gone →
// render.completed.
func (r serviceRun) phases() (before, run, after time.Duration) {
	return r.ffmpegStart.Sub(r.started), r.ffmpegExit.Sub(r.ffmpegStart), r.completed.Sub(r.ffmpegExit)
}

// render requests a render, waits for its completion and reads its times
// from the event store.
func (b *encodeBench) render(ctx context.Context, r encodeRequest) (serviceRun, error) {
	id, err := b.post(ctx, r)
	if err != nil {
		return serviceRun{}, err
	}
	if err := b.waitCompleted(ctx, id); err != nil {
		return serviceRun{}, err
	}
	return b.history(ctx, id)
}

func (b *encodeBench) history(ctx context.Context, id string) (serviceRun, error) {
	run := serviceRun{id: id}
	rows, err := b.e.pool.Query(ctx, `SELECT event_type, occurred_at, data FROM events WHERE stream_id = $1 ORDER BY stream_version`, id)
	if err != nil {
		return run, err
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var typ string
		var at time.Time
		var data []byte
		if err := rows.Scan(&typ, &at, &data); err != nil {
			return run, err
		}
		types = append(types, typ)
		switch typ {
		case eventschema.RenderStartedV1:
			run.started = at
			run.attempts++
		case eventschema.RenderCompletedV1:
			run.completed = at
			var c struct {
				EncodeSeconds float64 `json:"encode_seconds"`
				FastPath      bool    `json:"fast_path"`
			}
			if err := json.Unmarshal(data, &c); err != nil {
				return run, fmt.Errorf("render.completed of %s: %w", id, err)
			}
			run.encodeSeconds, run.fastPath = c.EncodeSeconds, c.FastPath
		}
	}
	if err := rows.Err(); err != nil {
		return run, err
	}
	if run.started.IsZero() || run.completed.IsZero() {
		return run, fmt.Errorf("render %s: no render.started or render.completed in %v", id, types)
	}
	return run, nil
}

// pairResult is a comparison: bare ffmpeg and the service, alternating.
type pairResult struct {
	bare, service []time.Duration
	runs          []serviceRun
	fastPath      bool // of the command both ran
}

// pairs runs each request's command bare, then the request through the
// service, in turn, so that the machine's noise falls on both alike. The
// encoder must be idle: the service run's ffmpeg is found as its first new
// one.
func (b *encodeBench) pairs(ctx context.Context, reqs []encodeRequest) (pairResult, error) {
	var p pairResult
	for _, r := range reqs {
		job, cmd, err := b.bareCommand(r.output)
		if err != nil {
			return p, err
		}
		bare, err := runBare(ctx, cmd.Args, job.Output)
		if err != nil {
			return p, err
		}
		if err := b.waitIdle(ctx); err != nil {
			return p, err
		}
		sp, err := b.postAndFind(ctx, r)
		if err != nil {
			return p, err
		}
		// Polled gently: the bare run has no watcher taking CPU beside it.
		exited, err := waitGone(ctx, sp.pid, 10*time.Minute, 10*time.Millisecond)
		if err != nil {
			return p, fmt.Errorf("render %s: %w", sp.id, err)
		}
		if err := b.waitCompleted(ctx, sp.id); err != nil {
			return p, err
		}
		run, err := b.history(ctx, sp.id)
		if err != nil {
			return p, err
		}
		run.ffmpegStart, run.ffmpegExit = sp.running, exited
		if err := b.sameCommand(ctx, run.id, job, cmd.Args); err != nil {
			return p, err
		}
		p.bare, p.service, p.runs = append(p.bare, bare), append(p.service, run.took()), append(p.runs, run)
		p.fastPath = cmd.FastPath
		b.e.log.Debug("encode: pair", "output", r.output.String(), "bare", bare, "service", run.took(), "fast_path", run.fastPath)
	}
	return p, nil
}

// bareCommand is the command the worker builds for the output, planned as
// RequestRender plans it, on the local copy of the source.
func (b *encodeBench) bareCommand(o domain.OutputSpec) (encoders.Job, encoders.Command, error) {
	plan, err := domain.PlanOutput(o, b.media, nil, 0)
	if err != nil {
		return encoders.Job{}, encoders.Command{}, err
	}
	// The worker's own prober, as wired: the same input options.
	input, err := ffmpeg.NewProber("", 0, ffmpeg.Limits{}).InputArgs(b.source, b.media.Container)
	if err != nil {
		return encoders.Job{}, encoders.Command{}, err
	}
	job := encoders.Job{Format: o.Format, Plan: plan, Source: b.media, Input: input, Output: filepath.Join(b.dir, "bare."+string(o.Format))}
	cmd, err := encoders.BuildCommand(job)
	return job, cmd, err
}

// sameCommand checks that the plan the service recorded gives the
// arguments the bare run used, or the comparison compares nothing.
func (b *encodeBench) sameCommand(ctx context.Context, id string, job encoders.Job, args []string) error {
	recs, err := b.store.Load(ctx, id)
	if err != nil {
		return err
	}
	r, err := domain.RebuildRender(recs)
	if err != nil {
		return err
	}
	job.Plan = r.Requested().Plan
	cmd, err := encoders.BuildCommand(job)
	if err != nil {
		return err
	}
	if !slices.Equal(cmd.Args, args) {
		return fmt.Errorf("render %s: the service's plan gives other ffmpeg arguments than the bare run:\n  service %q\n  bare    %q", id, cmd.Args, args)
	}
	return nil
}

// runBare times ffmpeg from start to exit, run as the worker runs it: an
// empty environment, progress read from a pipe.
func runBare(ctx context.Context, args []string, output string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Env = []string{}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	_ = os.Remove(output)
	if err != nil {
		return 0, fmt.Errorf("bare ffmpeg: %w: %s", err, stderr.String())
	}
	return took, nil
}

// startLatency times a POST to the moment the encoder's ffmpeg for it
// exists, on an idle encoder, then cancels the render.
func (b *encodeBench) startLatency(ctx context.Context, r encodeRequest) (time.Duration, error) {
	if err := b.waitIdle(ctx); err != nil {
		return 0, err
	}
	sp, err := b.postAndFind(ctx, r)
	if err != nil {
		return 0, err
	}
	_, _, err = b.cancel(ctx, sp.id, sp.pid)
	return sp.running.Sub(sp.sent), err
}

// spawned is a posted render whose ffmpeg runs.
type spawned struct {
	id            string
	pid           int
	sent, running time.Time // POST sent; ffmpeg first seen in /proc
}

// postAndFind posts a render and scans /proc every 3 ms for its ffmpeg.
// The id is known only when the POST returns, which may be after ffmpeg
// started: on an idle encoder the first new ffmpeg child is the render's,
// and its id is checked afterwards.
func (b *encodeBench) postAndFind(ctx context.Context, r encodeRequest) (spawned, error) {
	known := pids()
	type posted struct {
		id  string
		err error
	}
	done := make(chan posted, 1)
	sent := time.Now()
	go func() {
		id, err := b.post(ctx, r)
		done <- posted{id, err}
	}()
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	var (
		p        posted
		answered bool
		wait     = done
		deadline = sent.Add(60 * time.Second)
	)
	for {
		pid, cmdline := b.findFFmpeg(known, filepath.Join(b.blobDir, "renders")+"/")
		if pid != 0 {
			running := time.Now()
			if !answered {
				p = <-done
			}
			if p.err != nil {
				return spawned{}, p.err
			}
			if !strings.Contains(cmdline, "/renders/"+p.id+"/") {
				return spawned{}, fmt.Errorf("the encoder's new ffmpeg is not render %s's: %q", p.id, cmdline)
			}
			return spawned{id: p.id, pid: pid, sent: sent, running: running}, nil
		}
		select {
		case <-ctx.Done():
			return spawned{}, ctx.Err()
		case p = <-wait:
			answered, wait = true, nil
			if p.err != nil {
				return spawned{}, p.err
			}
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return spawned{}, fmt.Errorf("no ffmpeg for a render within 60 s of its POST (answered: %v, id %q)", answered, p.id)
		}
	}
}

// cancelRunning starts a render, lets its ffmpeg run for delay, and
// cancels it: times from the 204 and from the DELETE to ffmpeg gone.
func (b *encodeBench) cancelRunning(ctx context.Context, r encodeRequest, delay time.Duration) (fromAck, fromSent time.Duration, err error) {
	known := pids()
	id, err := b.post(ctx, r)
	if err != nil {
		return 0, 0, err
	}
	needle := filepath.Join(b.blobDir, "renders", id) + "/"
	deadline := time.Now().Add(60 * time.Second)
	pid := 0
	for pid == 0 {
		if pid, _ = b.findFFmpeg(known, needle); pid != 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("no ffmpeg for render %s within 60 s", id)
		}
		if err := sleepCtx(ctx, 3*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
	if err := sleepCtx(ctx, delay); err != nil {
		return 0, 0, err
	}
	return b.cancel(ctx, id, pid)
}

// cancel sends DELETE /v1/renders/{id} and waits for ffmpeg pid to be gone.
func (b *encodeBench) cancel(ctx context.Context, id string, pid int) (fromAck, fromSent time.Duration, err error) {
	sent := time.Now()
	status, raw, err := b.call(ctx, http.MethodDelete, "/v1/renders/"+id, nil, nil)
	acked := time.Now()
	if err != nil {
		return 0, 0, err
	}
	if status != http.StatusNoContent {
		return 0, 0, fmt.Errorf("DELETE /v1/renders/%s answered %d (want 204): %s", id, status, raw)
	}
	gone, err := waitGone(ctx, pid, 30*time.Second, 2*time.Millisecond)
	if err != nil {
		return 0, 0, fmt.Errorf("render %s cancelled: %w", id, err)
	}
	return gone.Sub(acked), gone.Sub(sent), nil
}

// waitGone polls until the process has exited: when it was seen gone.
func waitGone(ctx context.Context, pid int, within, every time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("ffmpeg (pid %d) still runs after %s", pid, within)
		}
		if err := sleepCtx(ctx, every); err != nil {
			return time.Time{}, err
		}
	}
	return time.Now(), nil
}

// batch posts the renders at once and waits for all: the wall time from
// the first POST to the last render.completed, and each render's run.
func (b *encodeBench) batch(ctx context.Context, reqs []encodeRequest) (time.Duration, []serviceRun, error) {
	if err := b.waitIdle(ctx); err != nil {
		return 0, nil, err
	}
	runs := make([]serviceRun, len(reqs))
	errs := make([]error, len(reqs))
	start := time.Now()
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { runs[i], errs[i] = b.render(ctx, r) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, nil, err
	}
	last := runs[0].completed
	for _, r := range runs {
		if r.completed.After(last) {
			last = r.completed
		}
	}
	return last.Sub(start), runs, nil
}

// waitIdle waits until the encoder has no child process (ffmpeg, ffprobe)
// and then a little longer, for the freed slots to be back.
func (b *encodeBench) waitIdle(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for len(childrenOf(b.encoder.cmd.Process.Pid)) > 0 {
		if time.Now().After(deadline) {
			return errors.New("the encoder still runs children after 60 s")
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return sleepCtx(ctx, 300*time.Millisecond)
}

// findFFmpeg returns an ffmpeg child of the encoder, not in known, whose
// command line or open files (the media sandbox hands ffmpeg its files as
// descriptors, docs/renders.md) contain needle, and those as one string.
func (b *encodeBench) findFFmpeg(known map[int]bool, needle string) (int, string) {
	parent := b.encoder.cmd.Process.Pid
	for pid := range pids() {
		if known[pid] {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		cmdline := string(raw)
		args := strings.Split(cmdline, "\x00")
		if filepath.Base(args[0]) != "ffmpeg" {
			continue
		}
		if !strings.Contains(cmdline, needle) {
			cmdline += "\x00" + strings.Join(openFiles(pid), "\x00")
			if !strings.Contains(cmdline, needle) {
				continue
			}
		}
		if ppid, _ := procStat(pid); ppid == parent && !processGone(pid) {
			return pid, cmdline
		}
	}
	return 0, ""
}

// openFiles lists the paths a process has open (/proc/<pid>/fd).
func openFiles(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, _ := os.ReadDir(dir)
	var out []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil {
			out = append(out, target)
		}
	}
	return out
}

func pids() map[int]bool {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	out := make(map[int]bool, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			out[pid] = true
		}
	}
	return out
}

func childrenOf(parent int) []int {
	var kids []int
	for pid := range pids() {
		if ppid, state := procStat(pid); ppid == parent && state != "Z" {
			kids = append(kids, pid)
		}
	}
	return kids
}

// procStat reads a process's parent and state from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state string) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ")".
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, ""
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0]
}

// processGone: exited, whether or not its parent has reaped it yet.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	_, state := procStat(pid)
	return state == "" || state == "Z"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// renderdProc is one `renderd serve` subprocess.
type renderdProc struct {
	name   string
	cmd    *exec.Cmd
	exited chan error
	log    *procLog
	once   sync.Once
}

// startServe starts `renderd serve --roles roles` on e's database and
// topics, with the benchmark's limits (benchLimits), extra environment last (it wins). Like startRenderd, but with the
// roles and environment of the caller's choosing, and no readiness wait: an
// encoder-only process serves no HTTP.
func startServe(e *env, name, roles string, extra ...string) (*renderdProc, error) {
	prefix := e.topics.Prefix
	environ := append(os.Environ(),
		"DATABASE_URL="+e.pool.Config().ConnString(),
		"KAFKA_BROKERS="+joinBrokers(e.brokers),
		"RENDERD_KAFKA_TOPIC_PREFIX="+prefix,
		"RENDERD_KAFKA_GROUP_PREFIX="+prefix,
		"RENDERD_LOG_LEVEL=warn",
		"RENDERD_SECRETS_KEY="+e.secretsKey,
	)
	environ = append(environ, benchLimits...)
	p := &renderdProc{name: name, exited: make(chan error, 1), log: &procLog{name: name}}
	p.cmd = exec.Command(*renderdBin, "serve", "--roles", roles) //nolint:gosec // the operator's binary
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = append(environ, extra...), p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start renderd serve --roles %s: %w", roles, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	return p, nil
}

// stop sends SIGTERM and waits (SIGKILL after 20 s); safe to call again.
func (p *renderdProc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

func (p *renderdProc) alive() error {
	select {
	case err := <-p.exited:
		p.exited <- err // for stop
		return fmt.Errorf("renderd %s exited early: %v", p.name, err)
	default:
		return nil
	}
}

// procLog keeps the tail of a process's log for a failure report and
// passes its warnings and errors to stderr as they come.
type procLog struct {
	name    string
	mu      sync.Mutex
	buf     []byte // the tail
	partial []byte // a line not yet ended
}

const procLogTail = 32 << 10

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if n := len(l.buf) - procLogTail; n > 0 {
		l.buf = append(l.buf[:0:0], l.buf[n:]...)
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i+1]
		if bytes.Contains(line, []byte("level=WARN")) || bytes.Contains(line, []byte("level=ERROR")) {
			fmt.Fprintf(os.Stderr, "[renderd %s] %s", l.name, line)
		}
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *procLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// rssWatch samples a process's memory from /proc/<pid>/status every 100 ms.
// VmHWM is the kernel's own peak of the resident set, so a peak between
// samples counts too; a child (ffmpeg, ffprobe) has a memory of its own.
type rssWatch struct {
	pid      int
	stopOnce sync.Once
	stopped  chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	hwm, rss int64 // KiB: the last VmHWM, the largest VmRSS
	nSamples int
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{pid: pid, stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			w.sample()
			select {
			case <-w.stopped:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *rssWatch) sample() {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.pid))
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for line := range strings.Lines(string(raw)) {
		k, v, _ := strings.Cut(line, ":")
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmHWM":
			w.hwm = max(w.hwm, kib)
		case "VmRSS":
			w.rss = max(w.rss, kib)
			w.nSamples++
		}
	}
}

// finish stops sampling (a last sample first) and returns the peak VmHWM
// and the largest sampled VmRSS, in KiB, and the number of samples.
func (w *rssWatch) finish() (hwm, rss int64, samples int) {
	w.stopOnce.Do(func() {
		close(w.stopped)
		<-w.done
		w.sample()
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hwm, w.rss, w.nSamples
}

func (b *encodeBench) results(video, audio, remux pairResult, starts, fromAck, fromSent []time.Duration,
	wall time.Duration, batch []serviceRun, hwm, maxRSS int64, samples int) []result {
	mid := func(ds []time.Duration) time.Duration { return pct(slices.Sorted(slices.Values(ds)), 0.5) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	// Medians of each phase, and each pair's own ratio: alternation
	// cancels slow drifts of the machine within a pair.
	detail := func(p pairResult, show func(time.Duration) string) string {
		var before, run, after, enc []time.Duration
		var pairs []string
		for i, r := range p.runs {
			b, f, a := r.phases()
			before, run, after = append(before, b), append(run, f), append(after, a)
			enc = append(enc, time.Duration(r.encodeSeconds*float64(time.Second)))
			pairs = append(pairs, fmt.Sprintf("%.2f", p.service[i].Seconds()/p.bare[i].Seconds()))
		}
		return fmt.Sprintf("%s: started → ffmpeg %s, ffmpeg %s, ffmpeg exit → completed %s; encode_seconds %s; service/bare per pair %s",
			show(mid(p.service)), ms(mid(before)), show(mid(run)), ms(mid(after)), show(mid(enc)), strings.Join(pairs, ", "))
	}
	allFast := func(p pairResult) (n int) {
		for _, r := range p.runs {
			if r.fastPath {
				n++
			}
		}
		return n
	}
	kind := func(p pairResult) string {
		if p.fastPath {
			return "remux"
		}
		return "re-encode"
	}

	vBare, vSvc := mid(video.bare), mid(video.service)
	aBare, aSvc := mid(audio.bare), mid(audio.service)
	rSvc := mid(remux.service)
	slices.Sort(starts)
	slices.Sort(fromAck)
	slices.Sort(fromSent)
	var batchTook []time.Duration
	for _, r := range batch {
		batchTook = append(batchTook, r.took())
	}
	oneByOne := time.Duration(len(batch)) * vSvc
	perMin := func(n int, d time.Duration) float64 { return float64(n) / d.Minutes() }
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	diff := aSvc - aBare
	sign := "+"
	if diff < 0 {
		sign, diff = "−", -diff
	}
	return []result{{
		name:     fmt.Sprintf("30 s 1080p → 720p mp4 (%s): service StartRender → CompleteRender vs bare ffmpeg, median of %d alternating", kind(video), len(video.bare)),
		value:    detail(video, secs),
		baseline: secs(vBare) + " bare ffmpeg, same arguments",
		ratio:    ratio(vSvc.Seconds() / vBare.Seconds()),
		target:   "≤ 1.05 × bare",
		ok:       vSvc.Seconds() <= 1.05*vBare.Seconds(),
	}, {
		name:     fmt.Sprintf("30 s 1080p → m4a (AAC %s, 128 kb/s): service vs bare ffmpeg, median of %d alternating", kind(audio), len(audio.bare)),
		value:    detail(audio, ms),
		baseline: ms(aBare) + " bare ffmpeg, same arguments",
		ratio:    sign + ms(diff),
		target:   "≤ bare + 150 ms",
		ok:       aSvc-aBare <= 150*time.Millisecond,
	}, {
		name:     fmt.Sprintf("fast path: 30 s 1080p → mp4 at the source's plan (-c copy), median of %d", len(remux.service)),
		value:    fmt.Sprintf("fast_path in %d of %d render.completed; %s", allFast(remux), len(remux.runs), detail(remux, ms)),
		baseline: secs(vSvc) + " service, 720p re-encode",
		ratio:    fmt.Sprintf("%.0f × faster", vSvc.Seconds()/rSvc.Seconds()),
		target:   "≥ 20 × faster than the re-encode",
		ok:       remux.fastPath && allFast(remux) == len(remux.runs) && vSvc.Seconds() >= 20*rSvc.Seconds(),
	}, {
		name: fmt.Sprintf("cancel → ffmpeg gone, %d cancels of a running 720p encode", len(fromAck)),
		value: fmt.Sprintf("from the 204: p50 %s, p99 %s; from sending DELETE: p50 %s, p99 %s",
			ms(pct(fromAck, 0.5)), ms(pct(fromAck, 0.99)), ms(pct(fromSent, 0.5)), ms(pct(fromSent, 0.99))),
		target: "p99 ≤ 2 s",
		ok:     pct(fromAck, 0.99) <= 2*time.Second,
	}, {
		name:   fmt.Sprintf("POST → ffmpeg started, idle encoder (%d)", len(starts)),
		value:  fmt.Sprintf("p50 %s, p99 %s", ms(pct(starts, 0.5)), ms(pct(starts, 0.99))),
		target: "p50 ≤ 100 ms",
		ok:     pct(starts, 0.5) <= 100*time.Millisecond,
	}, {
		name: fmt.Sprintf("throughput, %d × 720p re-encode posted at once, %d at a time", len(batch), encodeConcurrency),
		value: fmt.Sprintf("%.1f renders/min (%d in %s; each %s median service time)",
			perMin(len(batch), wall), len(batch), secs(wall), secs(mid(batchTook))),
		baseline: fmt.Sprintf("%.1f renders/min one at a time (%d × %s = %s)", perMin(len(batch), oneByOne), len(batch), secs(vSvc), secs(oneByOne)),
		ratio:    ratio(oneByOne.Seconds() / wall.Seconds()),
		target:   "reported",
		ok:       true,
	}, {
		name:   "peak RSS of `renderd serve --roles encoder`, whole benchmark (ffmpeg excluded)",
		value:  fmt.Sprintf("VmHWM %.1f MiB (largest sampled VmRSS %.1f MiB, %d samples)", mib(hwm), mib(maxRSS), samples),
		target: "≤ 100 MiB",
		ok:     hwm > 0 && mib(hwm) <= 100,
	}}
}
