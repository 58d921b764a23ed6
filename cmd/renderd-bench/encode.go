package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// The encode benchmark's sizes: three alternating pairs per
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
	if err := b.prepare(ctx, encodeAssets); err != nil {
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

// makeEncodeSource writes the benchmark's source: 30 s of 1920×1080 30 fps
// testsrc2 in H.264 (ultrafast, yuv420p, 6 Mb/s capped) with 48 kHz stereo
// AAC at 128 kb/s, in mp4.
func makeEncodeSource(ctx context.Context, path string) error {
	return makeSource(ctx, path, 30)
}

// makeSource writes seconds of makeEncodeSource's kind of source.
func makeSource(ctx context.Context, path string, seconds int) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1920x1080:rate=30:duration=%d", seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", "6M", "-maxrate", "6M", "-bufsize", "12M",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart", "file:"+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("making the source with ffmpeg: %w: %s", err, out)
	}
	return nil
}

// prepare creates the account, uploads the source as n assets
// through the API, and reads back the probe the worker will use.
func (b *encodeBench) prepare(ctx context.Context, n int) error {
	acc, err := postgres.NewAccounts(b.e.pool).Create(ctx, "bench-encode", 600*60)
	if err != nil {
		return err
	}
	b.key = acc.APIKey
	if b.assets, b.media, err = b.readyAssets(ctx, n); err != nil {
		return err
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

// readyAssets uploads b.source as n assets through the API, waits until
// they are ready, and returns them with the probe the worker reads.
func (b *encodeBench) readyAssets(ctx context.Context, n int) ([]string, domain.MediaInfo, error) {
	var ids []string
	for range n {
		id, err := b.upload(ctx)
		if err != nil {
			return nil, domain.MediaInfo{}, err
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if err := b.waitAsset(ctx, id); err != nil {
			return nil, domain.MediaInfo{}, err
		}
	}
	recs, err := b.store.Load(ctx, ids[0])
	if err != nil {
		return nil, domain.MediaInfo{}, err
	}
	a, err := domain.RebuildAsset(recs)
	if err != nil {
		return nil, domain.MediaInfo{}, err
	}
	media, ok := a.Media()
	if !ok {
		return nil, domain.MediaInfo{}, errors.New("the ready asset has no probe")
	}
	return ids, media, nil
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
	return b.bareJob(o, b.media, filepath.Join(b.dir, "bare."+string(o.Format)), 0)
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
