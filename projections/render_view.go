package projections

import (
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
)

// RenderView is a render as the API shows it.
type RenderView struct {
	ID        string
	AccountID string
	AssetID   string
	CutID     string // "" for a full-source render
	State     domain.RenderState
	Output    OutputView // as requested
	Plan      PlanView   // as resolved against the source
	// Attempt is the current (or last) attempt; 0 until an encoder first
	// claims the render. A retry starts the next attempt at progress 0.
	Attempt  int
	Progress int           // 0-100; 100 only once completed
	ETA      time.Duration // the encoder's estimate of the time left; 0 when it gave none
	// Failure is set once failed. Its message is the public one for its code
	// (see publicFailureMessage), never the encoder's own words.
	Failure  *FailureView
	Replaces string // the failed or cancelled render this one replaced, if any
	Result   *RenderResultView
	// Times of the lifecycle; zero until they happen. StartedAt is the start
	// of the current (or last) attempt.
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	FailedAt    time.Time
	CancelledAt time.Time
	UpdatedAt   time.Time
	Version     int64 // the last event of the render's stream this view reflects
}

// OutputView is the output exactly as the client asked for it: zero values
// are omitted fields (Auto for bitrates, the source size for resolution).
type OutputView struct {
	Format       domain.Format
	Resolution   domain.Resolution
	VideoBitrate int // Mbps
	AudioBitrate int // kbps
}

// PlanView is the output resolved against the source. Width, Height and
// VideoBitrate are zero for audio formats; Segments is nil for a
// full-source render.
type PlanView struct {
	Width        int
	Height       int
	VideoBitrate int64 // bits per second
	AudioBitrate int64 // bits per second
	Segments     []Segment
	Duration     time.Duration
}

// RenderResultView is the verified deliverable of a completed render.
type RenderResultView struct {
	// BlobKey is where the deliverable is stored. The API mints download
	// URLs from it and must never show it.
	BlobKey      string
	SizeBytes    int64
	Duration     time.Duration
	Width        int   // 0 for audio
	Height       int   // 0 for audio
	VideoBitrate int64 // bits per second; 0 for audio
	AudioBitrate int64 // bits per second
	EncodeTime   time.Duration
	FastPath     bool // remuxed without re-encoding
}

// RenderViewOf is the view of a render whose history (versions 1..n) is
// history: the row a projector writes for it.
func RenderViewOf(history []domain.Recorded) (RenderView, error) { return renderView(history) }

// renderView builds the view of a render from its history (versions 1..n)
// through the domain. It is the reference the incremental path
// (nextRenderView) must agree with.
func renderView(history []domain.Recorded) (RenderView, error) {
	if _, ok := history[0].Event.(domain.RenderRequested); !ok {
		return RenderView{}, fmt.Errorf("render %s: the stream opens with %T, not a request", history[0].StreamID, history[0].Event)
	}
	r, err := domain.RebuildRender(history)
	if err != nil {
		return RenderView{}, err
	}
	req := r.Requested()
	v := RenderView{
		ID:        r.ID(),
		AccountID: r.AccountID(),
		AssetID:   req.AssetID,
		CutID:     req.CutID,
		State:     r.State(),
		Output:    outputView(req.Output),
		Plan:      planView(req.Plan),
		Attempt:   r.Attempt(),
		Progress:  r.Progress(),
		ETA:       r.ETA(),
		Replaces:  req.Replaces,
		Result:    resultView(r.Result()),
		CreatedAt: r.CreatedAt(),
		StartedAt: r.StartedAt(),
		UpdatedAt: history[len(history)-1].OccurredAt,
		Version:   r.Version(),
	}
	if f := r.Failure(); f != nil {
		v.Failure = renderFailure(f.Code)
	}
	switch r.State() {
	case domain.RenderStateCompleted:
		v.CompletedAt = r.FinishedAt()
	case domain.RenderStateFailed:
		v.FailedAt = r.FinishedAt()
	case domain.RenderStateCancelled:
		v.CancelledAt = r.FinishedAt()
	}
	return v, nil
}

