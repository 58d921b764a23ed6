package domain

import (
	"fmt"
	"time"
)

// RenderState is where a render is in its lifecycle.
type RenderState string

const (
	RenderStatePending   RenderState = "pending"
	RenderStateRunning   RenderState = "running"
	RenderStateCompleted RenderState = "completed"
	RenderStateFailed    RenderState = "failed"
	RenderStateCancelled RenderState = "cancelled"
)

// Render is one deliverable made from an asset (optionally through one of
// its cuts): requested, claimed by an encoder for an attempt, and finished
// as completed, failed or cancelled. The attempt number fences every worker
// command: a stale worker's progress, completion or failure is refused.
type Render struct {
	id, accountID string
	requested     RenderRequested
	lifecycle     RenderLifecycle
	version       int64
	changes       []Event
}

// RenderLifecycle is where a render stands: everything its events change
// except the request that opened it. Next is the render's one transition
// function. Render applies its history with it; so does the render read
// model, which folds each new event onto its stored row: a Render can only
// be loaded from its whole history (RebuildRender), a render's stream grows
// by one event per progress step, and rebuilding the aggregate for every
// one of them would cost the whole stream each time. With one function the
// rules live once, and the read model cannot drift from the aggregate.
type RenderLifecycle struct {
	State RenderState
	// Attempt is the current (or last) attempt; 0 until an encoder first
	// claims the render. A retry leaves it until Start claims the next.
	Attempt    int
	WorkerID   string
	LeaseUntil time.Time
	Progress   int           // 0-100; 100 only once completed
	ETA        time.Duration // the encoder's estimate of the time left
	Crashes    int           // attempts abandoned because their lease expired
	Result     *RenderCompleted
	// Failure is as the encoder reported it; clients see the public message
	// for its code instead (docs/renders.md, "What clients see of a failure").
	Failure    *Failure
	CreatedAt  time.Time
	StartedAt  time.Time // the start of the current (or last) attempt
	FinishedAt time.Time // completed, failed or cancelled
	// OutputExpired: the completed render's output passed the retention
	// period and was removed; the render stays completed (docs/renders.md,
	// "Retention and erasure").
	OutputExpired bool
	// Deleted: the render went with its deleted asset.
	Deleted bool
}

// RequestRender opens a render. The output must be valid and planned
// already (PlanOutput); the signature is its idempotency key.
func RequestRender(id, accountID string, req RenderRequested, now time.Time) (*Render, error) {
	if err := req.Output.Validate(); err != nil {
		return nil, err
	}
	if req.AssetID == "" || req.Signature == "" {
		return nil, fmt.Errorf("render %s: an asset and a signature are required", id)
	}
	r := &Render{id: id, accountID: accountID}
	r.record(req, now)
	return r, nil
}

// RebuildRender replays a render's history. It is the only way to load one.
func RebuildRender(history []Recorded) (*Render, error) {
	if len(history) == 0 {
		return nil, fmt.Errorf("render: %w", ErrNotFound)
	}
	r := &Render{id: history[0].StreamID, accountID: history[0].AccountID}
	for _, rec := range history {
		if err := r.apply(rec.Event, rec.OccurredAt); err != nil {
			return nil, fmt.Errorf("render %s v%d: %w", r.id, rec.StreamVersion, err)
		}
		r.version = rec.StreamVersion
	}
	return r, nil
}

func (r *Render) ID() string                 { return r.id }
func (r *Render) AccountID() string          { return r.accountID }
func (r *Render) Requested() RenderRequested { return r.requested }
func (r *Render) Lifecycle() RenderLifecycle { return r.lifecycle }
func (r *Render) State() RenderState         { return r.lifecycle.State }
func (r *Render) Attempt() int               { return r.lifecycle.Attempt }
func (r *Render) WorkerID() string           { return r.lifecycle.WorkerID }
func (r *Render) LeaseUntil() time.Time      { return r.lifecycle.LeaseUntil }
func (r *Render) Progress() int              { return r.lifecycle.Progress }
func (r *Render) ETA() time.Duration         { return r.lifecycle.ETA }
func (r *Render) Result() *RenderCompleted   { return r.lifecycle.Result }
func (r *Render) Failure() *Failure          { return r.lifecycle.Failure }
func (r *Render) CreatedAt() time.Time       { return r.lifecycle.CreatedAt }
func (r *Render) StartedAt() time.Time       { return r.lifecycle.StartedAt }
func (r *Render) FinishedAt() time.Time      { return r.lifecycle.FinishedAt }
func (r *Render) Version() int64             { return r.version }
func (r *Render) Changes() []Event           { return r.changes }
func (r *Render) Deleted() bool              { return r.lifecycle.Deleted }
func (r *Render) OutputExpired() bool        { return r.lifecycle.OutputExpired }

// Replaceable reports whether a new request with the same signature
// replaces this render (failed, cancelled, or completed with its output
// expired) rather than returning it.
func (r *Render) Replaceable() bool {
	s := r.lifecycle.State
	if r.lifecycle.Deleted {
		return false // its asset is gone: nothing can be requested of it
	}
	return s == RenderStateFailed || s == RenderStateCancelled || (s == RenderStateCompleted && r.lifecycle.OutputExpired)
}

