// Package encoders is renderd's media side: the render pipeline and the
// media worker that probes uploads and completes cuts, reporting back only
// through commands.
package encoders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// MediaQueue is the media workers' side of commands.MediaQueue: claims and
// their leases. Every call but Claim names the claim it acts on (job id,
// worker, attempt), so a stale worker can never touch a later claim.
// *postgres.MediaJobs implements it.
type MediaQueue interface {
	// Claim takes the next claimable job (fair across accounts: the
	// account with the fewest running jobs first, then the oldest job),
	// counting an attempt, under a lease of the given length; ok = false
	// when there is none. A job whose lease ran out is claimable again.
	// probesOnly leaves silence detections where they are.
	Claim(ctx context.Context, workerID string, lease time.Duration, probesOnly bool) (job commands.MediaJob, ok bool, err error)
	// Renew extends the claim's lease; held is false once the claim ended
	// (the job was decided, parked, or claimed again).
	Renew(ctx context.Context, job commands.MediaJob, lease time.Duration) (held bool, err error)
	// Release hands the claim back without counting the attempt: the job is
	// claimable again from notBefore.
	Release(ctx context.Context, job commands.MediaJob, notBefore time.Time) error
	// Done removes the job if the claim is still its own (its command had
	// nothing to do or refused it for good).
	Done(ctx context.Context, job commands.MediaJob) error
}

// MediaWorkerConfig tunes a MediaWorker.
type MediaWorkerConfig struct {
	WorkerID    string        // unique per process; names its claims
	Concurrency int           // media jobs at once
	Lease       time.Duration // renewed every third of it
	// PollInterval is how often the queue is read without a hint: it finds
	// jobs whose Kafka message went elsewhere, jobs whose worker vanished,
	// and jobs handed back.
	PollInterval time.Duration
	// RetryDelay is how long a job that failed for a reason of the
	// worker's own (the database or the blob store away) waits before its
	// next claim.
	RetryDelay time.Duration
}

// MediaWorker probes uploaded parts and detects the silences of automatic
// cuts in a bounded pool, outside any Kafka handler: one account's long
// probe or detection holds one slot, never a partition, and a freed slot
// goes to the account with the fewest jobs running.
//
// Work comes from the MediaQueue, which the command transactions keep
// (an upload queues its probe, an automatic cut its detection, a charge
// wakes the detections that waited for it); a Kafka message is only a hint
// to claim now. A running job holds a lease; a job whose worker vanished is
// claimed again, and after domain.MaxCrashedAttempts lost leases its
// command records media_crashed instead of running the media tool once
// more (a file that kills ffprobe must not kill worker after worker).
//
// Handle also completes explicit cuts and fails the cuts of a failed asset
// inline: those commands run no media tool.
type MediaWorker struct {
	cfg   MediaWorkerConfig
	probe *commands.ProbeAssetHandler
	cuts  *commands.CompleteCutHandler
	queue MediaQueue
	now   func() time.Time
	log   *slog.Logger

	slots chan struct{} // one token per running job
	// detecting counts the running silence detections: they may take all
	// slots but one, so probes (a fraction of a second each) never wait
	// behind detections (minutes for hours of audio).
	detecting atomic.Int32
	hints     chan struct{} // work was announced on Kafka: read the queue
	freed     chan struct{} // a job ended: read the queue again
	jobs      sync.WaitGroup
}

// NewMediaWorker checks its dependencies once.
func NewMediaWorker(cfg MediaWorkerConfig, probe *commands.ProbeAssetHandler, cuts *commands.CompleteCutHandler,
	queue MediaQueue, now func() time.Time, log *slog.Logger) (*MediaWorker, error) {
	switch {
	case cfg.WorkerID == "" || cfg.Concurrency < 1 || cfg.Lease <= 0 || cfg.PollInterval <= 0 || cfg.RetryDelay < 0:
		return nil, fmt.Errorf("media worker: invalid config %+v", cfg)
	case probe == nil || cuts == nil || queue == nil || now == nil || log == nil:
		return nil, errors.New("media worker: handlers, queue, clock and logger are required")
	}
	return &MediaWorker{cfg: cfg, probe: probe, cuts: cuts, queue: queue, now: now,
		log:   log.With("component", "media-worker", "worker_id", cfg.WorkerID),
		slots: make(chan struct{}, cfg.Concurrency), hints: make(chan struct{}, 1), freed: make(chan struct{}, 1)}, nil
}

