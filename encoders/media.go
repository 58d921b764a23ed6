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
	// when there is none. With takeOver, a job whose lease ran out is
	// claimable again. probesOnly leaves silence detections where they are.
	Claim(ctx context.Context, workerID string, lease time.Duration, probesOnly, takeOver bool) (job commands.MediaJob, ok bool, err error)
	// Renew extends the claim's lease, one that ran out but was not taken
	// over included; held is false once the claim ended (the job was
	// decided, parked, or claimed again).
	Renew(ctx context.Context, job commands.MediaJob, lease time.Duration) (held bool, err error)
	// Release hands the claim back without counting the attempt: the job is
	// claimable again from notBefore.
	Release(ctx context.Context, job commands.MediaJob, notBefore time.Time) error
	// Done removes the job if the claim is still its own (its command had
	// nothing to do or refused it for good).
	Done(ctx context.Context, job commands.MediaJob) error
}

// InFlightCuts lists an asset's processing cuts, which the media worker
// completes or fails once the asset is charged or fails. The answer is
// exact: the read holds the asset's stream lock, as every cut request does.
type InFlightCuts interface {
	CutsInFlight(ctx context.Context, assetID string) ([]string, error)
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
// more (a file that kills ffprobe must not kill worker after worker). A
// database outage is no lost lease: the rules are the render reaper's
// (docs/renders.md, "Leases, outages and crashes").
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

	inFlight InFlightCuts // the cuts that a charge or a failure decides

	slots chan struct{} // one token per running job
	// detecting counts the running silence detections: they may take all
	// slots but one, so probes (a fraction of a second each) never wait
	// behind detections (minutes for hours of audio).
	detecting atomic.Int32
	hints     chan struct{} // work was announced on Kafka: read the queue
	freed     chan struct{} // a job ended: read the queue again
	jobs      sync.WaitGroup
	// db is since when the queue has answered this worker's claims and
	// renewals without a failure: a run-out lease is taken over only after
	// a whole lease of answers.
	db *uptime
}

// NewMediaWorker checks its dependencies once.
func NewMediaWorker(cfg MediaWorkerConfig, probe *commands.ProbeAssetHandler, cuts *commands.CompleteCutHandler, inFlight InFlightCuts,
	queue MediaQueue, now func() time.Time, log *slog.Logger) (*MediaWorker, error) {
	switch {
	case cfg.WorkerID == "" || cfg.Concurrency < 1 || cfg.Lease <= 0 || cfg.PollInterval <= 0 || cfg.RetryDelay < 0:
		return nil, fmt.Errorf("media worker: invalid config %+v", cfg)
	case probe == nil || cuts == nil || inFlight == nil || queue == nil || now == nil || log == nil:
		return nil, errors.New("media worker: handlers, the cuts in flight, queue, clock and logger are required")
	}
	return &MediaWorker{cfg: cfg, probe: probe, cuts: cuts, inFlight: inFlight, queue: queue, now: now,
		log:   log.With("component", "media-worker", "worker_id", cfg.WorkerID),
		slots: make(chan struct{}, cfg.Concurrency), hints: make(chan struct{}, 1), freed: make(chan struct{}, 1),
		db: newUptime(time.Time{})}, nil
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
		cuts, err := m.inFlight.CutsInFlight(ctx, rec.StreamID)
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
//
// A job whose lease ran out is taken over only once this worker has seen
// the queue answer for a whole lease without a failure (since it started,
// or since its last failed claim or renewal), as the render reaper does
// (reap): a lease that ran out during an outage says nothing about its
// worker, which renews it as soon as the database is back (keepLease).
func (m *MediaWorker) claimFree(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case m.slots <- struct{}{}:
		default:
			return // every slot is busy
		}
		takeOver := m.db.upFor(m.now()) >= m.cfg.Lease
		job, ok, err := m.queue.Claim(ctx, m.cfg.WorkerID, m.cfg.Lease, ProbesOnly(m.cfg.Concurrency, int(m.detecting.Load())), takeOver)
		if err != nil {
			<-m.slots
			if m.db.failed(m.now()) && ctx.Err() == nil {
				m.log.Warn("claiming a media job failed; run-out leases wait for the database to answer a whole lease", "err", err)
			}
			return
		}
		if down := m.db.answered(m.now()); down > 0 {
			m.log.Info("claiming media jobs answered again", "down_for", down.Round(time.Millisecond))
		}
		if !ok {
			<-m.slots
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
	w, err := m.run(parent, ctx, job, crashed, log)
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		m.done(parent, ctx, job, log)
		level := slog.LevelInfo
		if crashed {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "media job ran", "kind", job.Kind, "stream_id", w.StreamID, "version", w.Version,
			"crashed", crashed, "took", m.now().Sub(started).Round(time.Millisecond))
	case errors.Is(cause, errJobGone):
		log.Info("media job stopped: its claim ended elsewhere", "err", err)
	case errors.Is(cause, errMediaStopped):
		if m.handBack(job, log) {
			log.Info("media job handed back for another worker")
		}
	case permanent(err):
		m.done(parent, ctx, job, log)
		log.Error("media job dropped: its command refused it for good", "err", err)
	default:
		m.untilAnswered(parent, ctx, "handing the media job back", func(tctx context.Context) error {
			return m.queue.Release(tctx, job, m.now().Add(m.cfg.RetryDelay))
		}, log)
		log.Warn("media job failed; it will be retried", "err", err, "retry_in", m.cfg.RetryDelay)
	}
}

