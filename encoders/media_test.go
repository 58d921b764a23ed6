package encoders_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/memstore"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// The media worker's pool on an in-memory store, a scripted queue and a
// gated ffprobe: how many jobs run, and how each claim ends. The real
// queue's claims are the Postgres adapter's tests; the real ffprobe and
// silencedetect run in cmd/renderd's tests.

type mediaRig struct {
	t      *testing.T
	db     *flakyStore
	d      commands.Deps
	probe  *gatedProbe
	queue  *scriptedQueue
	worker *encoders.MediaWorker
}

func newMediaRig(t *testing.T, cfg encoders.MediaWorkerConfig) *mediaRig {
	var n atomic.Int64
	db := &flakyStore{Store: memstore.New(func() string { return fmt.Sprint("evt_", n.Add(1)) })}
	d := commands.Deps{Store: db, Now: time.Now, NewID: func(p string) string { return fmt.Sprintf("%s_%d", p, n.Add(1)) }}
	r := &mediaRig{t: t, db: db, d: d, probe: &gatedProbe{release: make(chan struct{}), started: make(chan string, 100)}, queue: &scriptedQueue{}}
	probe, err := commands.NewProbeAssetHandler(d, r.probe, fakeBlobs{}, domain.SourceLimits{})
	if err != nil {
		t.Fatal(err)
	}
	cuts, err := commands.NewCompleteCutHandler(d, noSilences{}, fakeBlobs{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.WorkerID = "w1"
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.Lease == 0 {
		cfg.Lease = time.Minute
	}
	cfg.PollInterval = 10 * time.Millisecond
	r.worker, err = encoders.NewMediaWorker(cfg, probe, cuts, db, r.queue, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	grant, _ := commands.NewGrantCreditsHandler(d)
	if _, err := grant.Handle(t.Context(), commands.Caller{}, commands.GrantCredits{AccountID: alice.AccountID, Seconds: 600}); err != nil {
		t.Fatal(err)
	}
	return r
}

// uploads makes n uploaded video assets and puts their probe jobs, as the
// store queued them, in the scripted queue.
func (r *mediaRig) uploads(n int) []string {
	create, _ := commands.NewCreateAssetHandler(r.d)
	upload, _ := commands.NewUploadAssetPartHandler(r.d, commands.UploadLimits{})
	var ids []string
	for range n {
		a, err := create.Handle(r.t.Context(), alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
		if err != nil {
			r.t.Fatal(err)
		}
		key := "assets/" + a.StreamID + "/source"
		if _, err := upload.Handle(r.t.Context(), alice, commands.UploadAssetPart{AssetID: a.StreamID, Part: domain.AssetPartSource, BlobKey: key}); err != nil {
			r.t.Fatal(err)
		}
		ids = append(ids, a.StreamID)
	}
	r.queue.add(r.db.MediaJobs()...)
	return ids
}

// start runs the worker until the returned stop is called.
func (r *mediaRig) start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.worker.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Error(err)
		}
	}
}

func (r *mediaRig) asset(id string) *domain.Asset {
	recs, _ := r.d.Store.Load(context.Background(), id)
	a, err := domain.RebuildAsset(recs)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

// eventually waits for cond, failing after a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestMediaWorker_runs_at_most_its_concurrency_and_ends_every_claim(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{Concurrency: 2})
	ids := r.uploads(5)
	stop := r.start()
	defer stop()
	<-r.probe.started
	<-r.probe.started
	eventually(t, "two probes to run", func() bool { return r.probe.running.Load() == 2 })
	if c := r.queue.claimsHeld(); c != 2 {
		t.Fatalf("%d claims held with 2 slots busy", c)
	}
	for range ids {
		r.probe.release <- struct{}{} // ends one probe; a freed slot claims the next job
	}
	eventually(t, "every job to end", func() bool { return r.queue.len() == 0 })
	if m := r.probe.max.Load(); m != 2 {
		t.Errorf("at most %d probes ran at once, want 2", m)
	}
	for _, id := range ids {
		if s := r.asset(id).State(); s != domain.AssetStateReady {
			t.Errorf("%s is %s", id, s)
		}
	}
}

func TestMediaWorker_hands_its_jobs_back_on_shutdown_without_counting_an_attempt(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{})
	ids := r.uploads(1)
	stop := r.start()
	<-r.probe.started
	stop() // ffprobe is stopped by the job's context
	j := r.queue.only(t)
	if j.State != commands.MediaJobPending || j.Attempts != 0 || r.queue.released.Load() != 1 {
		t.Errorf("after the shutdown the job is %+v, released %d times", j, r.queue.released.Load())
	}
	if a := r.asset(ids[0]); a.Failure() != nil || a.Version() != 2 {
		t.Errorf("the interrupted probe recorded something: failure %+v, version %d", a.Failure(), a.Version())
	}
}