// Handle takes an asset or cut event from Kafka. An upload, a charge or an
// automatic cut is a hint to claim now; a charge or a failure of the asset
// completes or fails its cuts in flight, and a new explicit cut completes
// if its asset allows: cheap commands, no media tool. Events it has no
// business with are ignored.
func (m *MediaWorker) Handle(ctx context.Context, rec domain.Recorded) error {
	c := commands.Caller{CorrelationID: rec.CorrelationID, CausationID: rec.ID}
	switch e := rec.Event.(type) {
	case domain.AssetSourceUploaded, domain.AssetAudioUploaded:
		m.hint()
	case domain.AssetCharged, domain.AssetFailed:
		m.hint() // the charge woke the asset's waiting detections
		cuts, err := m.cuts.CutsInFlight(ctx, rec.StreamID)
		if err != nil {
			return err
		}
		for _, id := range cuts {
			if err := m.completeCut(ctx, c, id); err != nil {
				return err
			}
		}
	case domain.CutRequested:
		if e.Auto != nil {
			m.hint()
			return nil
		}
		return m.completeCut(ctx, c, rec.StreamID)
	}
	return nil
}

func (m *MediaWorker) hint() {
	select {
	case m.hints <- struct{}{}:
	default: // a read of the queue is due already
	}
}

func (m *MediaWorker) completeCut(ctx context.Context, c commands.Caller, cutID string) error {
	w, err := m.cuts.Handle(ctx, c, commands.CompleteCut{CutID: cutID})
	if err == nil {
		m.log.DebugContext(ctx, "cut checked", "cut_id", cutID, "version", w.Version, "correlation_id", c.CorrelationID)
	}
	return err
}

// Run claims and runs media jobs until ctx ends, then stops them, hands
// their jobs back (not counted as attempts) and returns once every job has.
func (m *MediaWorker) Run(ctx context.Context) error {
	defer m.jobs.Wait()
	poll := time.NewTicker(m.cfg.PollInterval)
	defer poll.Stop()
	m.claimFree(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.hints:
		case <-m.freed:
		case <-poll.C:
		}
		m.claimFree(ctx)
	}
}

// ProbesOnly reports whether a worker of concurrency slots, detecting
// silences in detecting of them, may claim only probes: detections take all
// slots but one, so a probe never waits behind them. A single slot is
// shared.
func ProbesOnly(concurrency, detecting int) bool {
	return concurrency > 1 && detecting >= concurrency-1
}

// claimFree fills the free slots from the queue, one claim each.
func (m *MediaWorker) claimFree(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case m.slots <- struct{}{}:
		default:
			return // every slot is busy
		}
		job, ok, err := m.queue.Claim(ctx, m.cfg.WorkerID, m.cfg.Lease, ProbesOnly(m.cfg.Concurrency, int(m.detecting.Load())))
		if err != nil || !ok {
			<-m.slots
			if err != nil && ctx.Err() == nil {
				m.log.Warn("claiming a media job failed", "err", err)
			}
			return
		}
		detection := job.Kind == commands.MediaJobSilence
		if detection {
			m.detecting.Add(1)
		}
		m.jobs.Go(func() {
			defer func() {
				if detection {
					m.detecting.Add(-1)
				}
				<-m.slots
				select {
				case m.freed <- struct{}{}:
				default:
				}
			}()
			m.runJob(ctx, job)
		})
	}
}

// How a job's context ended, when it did not end on its own.
var (
	errJobGone      = errors.New("the claim ended elsewhere: the job was decided, or claimed again after its lease ran out")
	errMediaStopped = errors.New("the media worker is shutting down")
	errUnknownKind  = errors.New("unknown media job kind")
)

