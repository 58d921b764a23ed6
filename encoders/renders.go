package encoders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/telemetry"
)

// RenderQueue is the encoders' side of commands.RenderQueue: renders to
// claim, and the leases of running attempts. *postgres.RenderJobs
// implements it.
type RenderQueue interface {
	// Pending lists renders waiting for a claim in the order to claim
	// them: fair across accounts (the oldest render of the account with the
	// fewest running first), leaving out accounts that run maxRunning
	// renders already (0: no limit).
	Pending(ctx context.Context, limit, maxRunning int) ([]commands.PendingRender, error)
	// Expired lists running attempts whose lease ended before now.
	Expired(ctx context.Context, now time.Time, limit int) ([]commands.RenderJob, error)
	// Renew extends a running attempt's lease, one that ran out but was not
	// reaped included; held is false once the attempt no longer runs for
	// the worker (cancelled, finished, reaped).
	Renew(ctx context.Context, renderID string, attempt int, workerID string, until time.Time) (held bool, err error)
	// Held is Renew without the renewal, cheap enough to ask every few
	// hundred milliseconds.
	Held(ctx context.Context, renderID string, attempt int, workerID string) (bool, error)
}

// Blobs is the blob store as the render pipeline uses it: the source as a
// local file for ffmpeg (Fetch: the store's own file, or a copy in the
// process's scratch folder, released when the job ends), the output written
// by name to a local file and published whole (CreateTemp, Commit, Discard),
// and the removal of an output no render will use. A missing blob is an
// error matching fs.ErrNotExist. Every blob.Store implements it.
type Blobs interface {
	Fetch(ctx context.Context, key string) (path string, release func(), err error)
	CreateTemp(key string) (path string, err error)
	Commit(ctx context.Context, tmpPath, key string) (size int64, err error)
	Discard(tmpPath string) error
	Delete(ctx context.Context, key string) error
}

// Media runs ffmpeg and checks what it wrote. Failures the media itself causes implement
// commands.MediaFailure (a stable code and a message); any other error is
// the worker's own trouble. *ffmpeg.Encoder implements it.
type Media interface {
	// InputArgs opens path the way the upload's probe did (container
	// allowlist, file protocol only), ending in "-i file:<path>".
	InputArgs(path, container string) ([]string, error)
	// Run runs one encode until it exits; when ctx ends ffmpeg is stopped
	// (SIGTERM, then SIGKILL) and gone before Run returns ctx's error. An
	// encode that stalls or runs too long is stopped the same way and fails
	// with domain.FailureEncodeTimeout.
	Run(ctx context.Context, args []string, onProgress func(Progress)) error
	// Verify reads an output and checks it against want.
	Verify(ctx context.Context, path string, want Expect) (domain.MediaInfo, error)
}

// Progress is where a running encode is: one block of ffmpeg's -progress
// output.
type Progress struct {
	// OutTime is the output encoded so far (out_time_us, or out_time_ms,
	// which ffmpeg 5.1 also counts in µs). A block that has none ("N/A", or
	// negative before the first packet) repeats the previous position.
	OutTime time.Duration
	Speed   float64 // × real time ("speed=1.23x" → 1.23); 0 when unknown
	End     bool    // the encode's last block (progress=end)
}

// Expect is what a verified output must be.
type Expect struct {
	// Container must be one of the format names a probe records (ffprobe's,
	// which Verify reports too): "mp4" or "mov" (and "m4a") match
	// "mov,mp4,m4a,3gp,3g2,mj2", "mp3" matches "mp3". "" skips the check.
	Container     string
	VideoCodec    string // "h264", or "" when the output has no video
	AudioCodec    string // "aac", "mp3", or "" when the output has no audio
	Width, Height int    // displayed size; 0 when no video
	Duration      time.Duration
	// FrameRate is the source's frame rate ("30/1"), for the one-frame
	// tolerance of an output with video. "" means 50 ms only.
	FrameRate string
	// Faststart: an MP4/MOV/M4A output must hold its index (moov) before
	// its media data, as -movflags +faststart writes it (BuildCommand).
	Faststart bool
}

// RenderCommands are the commands an encoder reports through.
type RenderCommands struct {
	Start     *commands.StartRenderHandler
	Progress  *commands.ReportProgressHandler
	Complete  *commands.CompleteRenderHandler
	Fail      *commands.FailRenderHandler
	Retry     *commands.RetryRenderHandler
	LoseLease *commands.LoseRenderLeaseHandler
}