func TestMediaWorker_renews_the_lease_while_a_job_runs(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{Lease: 30 * time.Millisecond})
	r.uploads(1)
	stop := r.start()
	defer stop()
	<-r.probe.started
	eventually(t, "three renewals", func() bool { return r.queue.renewals.Load() >= 3 })
	r.probe.release <- struct{}{}
	eventually(t, "the job to end", func() bool { return r.queue.len() == 0 })
}

func TestMediaWorker_a_claim_that_ended_elsewhere_stops_its_job(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{Lease: 30 * time.Millisecond})
	ids := r.uploads(1)
	stop := r.start()
	defer stop()
	<-r.probe.started
	r.queue.loseClaims() // another worker claimed it after a lost lease
	eventually(t, "the probe to stop", func() bool { return r.probe.stopped.Load() == 1 })
	if r.queue.released.Load() != 0 || r.queue.ended.Load() != 0 || r.asset(ids[0]).Version() != 2 {
		t.Errorf("a job whose claim ended elsewhere was handed back (%d), ended (%d) or recorded", r.queue.released.Load(), r.queue.ended.Load())
	}
}

func TestMediaWorker_a_job_whose_leases_were_lost_three_times_fails_without_the_media_tool(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{})
	ids := r.uploads(1)
	r.queue.mu.Lock()
	r.queue.jobs[0].Attempts = domain.MaxCrashedAttempts // the claim makes it one more
	r.queue.mu.Unlock()
	stop := r.start()
	defer stop()
	eventually(t, "the job to end", func() bool { return r.queue.len() == 0 })
	if f := r.asset(ids[0]).Failure(); f == nil || f.Code != domain.FailureMediaCrashed || r.probe.calls.Load() != 0 {
		t.Errorf("failure %+v after %d probes", f, r.probe.calls.Load())
	}
}

func TestMediaWorker_a_transient_failure_hands_the_job_back_for_later(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{RetryDelay: time.Hour})
	ids := r.uploads(1)
	r.probe.fail = errors.New("exec: ffprobe: not found")
	stop := r.start()
	defer stop()
	eventually(t, "the job to be handed back", func() bool { return r.queue.released.Load() == 1 })
	j := r.queue.only(t)
	if j.State != commands.MediaJobPending || j.Attempts != 0 || time.Until(j.notBefore) < 30*time.Minute {
		t.Errorf("handed back as %+v, not before %s", j.MediaJob, j.notBefore)
	}
	if a := r.asset(ids[0]); a.Failure() != nil {
		t.Errorf("the worker's own trouble failed the asset: %+v", a.Failure())
	}
}

// The store goes away once ffprobe has run and the worker shuts down
// before it is back: one last try, then the job is handed back (the queue
// still answers), not counted as an attempt, the probe not recorded.
func TestMediaWorker_shutdown_while_a_probe_waits_to_be_recorded_hands_the_job_back(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{})
	ids := r.uploads(1)
	stop := r.start()
	<-r.probe.started
	r.db.down.Store(true)
	r.probe.release <- struct{}{}
	eventually(t, "recording to fail", func() bool { return r.db.refused.Load() >= 2 })
	stop() // returns: the worker does not wait for the store
	j := r.queue.only(t)
	if j.State != commands.MediaJobPending || j.Attempts != 0 || r.queue.released.Load() != 1 {
		t.Errorf("after the shutdown the job is %+v, released %d times", j.MediaJob, r.queue.released.Load())
	}
	r.db.down.Store(false)
	if a := r.asset(ids[0]); a.Version() != 2 {
		t.Errorf("the probe was recorded although the store was away: version %d", a.Version())
	}
}

// Recording keeps failing while the queue answers the lease watcher: that
// is no outage, so after a whole lease the worker stops asking and hands
// the job back for later.
func TestMediaWorker_a_record_failing_for_a_lease_while_the_queue_answers_is_handed_back(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{Lease: 300 * time.Millisecond, RetryDelay: time.Hour})
	r.uploads(1)
	stop := r.start()
	defer stop()
	<-r.probe.started
	r.db.down.Store(true)
	r.probe.release <- struct{}{}
	eventually(t, "the job to be handed back", func() bool { return r.queue.released.Load() == 1 })
	if n := r.queue.renewals.Load(); n < 2 {
		t.Errorf("%d renewals while recording failed, want the lease kept", n)
	}
	if j := r.queue.only(t); j.State != commands.MediaJobPending || j.Attempts != 0 || r.probe.calls.Load() != 1 {
		t.Errorf("handed back as %+v after %d probes", j.MediaJob, r.probe.calls.Load())
	}
}

func TestMediaWorker_a_job_its_command_refuses_for_good_is_dropped(t *testing.T) {
	r := newMediaRig(t, encoders.MediaWorkerConfig{})
	r.queue.add(commands.MediaJob{JobID: commands.ProbeJobID("ast_gone", domain.AssetPartSource), Kind: commands.MediaJobProbe,
		AccountID: "acc_alice", AssetID: "ast_gone", Part: domain.AssetPartSource, State: commands.MediaJobPending})
	stop := r.start()
	defer stop()
	eventually(t, "the job to be dropped", func() bool { return r.queue.len() == 0 })
	if r.queue.ended.Load() != 1 || r.queue.released.Load() != 0 {
		t.Errorf("ended %d, released %d", r.queue.ended.Load(), r.queue.released.Load())
	}
}