// runJob runs one claimed job to its end. The job leaves this worker
// through its command's transaction (which finishes or parks it), or Done
// (nothing left to do, or refused for good), or Release (a transient
// failure, a shutdown), or not at all when another worker owns it now.
func (m *MediaWorker) runJob(parent context.Context, job commands.MediaJob) {
	log := m.log.With("job_id", job.JobID, "account_id", job.AccountID, "attempt", job.Attempts, "correlation_id", job.CorrelationID)
	ctx, stop := context.WithCancelCause(context.WithoutCancel(parent))
	defer stop(nil)
	// The worker's shutdown stops the job too, with its own cause.
	unhook := context.AfterFunc(parent, func() { stop(errMediaStopped) })
	defer unhook()

	var watch sync.WaitGroup
	watch.Go(func() { m.keepLease(ctx, job, stop) })
	defer watch.Wait()
	defer stop(nil) // ends the watcher before waiting for it

	crashed := job.Attempts > domain.MaxCrashedAttempts
	started := m.now()
	w, err := m.run(ctx, job, crashed)
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		m.done(job, log)
		level := slog.LevelInfo
		if crashed {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "media job ran", "kind", job.Kind, "stream_id", w.StreamID, "version", w.Version,
			"crashed", crashed, "took", m.now().Sub(started).Round(time.Millisecond))
	case errors.Is(cause, errJobGone):
		log.Info("media job stopped: its claim ended elsewhere", "err", err)
	case errors.Is(cause, errMediaStopped):
		m.release(job, m.now(), log)
		log.Info("media job handed back for another worker")
	case permanent(err):
		m.done(job, log)
		log.Error("media job dropped: its command refused it for good", "err", err)
	default:
		m.release(job, m.now().Add(m.cfg.RetryDelay), log)
		log.Warn("media job failed; it will be retried", "err", err, "retry_in", m.cfg.RetryDelay)
	}
}

// run issues the job's command.
func (m *MediaWorker) run(ctx context.Context, job commands.MediaJob, crashed bool) (commands.Written, error) {
	c := commands.Caller{CorrelationID: job.CorrelationID, CausationID: job.CausationID}
	switch job.Kind {
	case commands.MediaJobProbe:
		return m.probe.Handle(ctx, c, commands.ProbeAsset{AssetID: job.AssetID, Part: job.Part, Crashed: crashed})
	case commands.MediaJobSilence:
		return m.cuts.Handle(ctx, c, commands.CompleteCut{CutID: job.CutID, Detect: true, Crashed: crashed})
	}
	return commands.Written{}, fmt.Errorf("%w %q", errUnknownKind, job.Kind)
}

// permanent reports the refusals a retry cannot cure: the aggregate is
// gone, or its state or the request refuses the command, or the job is
// not one this worker knows.
func permanent(err error) bool {
	return errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrConflict) || errors.Is(err, domain.ErrValidation) ||
		errors.Is(err, errUnknownKind)
}

// keepLease renews the claim's lease every third of it; once the claim is
// no longer this worker's, it stops the job.
func (m *MediaWorker) keepLease(ctx context.Context, job commands.MediaJob, stop context.CancelCauseFunc) {
	t := time.NewTicker(m.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, err := m.queue.Renew(ctx, job, m.cfg.Lease)
		switch {
		case err != nil:
			// Postgres is away: keep working. If it stays away longer
			// than the lease, another worker claims the job and the next
			// renewal that gets through stops this one.
			if ctx.Err() == nil {
				m.log.Warn("renewing a media lease failed", "job_id", job.JobID, "err", err)
			}
		case !held:
			stop(errJobGone)
			return
		}
	}
}

func (m *MediaWorker) done(job commands.MediaJob, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), handBackTimeout)
	defer cancel()
	if err := m.queue.Done(ctx, job); err != nil {
		log.Warn("ending a media claim failed; its lease will run out and a repeat will find nothing to do", "err", err)
	}
}

func (m *MediaWorker) release(job commands.MediaJob, notBefore time.Time, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), handBackTimeout)
	defer cancel()
	if err := m.queue.Release(ctx, job, notBefore); err != nil {
		log.Warn("handing a media job back failed; its lease will run out", "err", err)
	}
}