// RenderWorkerConfig tunes a RenderWorker.
type RenderWorkerConfig struct {
	WorkerID    string        // unique per process; recorded in render.started
	Concurrency int           // encodes at once
	Lease       time.Duration // renewed every third of it
	// PollInterval is how often the queue is read without a hint: it finds
	// renders whose Kafka message went to an encoder that died before
	// claiming, and it is how a busy encoder gets back to waiting work.
	PollInterval time.Duration
	// CancelCheck is how often a running job asks whether its attempt is
	// still its own: a cancel stops ffmpeg within about this long.
	CancelCheck time.Duration
	// MaxRunningPerAccount is how many renders of one account run at once
	// across all encoders (0: no limit); StartRender enforces it, and the
	// queue is read without the accounts at it.
	MaxRunningPerAccount int
	// Threads is each encode's -threads (Job.Threads); 0 is ffmpeg's choice.
	Threads int
	// SharedThreads, when set, is the -threads of an encode that starts
	// while other jobs of this worker run (the slot's share of the cores);
	// Threads is then that of an encode that starts alone, which may take
	// every core.
	SharedThreads int
	// ScratchDir is where each job gets its own folder for the files ffmpeg
	// reads besides the source (a cut's filter script); "" is os.TempDir().
	ScratchDir string
	// StorePatience is how long a job asks the blob store again, with
	// backoff, when it fails to hand over the source or to take the output
	// (an S3 outage or restart): only then does the attempt fail
	// (encode_failed, retryable). 0 is DefaultStorePatience.
	StorePatience time.Duration
}

// DefaultStorePatience rides out a blob store's restart or a short outage
// without failing the renders that meet it.
const DefaultStorePatience = 2 * time.Minute

// RenderWorker turns pending renders into deliverables: it claims them
// (StartRender), runs ffmpeg in a bounded pool outside any Kafka handler,
// keeps each attempt's lease alive, verifies and commits the output, and
// reports back only through the render commands. A reaper re-queues the
// renders of workers that vanished.
//
// Work comes from the RenderQueue, which the command transactions keep; a
// render.requested or render.retried message is only a hint to read the
// queue now. So acknowledging a message never loses a render, no partition
// waits for an encode, and every claim takes the render whose turn it is
// (RenderQueue.Pending): one account's hundred queued renders do not delay
// another account's one by more than about one encode.
type RenderWorker struct {
	cfg    RenderWorkerConfig
	cmds   RenderCommands
	events commands.EventStore
	queue  RenderQueue
	blobs  Blobs
	media  Media
	now    func() time.Time
	log    *slog.Logger

	slots chan struct{} // one token per running job
	hints chan struct{} // a render was announced on Kafka: read the queue
	freed chan struct{} // a job ended: read the queue again
	jobs  sync.WaitGroup
}

// The encoder slots gauge, bound once: it moves on every claim. Workers
// add and take away their own slots (not Set), so that several workers in
// one process (tests) sum up.
var (
	slotsBusy = telemetry.EncoderSlots.WithLabelValues("busy")
	slotsFree = telemetry.EncoderSlots.WithLabelValues("free")
)

// takeSlot reserves a slot for a claim; false when all are busy.
func (w *RenderWorker) takeSlot() bool {
	select {
	case w.slots <- struct{}{}:
		slotsBusy.Inc()
		slotsFree.Dec()
		return true
	default:
		return false
	}
}

// releaseSlot gives a slot back: the claim was lost, or the job ended.
func (w *RenderWorker) releaseSlot() {
	<-w.slots
	slotsBusy.Dec()
	slotsFree.Inc()
}

