package encoders_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/memstore"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// The render worker's decisions on an in-memory store with a scripted
// ffmpeg: every path a job can take ends in the right command, and no
// output outlives a refused attempt. The real ffmpeg, Postgres and Kafka
// run in cmd/renderd's encode tests.

var source = domain.MediaInfo{Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 2 * time.Second, HasVideo: true, HasAudio: true,
	VideoCodec: "h264", Width: 1920, Height: 1080, FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrate: 6_000_000,
	AudioCodec: "aac", AudioBitrate: 128_000, AudioChannels: 2, AudioSampleRate: 48000}

var alice = commands.Caller{AccountID: "acc_alice"}

type rig struct {
	t      *testing.T
	store  *memstore.Store
	db     *flakyStore // the store as the worker reaches it
	d      commands.Deps
	blobs  *trackedBlobs
	dir    string
	media  *scriptedMedia
	queue  *memQueue
	cancel *commands.CancelRenderHandler
	cmds   encoders.RenderCommands
	worker *encoders.RenderWorker
	// requestCtx, when set, is the context render requests the render in
	// (a traced one, say).
	requestCtx context.Context
}

func newRig(t *testing.T) *rig {
	var n atomic.Int64
	store := memstore.New(func() string { return fmt.Sprint("evt_", n.Add(1)) })
	db := &flakyStore{Store: store}
	d := commands.Deps{Store: db, Now: time.Now, NewID: func(p string) string { return fmt.Sprintf("%s_%d", p, n.Add(1)) }}
	dir := t.TempDir()
	blobs, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blobs.Close() })
	tracked := &trackedBlobs{Local: blobs}
	t.Cleanup(func() {
		if n := tracked.held.Load(); n != 0 {
			t.Errorf("%d fetched sources were never released", n)
		}
	})
	r := &rig{t: t, store: store, db: db, d: d, blobs: tracked, dir: dir, media: &scriptedMedia{}, queue: &memQueue{store: db}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var cmds encoders.RenderCommands
	cmds.Start, err = commands.NewStartRenderHandler(d, 0)
	must(err)
	cmds.Progress, err = commands.NewReportProgressHandler(d)
	must(err)
	cmds.Complete, err = commands.NewCompleteRenderHandler(d)
	must(err)
	cmds.Fail, err = commands.NewFailRenderHandler(d)
	must(err)
	cmds.Retry, err = commands.NewRetryRenderHandler(d)
	must(err)
	cmds.LoseLease, err = commands.NewLoseRenderLeaseHandler(d)
	must(err)
	// Clients cancel through the API, which reaches the store directly.
	r.cancel, err = commands.NewCancelRenderHandler(commands.Deps{Store: store, Now: d.Now, NewID: d.NewID})
	must(err)
	r.cmds = cmds
	cfg := encoders.RenderWorkerConfig{WorkerID: "w1", Concurrency: 1, Lease: 3 * time.Second, PollInterval: 20 * time.Millisecond, CancelCheck: 10 * time.Millisecond,
		StorePatience: time.Second}
	r.worker, err = encoders.NewRenderWorker(cfg, cmds, db, r.queue, tracked, r.media, time.Now, slog.New(slog.DiscardHandler))
	must(err)
	return r
}

// trackedBlobs is the local store, counting the sources fetched and not
// yet released, and failing fetches with fetchErr and commits with
// commitErr when they are set (a store that cannot answer): always, or
// only the first fetchFails and commitFails times when those are set.
type trackedBlobs struct {
	*blob.Local
	held                    atomic.Int64
	fetchErr, commitErr     error
	fetchFails, commitFails atomic.Int32
	fetches, commits        atomic.Int32
}

// failing says whether a call fails with err, given the failures left.
func failing(err error, left *atomic.Int32) bool {
	if err == nil {
		return false
	}
	switch n := left.Load(); {
	case n == 0:
		return true // always
	case n < 0:
		return false // the counted failures are over
	case n == 1:
		left.Store(-1)
	default:
		left.Store(n - 1)
	}
	return true
}

func (b *trackedBlobs) Commit(ctx context.Context, tmpPath, key string) (int64, error) {
	b.commits.Add(1)
	if failing(b.commitErr, &b.commitFails) {
		return 0, b.commitErr
	}
	return b.Local.Commit(ctx, tmpPath, key)
}

