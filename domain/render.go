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
	state         RenderState
	attempt       int
	workerID      string
	leaseUntil    time.Time
	progress      int
	eta           time.Duration
	crashes       int // attempts abandoned because their lease expired
	result        *RenderCompleted
	failure       *Failure
	createdAt     time.Time
	startedAt     time.Time
	finishedAt    time.Time // completed, failed or cancelled
	version       int64
	changes       []Event
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
func (r *Render) State() RenderState         { return r.state }
func (r *Render) Attempt() int               { return r.attempt }
func (r *Render) WorkerID() string           { return r.workerID }
func (r *Render) LeaseUntil() time.Time      { return r.leaseUntil }
func (r *Render) Progress() int              { return r.progress }
func (r *Render) ETA() time.Duration         { return r.eta }
func (r *Render) Result() *RenderCompleted   { return r.result }
func (r *Render) Failure() *Failure          { return r.failure }
func (r *Render) CreatedAt() time.Time       { return r.createdAt }
func (r *Render) StartedAt() time.Time       { return r.startedAt }
func (r *Render) FinishedAt() time.Time      { return r.finishedAt }
func (r *Render) Version() int64             { return r.version }
func (r *Render) Changes() []Event           { return r.changes }

// Replaceable reports whether a new request with the same signature
// replaces this render (failed or cancelled) rather than returning it.
func (r *Render) Replaceable() bool {
	return r.state == RenderStateFailed || r.state == RenderStateCancelled
}

// Cancel stops a pending or running render. Cancelling a cancelled render
// changes nothing; a completed or failed one cannot be cancelled.
func (r *Render) Cancel(now time.Time) error {
	switch r.state {
	case RenderStateCancelled:
		return nil
	case RenderStateCompleted, RenderStateFailed:
		return Conflict("render_not_cancellable", "the render is %s already", r.state)
	}
	r.record(RenderCancelled{Attempt: r.attemptRunning()}, now)
	return nil
}

func (r *Render) attemptRunning() int {
	if r.state == RenderStateRunning {
		return r.attempt
	}
	return 0
}

// Start claims the next attempt for a worker under a lease.
func (r *Render) Start(workerID string, leaseUntil, now time.Time) (attempt int, err error) {
	if r.state != RenderStatePending {
		return 0, Conflict("render_not_pending", "the render is %s", r.state)
	}
	r.record(RenderStarted{Attempt: r.attempt + 1, WorkerID: workerID, LeaseUntil: leaseUntil}, now)
	return r.attempt, nil
}

// checkAttempt fences a worker command to the running attempt.
func (r *Render) checkAttempt(attempt int) error {
	if r.state != RenderStateRunning {
		return Conflict("render_not_running", "the render is %s", r.state)
	}
	if attempt != r.attempt {
		return Conflict("stale_attempt", "attempt %d is over; the render is on attempt %d", attempt, r.attempt)
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
	if percent <= r.progress {
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
	if r.state == RenderStateCompleted && r.result.Attempt == result.Attempt && r.result.BlobKey == result.BlobKey {
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
func (r *Render) Crashes() int { return r.crashes }

// LoseLease abandons the running attempt whose lease expired: the render is
// pending again for the next attempt, unless that makes MaxCrashedAttempts,
// when it fails with encoder_crashed (a render that kills its encoder every
// time must not be retried forever). It reports whether the render failed.
func (r *Render) LoseLease(attempt int, now time.Time) (failed bool, err error) {
	if err := r.checkAttempt(attempt); err != nil {
		return false, err
	}
	if r.crashes+1 >= MaxCrashedAttempts {
		r.record(RenderFailed{Attempt: attempt, Code: FailureEncoderCrashed,
			Message: fmt.Sprintf("the encoder stopped responding during %d attempts", r.crashes+1), Retryable: true}, now)
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
	switch e := e.(type) {
	case RenderRequested:
		r.requested, r.state, r.createdAt = e, RenderStatePending, at
	case RenderStarted:
		r.state, r.attempt, r.workerID, r.leaseUntil, r.startedAt = RenderStateRunning, e.Attempt, e.WorkerID, e.LeaseUntil, at
		r.progress, r.eta = 0, 0 // a new attempt starts again at 0
	case RenderProgressed:
		r.progress, r.eta = e.Percent, e.ETA
	case RenderCompleted:
		r.state, r.progress, r.eta, r.finishedAt = RenderStateCompleted, 100, 0, at
		result := e
		r.result = &result
	case RenderFailed:
		r.state, r.finishedAt = RenderStateFailed, at
		r.failure = &Failure{Code: e.Code, Message: e.Message}
	case RenderCancelled:
		r.state, r.finishedAt = RenderStateCancelled, at
	case RenderRetried:
		// e.Attempt is the attempt the render now waits for; Start claims it.
		r.state, r.attempt, r.workerID, r.leaseUntil = RenderStatePending, e.Attempt-1, "", time.Time{}
		r.progress, r.eta = 0, 0
		if e.Reason == RetryLeaseExpired {
			r.crashes++
		}
	default:
		return fmt.Errorf("not a render event: %T", e)
	}
	return nil
}