// HoldsOutput reports whether the render's output is in the blob store
// and counted against its account's storage: completed, neither expired
// nor deleted.
func (r *Render) HoldsOutput() bool {
	return r.lifecycle.State == RenderStateCompleted && !r.lifecycle.OutputExpired && !r.lifecycle.Deleted
}

// Delete records that the render went with its deleted asset. A pending or
// running render is cancelled first, exactly as a client's cancel, so its
// encoder stops and a completion it still sends is refused. Deleting a
// deleted render changes nothing.
func (r *Render) Delete(now time.Time) {
	if r.lifecycle.Deleted {
		return
	}
	if s := r.lifecycle.State; s == RenderStatePending || s == RenderStateRunning {
		r.record(RenderCancelled{Attempt: r.attemptRunning()}, now)
	}
	r.record(RenderDeleted{}, now)
}

// ExpireOutput records that the output of a render completed before
// completedBefore (now less the retention period) is removed. A render with
// no output to expire (not completed, expired or deleted already) changes
// nothing, so that expirers racing each other agree; one completed later is
// refused.
func (r *Render) ExpireOutput(completedBefore, now time.Time) error {
	if !r.HoldsOutput() {
		return nil
	}
	if r.lifecycle.FinishedAt.After(completedBefore) {
		return Conflict("output_not_expired", "the render completed at %s, after %s", r.lifecycle.FinishedAt.Format(time.RFC3339), completedBefore.Format(time.RFC3339))
	}
	res := r.lifecycle.Result
	r.record(RenderOutputExpired{Attempt: res.Attempt, BlobKey: res.BlobKey}, now)
	return nil
}

// Cancel stops a pending or running render. Cancelling a cancelled render
// changes nothing; a completed or failed one cannot be cancelled.
func (r *Render) Cancel(now time.Time) error {
	switch r.lifecycle.State {
	case RenderStateCancelled:
		return nil
	case RenderStateCompleted, RenderStateFailed:
		return Conflict("render_not_cancellable", "the render is %s already", r.lifecycle.State)
	}
	r.record(RenderCancelled{Attempt: r.attemptRunning()}, now)
	return nil
}

func (r *Render) attemptRunning() int {
	if r.lifecycle.State == RenderStateRunning {
		return r.lifecycle.Attempt
	}
	return 0
}

// Start claims the next attempt for a worker under a lease.
func (r *Render) Start(workerID string, leaseUntil, now time.Time) (attempt int, err error) {
	if r.lifecycle.State != RenderStatePending {
		return 0, Conflict("render_not_pending", "the render is %s", r.lifecycle.State)
	}
	r.record(RenderStarted{Attempt: r.lifecycle.Attempt + 1, WorkerID: workerID, LeaseUntil: leaseUntil}, now)
	return r.lifecycle.Attempt, nil
}

// checkAttempt fences a worker command to the running attempt.
func (r *Render) checkAttempt(attempt int) error {
	if r.lifecycle.State != RenderStateRunning {
		return Conflict("render_not_running", "the render is %s", r.lifecycle.State)
	}
	if attempt != r.lifecycle.Attempt {
		return Conflict("stale_attempt", "attempt %d is over; the render is on attempt %d", attempt, r.lifecycle.Attempt)
	}
	return nil
}

// ReportProgress records progress of the running attempt; it never goes
// back, and 100 is left to completion.
func (r *Render) ReportProgress(attempt, percent int, eta, position time.Duration, now time.Time) error {
	if err := r.checkAttempt(attempt); err != nil {
		return err
	}
	percent = min(max(percent, 0), 99)
	if percent <= r.lifecycle.Progress {
		return nil
	}
	r.record(RenderProgressed{Attempt: attempt, Percent: percent, ETA: eta, Position: position}, now)
	return nil
}

// Complete records the verified deliverable of the running attempt. The
// same attempt completing again with the same output changes nothing: an
// encoder retries a completion whose answer it never got (the commit went
// through, the connection did not), and must learn that its output is the
// deliverable rather than delete it.
func (r *Render) Complete(result RenderCompleted, now time.Time) error {
	if r.lifecycle.Deleted {
		return Conflict("render_deleted", "the render was deleted with its asset")
	}
	if r.lifecycle.State == RenderStateCompleted && r.lifecycle.Result.Attempt == result.Attempt && r.lifecycle.Result.BlobKey == result.BlobKey {
		return nil
	}
	if err := r.checkAttempt(result.Attempt); err != nil {
		return err
	}
	r.record(result, now)
	return nil
}

// Fail records a terminal failure of the running attempt.
func (r *Render) Fail(attempt int, code, message string, retryable bool, now time.Time) error {
	if err := r.checkAttempt(attempt); err != nil {
		return err
	}
	r.record(RenderFailed{Attempt: attempt, Code: code, Message: message, Retryable: retryable}, now)
	return nil
}