// nextRenderView applies the event after v (v.Version+1) to v, and reports
// false when it will not: then the row is rebuilt through the domain.
//
// Why a fold over the view and not the domain: domain.Render can only be
// loaded from its history (RebuildRender), and rebuilding one from the row
// would mean inventing a history that never happened. So this mirrors
// domain.Render's apply, but only for the transitions the domain's own
// commands record (Start from pending, progress of the running attempt,
// Complete/Fail/Retry of it, Cancel of a live render). Anything else, say a
// progress event of another attempt, goes through the domain, so the
// domain stays the judge of every unusual history. The tests fold long
// histories both ways and compare the rows.
func nextRenderView(v RenderView, rec domain.Recorded) (RenderView, bool) {
	at := rec.OccurredAt
	running := v.State == domain.RenderStateRunning
	switch e := rec.Event.(type) {
	case domain.RenderStarted:
		if v.State != domain.RenderStatePending {
			return v, false
		}
		v.State, v.Attempt, v.StartedAt = domain.RenderStateRunning, e.Attempt, at
		v.Progress, v.ETA = 0, 0
	case domain.RenderProgressed:
		if !running || e.Attempt != v.Attempt {
			return v, false
		}
		v.Progress, v.ETA = e.Percent, e.ETA
	case domain.RenderCompleted:
		if !running || e.Attempt != v.Attempt {
			return v, false
		}
		v.State, v.Progress, v.ETA, v.CompletedAt = domain.RenderStateCompleted, 100, 0, at
		v.Result = resultView(&e)
	case domain.RenderFailed:
		if !running || e.Attempt != v.Attempt {
			return v, false
		}
		v.State, v.FailedAt, v.Failure = domain.RenderStateFailed, at, renderFailure(e.Code)
	case domain.RenderCancelled:
		if v.State != domain.RenderStatePending && !running {
			return v, false
		}
		v.State, v.CancelledAt = domain.RenderStateCancelled, at
	case domain.RenderRetried:
		if !running || e.Attempt != v.Attempt+1 {
			return v, false
		}
		// The render waits for attempt e.Attempt; v.Attempt stays the last
		// one claimed until Start claims the next, as in the domain.
		v.State, v.Progress, v.ETA = domain.RenderStatePending, 0, 0
	default:
		return v, false // render.requested opens a stream: there is no row before it
	}
	v.Version, v.UpdatedAt = rec.StreamVersion, at
	return v, true
}

// renderFailure is a failure as clients see it: the code, and the public
// message for it.
func renderFailure(code string) *FailureView {
	return &FailureView{Code: code, Message: publicFailureMessage(code)}
}

// publicFailureMessage is the message clients see for a render's failure
// code, in the read model and in the render's history alike: never the
// encoder's own words, which stay in the event store for operators
// (domain.RenderFailureMessage).
func publicFailureMessage(code string) string {
	return domain.RenderFailureMessage(code)
}

func outputView(o domain.OutputSpec) OutputView {
	return OutputView{Format: o.Format, Resolution: o.Resolution, VideoBitrate: o.VideoBitrate, AudioBitrate: o.AudioBitrate}
}

func planView(p domain.RenderPlan) PlanView {
	return PlanView{Width: p.Width, Height: p.Height, VideoBitrate: p.VideoBitrate, AudioBitrate: p.AudioBitrate,
		Segments: segments(p.Segments), Duration: p.Duration}
}

func resultView(c *domain.RenderCompleted) *RenderResultView {
	if c == nil {
		return nil
	}
	return &RenderResultView{BlobKey: c.BlobKey, SizeBytes: c.SizeBytes, Duration: c.Duration, Width: c.Width,
		Height: c.Height, VideoBitrate: c.VideoBitrate, AudioBitrate: c.AudioBitrate, EncodeTime: c.EncodeTime,
		FastPath: c.FastPath}
}