// gatedProbe is ffprobe that waits for release (or its context) and
// counts how many run at once.
type gatedProbe struct {
	release      chan struct{}
	started      chan string
	fail         error
	calls, done  atomic.Int64
	running, max atomic.Int64
	stopped      atomic.Int64
}

func (p *gatedProbe) Probe(ctx context.Context, path string) (domain.MediaInfo, error) {
	p.calls.Add(1)
	if p.fail != nil {
		return domain.MediaInfo{}, p.fail
	}
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for {
		m := p.max.Load()
		if n <= m || p.max.CompareAndSwap(m, n) {
			break
		}
	}
	p.started <- path
	select {
	case <-p.release:
		p.done.Add(1)
		return source, nil
	case <-ctx.Done():
		p.stopped.Add(1)
		return domain.MediaInfo{}, ctx.Err()
	}
}

type noSilences struct{}

func (noSilences) DetectSilences(context.Context, string, domain.SilenceRemoval) ([]domain.Segment, time.Duration, error) {
	return []domain.Segment{{End: time.Second}}, 2 * time.Second, nil
}

type fakeBlobs struct{}

func (fakeBlobs) Fetch(_ context.Context, key string) (string, func(), error) {
	return "/blobs/" + key, func() {}, nil
}
func (fakeBlobs) Delete(context.Context, string) error { return nil }

// scriptedQueue is encoders.MediaQueue in memory: claims in the order the
// jobs were added.
type scriptedQueue struct {
	mu       sync.Mutex
	jobs     []queuedJob
	lost     bool
	renewals atomic.Int64
	released atomic.Int64
	ended    atomic.Int64
}

type queuedJob struct {
	commands.MediaJob
	notBefore time.Time
}

func (q *scriptedQueue) add(jobs ...commands.MediaJob) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range jobs {
		q.jobs = append(q.jobs, queuedJob{MediaJob: j})
	}
}

func (q *scriptedQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}

func (q *scriptedQueue) only(t *testing.T) queuedJob {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) != 1 {
		t.Fatalf("%d jobs queued, want 1", len(q.jobs))
	}
	return q.jobs[0]
}

func (q *scriptedQueue) claimsHeld() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, j := range q.jobs {
		if j.State == commands.MediaJobRunning {
			n++
		}
	}
	return n
}

// loseClaims makes every claim end elsewhere.
func (q *scriptedQueue) loseClaims() { q.mu.Lock(); q.lost = true; q.mu.Unlock() }

func (q *scriptedQueue) Claim(_ context.Context, worker string, _ time.Duration, probesOnly, _ bool) (commands.MediaJob, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, j := range q.jobs {
		if j.State == commands.MediaJobPending && !time.Now().Before(j.notBefore) && (!probesOnly || j.Kind == commands.MediaJobProbe) {
			q.jobs[i].State, q.jobs[i].WorkerID, q.jobs[i].Attempts = commands.MediaJobRunning, worker, j.Attempts+1
			return q.jobs[i].MediaJob, true, nil
		}
	}
	return commands.MediaJob{}, false, nil
}

// held finds the claim's job; the caller holds mu.
func (q *scriptedQueue) held(c commands.MediaJob) int {
	if q.lost {
		return -1
	}
	return slices.IndexFunc(q.jobs, func(j queuedJob) bool {
		return j.JobID == c.JobID && j.State == commands.MediaJobRunning && j.WorkerID == c.WorkerID && j.Attempts == c.Attempts
	})
}

func (q *scriptedQueue) Renew(_ context.Context, c commands.MediaJob, _ time.Duration) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.renewals.Add(1)
	return q.held(c) >= 0, nil
}

func (q *scriptedQueue) Release(_ context.Context, c commands.MediaJob, notBefore time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := q.held(c); i >= 0 {
		q.released.Add(1)
		q.jobs[i].State, q.jobs[i].WorkerID, q.jobs[i].Attempts, q.jobs[i].notBefore = commands.MediaJobPending, "", c.Attempts-1, notBefore
	}
	return nil
}

func (q *scriptedQueue) Done(_ context.Context, c commands.MediaJob) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := q.held(c); i >= 0 {
		q.ended.Add(1)
		q.jobs = slices.Delete(q.jobs, i, i+1)
	}
	return nil
}

func TestMediaWorker_silence_detections_leave_a_slot_for_probes(t *testing.T) {
	for _, c := range []struct {
		slots, detecting int
		probesOnly       bool
	}{{1, 0, false}, {1, 1, false}, {2, 0, false}, {2, 1, true}, {4, 2, false}, {4, 3, true}} {
		if got := encoders.ProbesOnly(c.slots, c.detecting); got != c.probesOnly {
			t.Errorf("%d slots, %d detecting: probes only = %v, want %v", c.slots, c.detecting, got, c.probesOnly)
		}
	}
}