// NewRenderWorker checks its dependencies once.
func NewRenderWorker(cfg RenderWorkerConfig, cmds RenderCommands, events commands.EventStore, queue RenderQueue,
	blobs Blobs, media Media, now func() time.Time, log *slog.Logger) (*RenderWorker, error) {
	switch {
	case cfg.WorkerID == "" || cfg.Concurrency < 1 || cfg.Lease <= 0 || cfg.PollInterval <= 0 || cfg.CancelCheck <= 0 || cfg.MaxRunningPerAccount < 0 || cfg.Threads < 0 || cfg.SharedThreads < 0 || cfg.StorePatience < 0:
		return nil, fmt.Errorf("render worker: invalid config %+v", cfg)
	case cmds.Start == nil || cmds.Progress == nil || cmds.Complete == nil || cmds.Fail == nil || cmds.Retry == nil || cmds.LoseLease == nil:
		return nil, errors.New("render worker: every render command is required")
	case events == nil || queue == nil || blobs == nil || media == nil || now == nil || log == nil:
		return nil, errors.New("render worker: events, queue, blobs, media, clock and logger are required")
	}
	if cfg.StorePatience == 0 {
		cfg.StorePatience = DefaultStorePatience
	}
	return &RenderWorker{cfg: cfg, cmds: cmds, events: events, queue: queue, blobs: blobs, media: media, now: now,
		log:   log.With("component", "render-worker", "worker_id", cfg.WorkerID),
		slots: make(chan struct{}, cfg.Concurrency), hints: make(chan struct{}, 1), freed: make(chan struct{}, 1)}, nil
}

// Handle takes a render event from Kafka: a new or retried render is a hint
// to read the queue now if a slot is free. It never blocks on an encode.
func (w *RenderWorker) Handle(_ context.Context, rec domain.Recorded) error {
	switch rec.Event.(type) {
	case domain.RenderRequested, domain.RenderRetried:
		select {
		case w.hints <- struct{}{}:
		default: // a read of the queue is due already
		}
	}
	return nil
}

// Run claims and runs renders until ctx ends, then stops its encodes, hands
// their renders back (not counted as crashes) and returns once every job
// has.
func (w *RenderWorker) Run(ctx context.Context) error {
	var reaper sync.WaitGroup
	reaper.Go(func() { w.reap(ctx) })
	defer reaper.Wait()
	// The slots exist while the worker runs; each job gives its own back
	// before jobs.Wait returns.
	slotsFree.Add(float64(cap(w.slots)))
	defer slotsFree.Sub(float64(cap(w.slots)))
	defer w.jobs.Wait()

	poll := time.NewTicker(w.cfg.PollInterval)
	defer poll.Stop()
	w.claimPending(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.hints:
			w.claimPending(ctx)
		case <-w.freed:
			w.claimPending(ctx)
		case <-poll.C:
			w.claimPending(ctx)
		}
	}
}

// claimPending fills the free slots from the queue.
func (w *RenderWorker) claimPending(ctx context.Context) {
	free := cap(w.slots) - len(w.slots)
	if free == 0 {
		return
	}
	// A few more than the free slots: another encoder may win some.
	pending, err := w.queue.Pending(ctx, 2*free, w.cfg.MaxRunningPerAccount)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("reading the render queue failed", "err", err)
		}
		return
	}
	for _, p := range pending {
		if !w.claim(ctx, p) && len(w.slots) == cap(w.slots) {
			return
		}
	}
}

// claim starts a render's next attempt on a free slot and reports whether
// it did. Losing the claim to another encoder, finding the render no longer
// pending, or its account at its running limit, is routine.
func (w *RenderWorker) claim(ctx context.Context, p commands.PendingRender) bool {
	renderID := p.RenderID
	if !w.takeSlot() {
		return false // busy: the render stays queued
	}
	started := w.now()
	c := commands.Caller{CorrelationID: "claim_" + renderID}
	// The claim continues the trace of the command that queued the render
	// (its job row's), and the job's spans continue the claim's.
	cctx, span := telemetry.StartFrom(ctx, p.TraceParent, p.TraceState, "encoder claim")
	annotate(span, renderID)
	attempt, _, err := w.cmds.Start.Handle(cctx, c, commands.StartRender{RenderID: renderID, AccountID: p.AccountID,
		WorkerID: w.cfg.WorkerID, LeaseUntil: started.Add(w.cfg.Lease)})
	if err != nil {
		w.releaseSlot()
		var conflict *domain.ConflictError
		routine := errors.As(err, &conflict) || errors.Is(err, domain.ErrNotFound)
		if !routine && ctx.Err() == nil {
			w.log.Warn("claiming a render failed", "render_id", renderID, "err", err)
		}
		telemetry.End(span, err)
		return false
	}
	telemetry.End(span, nil)
	w.log.Info("render claimed", "render_id", renderID, "attempt", attempt)
	w.jobs.Go(func() {
		defer func() {
			w.releaseSlot()
			select {
			case w.freed <- struct{}{}:
			default:
			}
		}()
		w.runJob(ctx, claimed{renderID: renderID, attempt: attempt, started: started, caller: c, trace: trace.SpanContextFromContext(cctx)})
	})
	return true
}