// Why an attempt was abandoned (RenderRetried.Reason). Only an expired lease
// counts as a crash.
const (
	RetryLeaseExpired = "lease_expired" // the worker vanished (killed, machine gone)
	RetryHandedBack   = "handed_back"   // the worker shut down gracefully
)

// MaxCrashedAttempts is how many attempts may end in a lost lease; the
// render fails with encoder_crashed on the last one instead of retrying.
const MaxCrashedAttempts = 3

// Crashes is how many attempts ended in a lost lease.
func (r *Render) Crashes() int { return r.lifecycle.Crashes }

// LoseLease abandons the running attempt whose lease expired: the render is
// pending again for the next attempt, unless that makes MaxCrashedAttempts,
// when it fails with encoder_crashed (a render that kills its encoder every
// time must not be retried forever). It reports whether the render failed.
func (r *Render) LoseLease(attempt int, now time.Time) (failed bool, err error) {
	if err := r.checkAttempt(attempt); err != nil {
		return false, err
	}
	if r.lifecycle.Crashes+1 >= MaxCrashedAttempts {
		r.record(RenderFailed{Attempt: attempt, Code: FailureEncoderCrashed,
			Message: fmt.Sprintf("the encoder stopped responding during %d attempts", r.lifecycle.Crashes+1), Retryable: true}, now)
		return true, nil
	}
	r.record(RenderRetried{Attempt: attempt + 1, Reason: RetryLeaseExpired}, now)
	return false, nil
}

// Retry abandons the running attempt (a lost lease, a graceful hand-back):
// the render is pending again for the next attempt.
func (r *Render) Retry(attempt int, reason string, now time.Time) error {
	if err := r.checkAttempt(attempt); err != nil {
		return err
	}
	r.record(RenderRetried{Attempt: attempt + 1, Reason: reason}, now)
	return nil
}

// record applies and keeps a new event; the events recorded here are valid
// by construction, so apply cannot fail.
func (r *Render) record(e Event, now time.Time) {
	_ = r.apply(e, now)
	r.version++
	r.changes = append(r.changes, e)
}

func (r *Render) apply(e Event, at time.Time) error {
	if e == nil || e.AggregateType() != AggregateRender {
		return fmt.Errorf("not a render event: %T", e)
	}
	if req, ok := e.(RenderRequested); ok {
		r.requested = req
	}
	// History is the truth: whether the commands would record e today or
	// not, the render is what e leaves it.
	r.lifecycle, _ = r.lifecycle.Next(e, at)
	return nil
}

// Next is s after e, which happened at at, and ok reports whether e is a
// transition the render's own commands record from s: the request opening
// the stream, Start from pending, progress of the running attempt, its
// completion, failure or retry (Complete, Fail, LoseLease, Retry), and the
// cancellation of a pending or running render, the expiry of a completed
// render's output, and the deletion of a finished render. Any other event (progress of
// another attempt, a second request) still gives the state it leaves, as
// RebuildRender applies it; a fold over a stored copy of the state takes
// !ok as its cue to rebuild from the history instead, so that the
// aggregate stays the judge of every unusual history.
func (s RenderLifecycle) Next(e Event, at time.Time) (next RenderLifecycle, ok bool) {
	running := s.State == RenderStateRunning
	switch e := e.(type) {
	case RenderRequested:
		ok = s.State == ""
		s.State, s.CreatedAt = RenderStatePending, at
	case RenderStarted:
		ok = s.State == RenderStatePending
		s.State, s.Attempt, s.WorkerID, s.LeaseUntil, s.StartedAt = RenderStateRunning, e.Attempt, e.WorkerID, e.LeaseUntil, at
		s.Progress, s.ETA = 0, 0 // a new attempt starts again at 0
	case RenderProgressed:
		ok = running && e.Attempt == s.Attempt
		s.Progress, s.ETA = e.Percent, e.ETA
	case RenderCompleted:
		ok = running && e.Attempt == s.Attempt
		s.State, s.Progress, s.ETA, s.FinishedAt = RenderStateCompleted, 100, 0, at
		s.Result = &e
	case RenderFailed:
		ok = running && e.Attempt == s.Attempt
		s.State, s.FinishedAt = RenderStateFailed, at
		s.Failure = &Failure{Code: e.Code, Message: e.Message}
	case RenderCancelled:
		ok = s.State == RenderStatePending || running
		s.State, s.FinishedAt = RenderStateCancelled, at
	case RenderOutputExpired:
		ok = s.State == RenderStateCompleted && !s.OutputExpired && !s.Deleted
		s.OutputExpired = true
	case RenderDeleted:
		ok = !s.Deleted && s.State != RenderStatePending && !running && s.State != ""
		s.Deleted = true
	case RenderRetried:
		ok = running && e.Attempt == s.Attempt+1
		// e.Attempt is the attempt the render now waits for; Start claims it.
		s.State, s.Attempt, s.WorkerID, s.LeaseUntil = RenderStatePending, e.Attempt-1, "", time.Time{}
		s.Progress, s.ETA = 0, 0
		if e.Reason == RetryLeaseExpired {
			s.Crashes++
		}
	default:
		return s, false // not a render event
	}
	return s, ok
}