// run issues the job's command. A probe that ran is kept until its outcome
// is recorded (untilAnswered): an outage between ffprobe's exit and the
// record costs a wait, not another probe, nor a lost lease.
func (m *MediaWorker) run(worker, ctx context.Context, job commands.MediaJob, crashed bool, log *slog.Logger) (commands.Written, error) {
	c := commands.Caller{CorrelationID: job.CorrelationID, CausationID: job.CausationID}
	switch job.Kind {
	case commands.MediaJobProbe:
		p, err := m.probe.Probe(ctx, c, commands.ProbeAsset{AssetID: job.AssetID, Part: job.Part, Crashed: crashed})
		if err != nil {
			return commands.Written{}, err
		}
		var w commands.Written
		err = m.untilAnswered(worker, ctx, "recording the probe", func(tctx context.Context) (err error) {
			w, err = m.probe.Record(tctx, c, p)
			return err
		}, log)
		return w, err
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

// leaseRetry is how soon a lease watcher whose renewal failed tries
// again: a lease that ran out during an outage is renewed within this long
// of the database's return, long before any other worker takes it over.
const leaseRetry = 250 * time.Millisecond

// keepLease renews the claim's lease every third of it, and after a failed
// renewal every leaseRetry until one gets through (the queue accepts a
// lease that ran out but was not taken over). Once the claim is no longer
// this worker's, it stops the job.
func (m *MediaWorker) keepLease(ctx context.Context, job commands.MediaJob, stop context.CancelCauseFunc) {
	t := time.NewTimer(m.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, err := m.queue.Renew(ctx, job, m.cfg.Lease)
		if err != nil {
			// Postgres is away: keep working, renew as soon as it answers.
			if m.db.failed(m.now()) && ctx.Err() == nil {
				m.log.Warn("renewing a media lease failed; renewing once the database answers", "job_id", job.JobID, "err", err)
			}
			t.Reset(min(leaseRetry, m.cfg.Lease/3))
			continue
		}
		if down := m.db.answered(m.now()); down > 0 {
			m.log.Info("renewing a media lease answered again", "job_id", job.JobID, "held", held, "down_for", down.Round(time.Millisecond))
		}
		if !held {
			stop(errJobGone)
			return
		}
		t.Reset(m.cfg.Lease / 3)
	}
}

// untilAnswered makes call, a write of the job's claim, until the queue
// answers it, the way a render's completion is asked again (complete):
// while the database is away it asks again after 100 ms, doubling to 2 s,
// and the lease watcher keeps the claim. It gives up without an answer
// only when the claim ended (claim's context: its job is someone else's,
// or was decided by this very call whose reply was lost), when the worker
// shuts down (after one last try), or when call has failed for a whole
// lease while the lease watcher's renewals got through (notAnOutage: a
// fault of its own, no outage). It returns call's last error. what names
// the write in the log.
func (m *MediaWorker) untilAnswered(worker, claim context.Context, what string, call func(context.Context) error, log *slog.Logger) error {
	delay := completeRetryFirst
	var failingSince time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), handBackTimeout)
		err := call(ctx)
		cancel()
		switch {
		case err == nil || permanent(err):
			if !failingSince.IsZero() {
				log.Info(what+" answered once the database was back", "waited", m.now().Sub(failingSince).Round(time.Millisecond), "err", err)
			}
			return err
		case worker.Err() != nil || claim.Err() != nil || notAnOutage(failingSince, m.db, m.now(), m.cfg.Lease):
			log.Warn(what+" failed; giving up without an answer", "err", err, "claim_ended", context.Cause(claim))
			return err
		case failingSince.IsZero():
			failingSince = m.now()
			log.Warn(what+" failed; asking again until the database answers", "err", err)
		}
		select {
		case <-time.After(delay):
			delay = min(2*delay, completeRetryMax)
		case <-claim.Done(): // one last try, then give up
		}
	}
}

// done ends the claim of a job its command decided or refused for good.
func (m *MediaWorker) done(worker, claim context.Context, job commands.MediaJob, log *slog.Logger) {
	m.untilAnswered(worker, claim, "ending the media claim", func(ctx context.Context) error { return m.queue.Done(ctx, job) }, log)
}

// handBack returns the job on shutdown, one try: the worker is going.
func (m *MediaWorker) handBack(job commands.MediaJob, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), handBackTimeout)
	defer cancel()
	if err := m.queue.Release(ctx, job, m.now()); err != nil {
		log.Warn("handing a media job back failed; its lease will run out", "err", err)
		return false
	}
	return true
}