// reap re-queues the renders whose workers stopped renewing their leases.
// Every encoder reaps; the command re-checks the lease under its lock, so
// two reapers (or a late renewal) cannot both win.
//
// A lease that ran out while Postgres was away says nothing about its
// worker: nobody could renew. So a reaper reaps only once it has seen
// Postgres answer for a whole lease without a failure (since it started, or
// since its last failed call). By then every live worker has renewed: its
// lease watcher renews every third of a lease and, after a failure, on the
// first call that gets through (watchLease), and RenderQueue.Renew accepts
// a lease that ran out but was not reaped. An outage therefore never counts
// as a crash; only a worker that stays silent a whole lease after Postgres
// is back loses its lease.
//
// A reaped attempt is over for good (a later completion is refused), so
// its output, if it committed one that was never recorded (killed between
// the commit and CompleteRender, or stopped during an outage), is deleted.
func (w *RenderWorker) reap(ctx context.Context) {
	t := time.NewTicker(w.cfg.Lease / 3)
	defer t.Stop()
	db := newUptime(time.Time{})
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		expired, err := w.queue.Expired(ctx, w.now(), 100)
		if err != nil {
			if db.failed(w.now()) && ctx.Err() == nil {
				w.log.Warn("reading expired leases failed; reaping waits for the database to answer a whole lease", "err", err)
			}
			continue
		}
		if down := db.answered(w.now()); down > 0 {
			w.log.Info("reading expired leases answered again", "down_for", down.Round(time.Millisecond))
		}
		if len(expired) == 0 || db.upFor(w.now()) < w.cfg.Lease {
			continue
		}
		// Each lease this reaper wins from a vanished worker counts as a
		// takeover, whether the render goes back to the queue or fails as
		// encoder_crashed: LoseRenderLease decides under the render's lock,
		// so of several reapers one counts it.
	reaping:
		for _, j := range expired {
			c := commands.Caller{CorrelationID: "reap_" + j.RenderID}
			failed, _, err := w.cmds.LoseLease.Handle(ctx, c, commands.LoseRenderLease{RenderID: j.RenderID, Attempt: j.Attempt})
			var conflict *domain.ConflictError
			switch {
			case errors.As(err, &conflict):
				w.log.Debug("lease no longer expired", "render_id", j.RenderID, "attempt", j.Attempt, "reason", conflict.Code)
				continue
			case err != nil:
				if db.failed(w.now()) && ctx.Err() == nil {
					w.log.Warn("reaping a lease failed", "render_id", j.RenderID, "err", err)
				}
				break reaping // the database is away: the grace begins again
			case failed:
				telemetry.EncoderLeaseTakeovers.Inc()
				w.log.Warn("render failed: its encoder crashed too often", "render_id", j.RenderID, "attempt", j.Attempt, "lost_worker", j.WorkerID)
			default:
				telemetry.EncoderLeaseTakeovers.Inc()
				w.log.Warn("lease expired: render re-queued", "render_id", j.RenderID, "attempt", j.Attempt, "lost_worker", j.WorkerID)
				select {
				case w.freed <- struct{}{}: // look at the queue now
				default:
				}
			}
			w.deleteOutput(ctx, j)
		}
	}
}

// deleteOutput deletes what a reaped attempt may have committed.
func (w *RenderWorker) deleteOutput(ctx context.Context, j commands.RenderJob) {
	recs, err := w.events.Load(ctx, j.RenderID)
	var r *domain.Render
	if err == nil {
		r, err = domain.RebuildRender(recs)
	}
	if err == nil {
		err = w.blobs.Delete(ctx, OutputKey(j.RenderID, j.Attempt, r.Requested().Output.Format))
	}
	if err != nil && ctx.Err() == nil {
		w.log.Warn("deleting a reaped attempt's output failed", "render_id", j.RenderID, "attempt", j.Attempt, "err", err)
	}
}