func (b *trackedBlobs) Fetch(ctx context.Context, key string) (string, func(), error) {
	b.fetches.Add(1)
	if failing(b.fetchErr, &b.fetchFails) {
		return "", nil, b.fetchErr
	}
	path, release, err := b.Local.Fetch(ctx, key)
	if err != nil {
		return "", nil, err
	}
	b.held.Add(1)
	return path, func() { b.held.Add(-1); release() }, nil
}

// render makes a ready asset and requests an mp4 of it at 720p (an encode,
// not a remux), and returns the render's id.
func (r *rig) render() string {
	ctx := r.t.Context()
	grant, _ := commands.NewGrantCreditsHandler(r.d)
	create, _ := commands.NewCreateAssetHandler(r.d)
	upload, _ := commands.NewUploadAssetPartHandler(r.d, commands.UploadLimits{})
	probe, _ := commands.NewProbeAssetHandler(r.d, fixedProbe{}, r.blobs, domain.SourceLimits{})
	request, _ := commands.NewRequestRenderHandler(r.d, commands.RenderLimits{})
	requestCtx := ctx
	if r.requestCtx != nil {
		requestCtx = r.requestCtx
	}
	if _, err := grant.Handle(ctx, commands.Caller{}, commands.GrantCredits{AccountID: alice.AccountID, Seconds: 600}); err != nil {
		r.t.Fatal(err)
	}
	asset, err := create.Handle(ctx, alice, commands.CreateAsset{Kind: domain.AssetKindVideo, Name: "clip"})
	if err != nil {
		r.t.Fatal(err)
	}
	key := "assets/" + asset.StreamID + "/source"
	if _, err := r.blobs.Put(ctx, key, strings.NewReader("x"), 1); err != nil {
		r.t.Fatal(err)
	}
	if _, err := upload.Handle(ctx, alice, commands.UploadAssetPart{AssetID: asset.StreamID, Part: domain.AssetPartSource, BlobKey: key, Size: 1}); err != nil {
		r.t.Fatal(err)
	}
	if _, err := probe.Handle(ctx, commands.Caller{}, commands.ProbeAsset{AssetID: asset.StreamID, Part: domain.AssetPartSource}); err != nil {
		r.t.Fatal(err)
	}
	res, err := request.Handle(requestCtx, alice, commands.RequestRender{AssetID: asset.StreamID,
		Output: domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.queue.add(res.StreamID)
	return res.StreamID
}

// run runs the worker until the render leaves running (or within expires),
// then stops it and returns the render.
func (r *rig) run(id string, within time.Duration) *domain.Render {
	r.t.Helper()
	ctx, stop := context.WithCancel(r.t.Context())
	done := make(chan error, 1)
	go func() { done <- r.worker.Run(ctx) }()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if rr := r.load(id); rr.Version() > 1 && rr.State() != domain.RenderStateRunning {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		r.t.Fatal(err)
	}
	return r.load(id)
}

func (r *rig) load(id string) *domain.Render {
	recs, err := r.store.Load(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	rr, err := domain.RebuildRender(recs)
	if err != nil {
		r.t.Fatal(err)
	}
	return rr
}

// outputs lists the files under the render's output folder.
func (r *rig) outputs(id string) []string {
	entries, err := os.ReadDir(filepath.Join(r.dir, "renders", id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestRenderWorker_a_verified_encode_is_committed_and_completed(t *testing.T) {
	r := newRig(t)
	id := r.render()
	got := r.run(id, 5*time.Second)
	if got.State() != domain.RenderStateCompleted {
		t.Fatalf("state %s, want completed", got.State())
	}
	res := got.Result()
	if res.Attempt != 1 || res.BlobKey != encoders.OutputKey(id, 1, domain.FormatMP4) || res.SizeBytes != int64(len("encoded")) ||
		res.Width != 1280 || res.Height != 720 || res.FastPath {
		t.Errorf("result %+v", res)
	}
	if files := r.outputs(id); !slices.Equal(files, []string{"attempt-1.mp4"}) {
		t.Errorf("outputs %v, want the committed file alone", files)
	}
	if r.media.verified.Load() != 1 {
		t.Error("the output was not verified")
	}
}

func TestRenderWorker_failures_are_recorded_with_their_codes_and_leave_no_output(t *testing.T) {
	cases := []struct {
		name      string
		run       error
		verify    error
		code      string
		retryable bool // requesting the render again may succeed
	}{
		{"ffmpeg_exits_with_an_error", &mediaErr{"encode_failed", "x264 [error]: broken"}, nil, "encode_failed", true},
		{"ffmpeg_makes_no_progress", &mediaErr{"timeout", "ffmpeg made no progress for 10m0s"}, nil, "timeout", true},
		{"ffmpeg_needs_more_memory_than_the_cap", &mediaErr{"memory_limit_exceeded", "ffmpeg needed more than the 4096 MiB memory limit"}, nil,
			"memory_limit_exceeded", false},
		{"the_output_fails_verification", nil, &mediaErr{"output_invalid", "size: got 1280×718"}, "output_invalid", false},
		{"the_worker_itself_fails", errors.New("exec: ffmpeg not found"), nil, "encode_failed", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.media.runErr, r.media.verifyErr = c.run, c.verify
			id := r.render()
			got := r.run(id, 5*time.Second)
			if got.State() != domain.RenderStateFailed || got.Failure().Code != c.code {
				t.Fatalf("state %s failure %+v, want failed %s", got.State(), got.Failure(), c.code)
			}
			if failed := r.failedEvent(id); failed.Retryable != c.retryable {
				t.Errorf("render.failed %+v, want retryable %v", failed, c.retryable)
			}
			if files := r.outputs(id); len(files) > 0 {
				t.Errorf("outputs left behind: %v", files)
			}
		})
	}
}

func TestRenderWorker_a_source_missing_from_the_blob_store_fails_as_source_unreadable(t *testing.T) {
	r := newRig(t)
	id := r.render()
	recs, _ := r.store.Load(t.Context(), id)
	asset := recs[0].Event.(domain.RenderRequested).AssetID
	if err := r.blobs.Delete(t.Context(), "assets/"+asset+"/source"); err != nil {
		t.Fatal(err)
	}
	got := r.run(id, 5*time.Second)
	if got.State() != domain.RenderStateFailed || got.Failure().Code != domain.FailureSourceUnreadable || r.media.runs.Load() != 0 {
		t.Fatalf("state %s failure %+v after %d runs, want source_unreadable before ffmpeg", got.State(), got.Failure(), r.media.runs.Load())
	}
}

// A store that cannot answer is no fault of the source: the render fails
// encode_failed, retryable, and ffmpeg never starts.
func TestRenderWorker_a_store_that_cannot_fetch_the_source_fails_retryable(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.blobs.fetchErr = errors.New("s3: connection refused")
	got := r.run(id, 5*time.Second)
	if got.State() != domain.RenderStateFailed || got.Failure().Code != domain.FailureEncodeFailed || r.media.runs.Load() != 0 {
		t.Fatalf("state %s failure %+v after %d runs, want encode_failed before ffmpeg", got.State(), got.Failure(), r.media.runs.Load())
	}
	if failed := r.failedEvent(id); !failed.Retryable || strings.Contains(failed.Message, "s3") {
		t.Errorf("render.failed %+v, want retryable, naming no store", failed)
	}
}

func TestRenderWorker_a_store_that_cannot_take_the_output_fails_retryable_and_leaves_nothing(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.blobs.commitErr = errors.New("s3: PutObject: 503 SlowDown")
	got := r.run(id, 5*time.Second)
	if got.State() != domain.RenderStateFailed || got.Failure().Code != domain.FailureEncodeFailed {
		t.Fatalf("state %s failure %+v, want encode_failed", got.State(), got.Failure())
	}
	if failed := r.failedEvent(id); !failed.Retryable || strings.Contains(failed.Message, "s3") {
		t.Errorf("render.failed %+v, want retryable, naming no store", failed)
	}
	if files := r.outputs(id); len(files) > 0 {
		t.Errorf("outputs left behind: %v", files)
	}
}

// A store's restart: the source and the output are asked for again until
// the store answers, and the render completes with one attempt.
func TestRenderWorker_a_store_that_fails_for_a_while_is_asked_again_and_the_render_completes(t *testing.T) {
	for _, part := range []string{"fetch", "commit"} {
		t.Run(part, func(t *testing.T) {
			r := newRig(t)
			id := r.render()
			if part == "fetch" {
				r.blobs.fetchErr = errors.New("s3: connection refused")
				r.blobs.fetchFails.Store(2)
			} else {
				r.blobs.commitErr = errors.New("s3: PutObject: 503 SlowDown")
				r.blobs.commitFails.Store(2)
			}
			got := r.run(id, 5*time.Second)
			if got.State() != domain.RenderStateCompleted || got.Attempt() != 1 {
				t.Fatalf("state %s attempt %d, want completed at the first attempt", got.State(), got.Attempt())
			}
			if f, c := r.blobs.fetches.Load(), r.blobs.commits.Load(); f+c != 5 {
				t.Errorf("%d fetches and %d commits, want 5 in all: two refused, then each once", f, c)
			}
			if runs := r.media.runs.Load(); runs != 1 {
				t.Errorf("ffmpeg ran %d times, want once: a refused commit keeps the output", runs)
			}
		})
	}
}

func TestRenderWorker_a_cancel_before_ffmpeg_starts_prevents_the_start(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.media.beforeRun = func() { r.cancelRender(id) } // between the claim and ffmpeg
	got := r.run(id, 5*time.Second)
	if got.State() != domain.RenderStateCancelled || r.media.runs.Load() != 0 {
		t.Fatalf("state %s after %d ffmpeg runs, want cancelled after none", got.State(), r.media.runs.Load())
	}
	if files := r.outputs(id); len(files) > 0 {
		t.Errorf("outputs left behind: %v", files)
	}
}

func TestRenderWorker_a_cancel_mid_encode_stops_ffmpeg_and_removes_the_partial_output(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.media.block = true
	r.media.onRun = func() { r.cancelRender(id) }
	got := r.run(id, 5*time.Second)
	if got.State() != domain.RenderStateCancelled || !r.media.stopped.Load() {
		t.Fatalf("state %s, ffmpeg stopped %v; want cancelled and stopped", got.State(), r.media.stopped.Load())
	}
	if files := r.outputs(id); len(files) > 0 {
		t.Errorf("outputs left behind: %v", files)
	}
}

func TestRenderWorker_a_cancel_after_ffmpeg_exits_refuses_the_completion_and_deletes_the_output(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.media.onVerify = func() { r.cancelRender(id) } // ffmpeg is done, CompleteRender not yet sent
	got := r.run(id, 5*time.Second)
	if got.State() != domain.RenderStateCancelled || got.Result() != nil {
		t.Fatalf("state %s result %+v, want cancelled without a result", got.State(), got.Result())
	}
	if files := r.outputs(id); len(files) > 0 {
		t.Errorf("the refused output is still stored: %v", files)
	}
}

func TestRenderWorker_shutdown_hands_the_render_back_without_counting_a_crash(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.media.block = true
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.worker.Run(ctx) }()
	for r.media.runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := r.load(id)
	if got.State() != domain.RenderStatePending || got.Crashes() != 0 || got.Attempt() != 1 {
		t.Fatalf("state %s, crashes %d, attempt %d; want pending for attempt 2 with no crash", got.State(), got.Crashes(), got.Attempt())
	}
	if j, ok := r.queue.job(id); !ok || j.State != domain.RenderStatePending {
		t.Errorf("queue row %+v, %v; want pending", j, ok)
	}
	if files := r.outputs(id); len(files) > 0 {
		t.Errorf("outputs left behind: %v", files)
	}
}

func TestRenderWorker_progress_is_reported_in_steps_and_never_reaches_100_before_completion(t *testing.T) {
	r := newRig(t)
	id := r.render()
	for ms := 0; ms <= 2000; ms += 40 { // 51 blocks over the 2 s plan
		r.media.progress = append(r.media.progress, encoders.Progress{OutTime: time.Duration(ms) * time.Millisecond, Speed: 2})
	}
	r.run(id, 5*time.Second)
	recs, _ := r.store.Load(t.Context(), id)
	var percents []int
	for _, rec := range recs {
		if p, ok := rec.Event.(domain.RenderProgressed); ok {
			percents = append(percents, p.Percent)
		}
	}
	if len(percents) == 0 || len(percents) > 20 {
		t.Fatalf("progress reports %v: want a few, at most one per 5 %%", percents)
	}
	for i, p := range percents {
		if p >= 100 || (i > 0 && p <= percents[i-1]) {
			t.Errorf("progress reports %v: want increasing, below 100", percents)
		}
	}
}

// failedEvent is the render's render.failed.
func (r *rig) failedEvent(id string) domain.RenderFailed {
	r.t.Helper()
	recs, err := r.store.Load(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, rec := range recs {
		if f, ok := rec.Event.(domain.RenderFailed); ok {
			return f
		}
	}
	r.t.Fatalf("render %s has no render.failed", id)
	return domain.RenderFailed{}
}

func (r *rig) cancelRender(id string) {
	if _, err := r.cancel.Handle(context.Background(), alice, commands.CancelRender{RenderID: id}); err != nil {
		r.t.Error(err)
	}
}

// scriptedMedia plays ffmpeg: Run writes "encoded" to the output (the last
// argument) unless told to fail or to block until its context ends.
type scriptedMedia struct {
	runErr, verifyErr error
	block             bool
	progress          []encoders.Progress
	beforeRun, onRun  func()
	onVerify          func()
	runs, verified    atomic.Int64
	stopped           atomic.Bool
	once              sync.Once
}

func (m *scriptedMedia) InputArgs(path, container string) ([]string, error) {
	if m.beforeRun != nil {
		m.once.Do(m.beforeRun)
	}
	return []string{"-f", "mp4", "-i", "file:" + path}, nil
}

func (m *scriptedMedia) Run(ctx context.Context, args []string, onProgress func(encoders.Progress)) error {
	m.runs.Add(1)
	out := args[len(args)-1][len("file:"):]
	if err := os.WriteFile(out, []byte("encoded"), 0o600); err != nil {
		return err
	}
	for _, p := range m.progress {
		onProgress(p)
		time.Sleep(time.Millisecond)
	}
	if m.onRun != nil {
		m.onRun()
	}
	if m.block {
		<-ctx.Done()
		m.stopped.Store(true)
		return ctx.Err()
	}
	return m.runErr
}

func (m *scriptedMedia) Verify(_ context.Context, path string, want encoders.Expect) (domain.MediaInfo, error) {
	m.verified.Add(1)
	if m.onVerify != nil {
		m.onVerify()
	}
	if m.verifyErr != nil {
		return domain.MediaInfo{}, m.verifyErr
	}
	return domain.MediaInfo{Duration: want.Duration, Width: want.Width, Height: want.Height, HasVideo: true, HasAudio: true}, nil
}

type mediaErr struct{ code, message string }

func (e *mediaErr) Error() string          { return e.code + ": " + e.message }
func (e *mediaErr) FailureCode() string    { return e.code }
func (e *mediaErr) FailureMessage() string { return e.message }

type fixedProbe struct{}

func (fixedProbe) Probe(context.Context, string) (domain.MediaInfo, error) { return source, nil }

// flakyStore is the memstore as a worker reaches it over a network that can
// fail: while down, every call fails as a refused connection does.
type flakyStore struct {
	*memstore.Store
	down    atomic.Bool
	refused atomic.Int64
}

var errConnRefused = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (s *flakyStore) Transact(ctx context.Context, streams []string, fn func(context.Context, commands.Tx) error) error {
	if s.down.Load() {
		s.refused.Add(1)
		return errConnRefused
	}
	return s.Store.Transact(ctx, streams, fn)
}

func (s *flakyStore) Load(ctx context.Context, id string) ([]domain.Recorded, error) {
	if s.down.Load() {
		s.refused.Add(1)
		return nil, errConnRefused
	}
	return s.Store.Load(ctx, id)
}

// outage takes the store down until it has refused n calls.
func (s *flakyStore) outage(n int64) {
	s.refused.Store(0)
	s.down.Store(true)
	go func() {
		for s.refused.Load() < n {
			time.Sleep(time.Millisecond)
		}
		s.down.Store(false)
	}()
}

// memQueue is encoders.RenderQueue over the memstore's render queue.
type memQueue struct {
	store *flakyStore
	mu    sync.Mutex
	ids   []string
}

func (q *memQueue) add(id string) { q.mu.Lock(); q.ids = append(q.ids, id); q.mu.Unlock() }

func (q *memQueue) job(id string) (j commands.RenderJob, ok bool) {
	j, ok, _ = q.find(id)
	return j, ok
}

func (q *memQueue) find(id string) (j commands.RenderJob, ok bool, err error) {
	err = q.store.Transact(context.Background(), []string{id}, func(ctx context.Context, tx commands.Tx) (err error) {
		j, ok, err = tx.RenderJob(ctx, id)
		return err
	})
	return j, ok, err
}

func (q *memQueue) Pending(context.Context, int, int) ([]commands.PendingRender, error) {
	q.mu.Lock()
	ids := slices.Clone(q.ids)
	q.mu.Unlock()
	var out []commands.PendingRender
	for _, id := range ids {
		if j, ok := q.job(id); ok && j.State == domain.RenderStatePending {
			out = append(out, commands.PendingRender{RenderID: id, AccountID: j.AccountID, TraceParent: j.TraceParent, TraceState: j.TraceState})
		}
	}
	return out, nil
}

func (q *memQueue) Expired(_ context.Context, now time.Time, _ int) ([]commands.RenderJob, error) {
	q.mu.Lock()
	ids := slices.Clone(q.ids)
	q.mu.Unlock()
	var out []commands.RenderJob
	for _, id := range ids {
		j, ok, err := q.find(id)
		if err != nil {
			return nil, err
		}
		if ok && j.State == domain.RenderStateRunning && j.LeaseUntil.Before(now) {
			out = append(out, j)
		}
	}
	return out, nil
}

func (q *memQueue) Renew(ctx context.Context, id string, attempt int, worker string, until time.Time) (held bool, err error) {
	err = q.store.Transact(ctx, []string{id}, func(ctx context.Context, tx commands.Tx) error {
		j, ok, err := tx.RenderJob(ctx, id)
		if held = ok && j.State == domain.RenderStateRunning && j.Attempt == attempt && j.WorkerID == worker; !held || err != nil {
			return err
		}
		j.LeaseUntil = until
		return tx.SetRenderJob(ctx, j)
	})
	return held, err
}

func (q *memQueue) Held(_ context.Context, id string, attempt int, worker string) (bool, error) {
	j, ok, err := q.find(id)
	return ok && j.State == domain.RenderStateRunning && j.Attempt == attempt && j.WorkerID == worker, err
}

// The database goes away between ffmpeg's exit and CompleteRender: the
// worker keeps the verified output, asks again once it is back, and the
// render completes with its first attempt.
func TestRenderWorker_a_completion_during_an_outage_keeps_the_output_and_completes_once_the_store_is_back(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.media.onVerify = func() { r.db.outage(30) } // the lease watcher's and the completion's calls
	got := r.run(id, 10*time.Second)
	if got.State() != domain.RenderStateCompleted || got.Result().Attempt != 1 || got.Attempt() != 1 {
		t.Fatalf("state %s attempt %d result %+v; want completed by attempt 1", got.State(), got.Attempt(), got.Result())
	}
	if files := r.outputs(id); !slices.Equal(files, []string{"attempt-1.mp4"}) {
		t.Errorf("outputs %v, want the kept output alone", files)
	}
	if n := r.media.runs.Load(); n != 1 {
		t.Errorf("%d encodes, want 1", n)
	}
}

// A render cancelled while the worker could not reach the store: once it
// answers, the completion is refused and the kept output deleted.
func TestRenderWorker_a_cancel_during_an_outage_refuses_the_completion_and_deletes_the_kept_output(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.media.onVerify = func() {
		r.db.outage(30)
		r.cancelRender(id) // through the API, which still reaches the store
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.worker.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); (r.media.verified.Load() == 0 || len(r.outputs(id)) > 0) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	if got := r.load(id); got.State() != domain.RenderStateCancelled || got.Result() != nil {
		t.Fatalf("state %s result %+v, want cancelled without a result", got.State(), got.Result())
	}
	if files := r.outputs(id); len(files) > 0 {
		t.Errorf("the refused output is still stored: %v", files)
	}
}

// A completion that went through although its answer was lost is asked
// again: the repeat succeeds without new events, so the worker keeps the
// output, which is the deliverable, instead of deleting it as refused.
func TestRenderWorker_a_completion_repeated_after_it_went_through_succeeds_without_new_events(t *testing.T) {
	r := newRig(t)
	id := r.render()
	got := r.run(id, 5*time.Second)
	res := *got.Result()
	if _, err := r.cmds.Complete.Handle(t.Context(), commands.Caller{}, commands.CompleteRender{RenderID: id, Result: res}); err != nil {
		t.Fatalf("repeating the completion: %v", err)
	}
	if again := r.load(id); again.Version() != got.Version() {
		t.Errorf("the repeat recorded events: version %d → %d", got.Version(), again.Version())
	}
}

// A reaper that has not seen the store answer for a whole lease does not
// reap: a lease that ran out says nothing while the workers could not
// renew. Once it has, it re-queues the render and deletes the output the
// lost attempt committed.
func TestRenderWorker_the_reaper_waits_a_whole_lease_of_answers_and_deletes_the_lost_attempts_output(t *testing.T) {
	r := newRig(t)
	id := r.render()
	// Another worker claimed it, committed its output, and vanished.
	attempt, _, err := r.cmds.Start.Handle(t.Context(), alice, commands.StartRender{RenderID: id, AccountID: alice.AccountID,
		WorkerID: "w-gone", LeaseUntil: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	key := encoders.OutputKey(id, attempt, domain.FormatMP4)
	if _, err := r.blobs.Put(t.Context(), key, strings.NewReader("encoded"), 7); err != nil {
		t.Fatal(err)
	}
	r.media.block = true // the next attempt runs until the test ends
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- r.worker.Run(ctx) }()
	for r.load(id).Attempt() == attempt && time.Since(started) < 20*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	reaped := time.Since(started)
	stop()
	<-done
	got := r.load(id)
	t.Logf("reaped %s after the worker started (lease 3s)", reaped.Round(time.Millisecond))
	if got.Attempt() != attempt+1 || got.Crashes() != 1 {
		t.Fatalf("attempt %d crashes %d; want attempt %d after one lost lease", got.Attempt(), got.Crashes(), attempt+1)
	}
	if reaped < 3*time.Second {
		t.Errorf("reaped %s after start, before a whole lease of answers", reaped)
	}
	if files := r.outputs(id); slices.Contains(files, "attempt-1.mp4") {
		t.Errorf("the lost attempt's output is still stored: %v", files)
	}
}

// A worker that shuts down while its completion has no answer stops after
// one last try and leaves the output: its fate is unknown (the completion
// may have gone through). Once the database is back, the reaper re-queues
// the attempt and deletes that output; the next attempt delivers.
func TestRenderWorker_shutdown_during_an_outage_leaves_the_output_to_the_reaper(t *testing.T) {
	r := newRig(t)
	id := r.render()
	r.media.onVerify = func() { r.db.down.Store(true) }
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.worker.Run(ctx) }()
	for r.db.refused.Load() < 10 {
		time.Sleep(time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if files := r.outputs(id); !slices.Equal(files, []string{"attempt-1.mp4"}) {
		t.Fatalf("outputs after the shutdown %v, want attempt 1's kept", files)
	}

	r.db.down.Store(false)
	r.media.onVerify = nil
	ctx, stop = context.WithCancel(t.Context()) // the reaper, then attempt 2
	go func() { done <- r.worker.Run(ctx) }()
	for deadline := time.Now().Add(20 * time.Second); r.load(id).State() != domain.RenderStateCompleted && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := r.load(id)
	if got.State() != domain.RenderStateCompleted || got.Result().Attempt != 2 || got.Crashes() != 1 {
		t.Fatalf("state %s result %+v crashes %d; want completed by attempt 2 after one lost lease", got.State(), got.Result(), got.Crashes())
	}
	if files := r.outputs(id); !slices.Equal(files, []string{"attempt-2.mp4"}) {
		t.Errorf("outputs %v, want attempt 2's alone", files)
	}
}
