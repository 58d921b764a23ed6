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
	Output    domain.OutputSpec // as requested: zero values are omitted fields
	// Plan is the output as resolved against the source; its Segments is nil
	// for a full-source render.
	Plan domain.RenderPlan
	// Attempt is the current (or last) attempt; 0 until an encoder first
	// claims the render. A retry starts the next attempt at progress 0.
	Attempt  int
	Progress int           // 0-100; 100 only once completed
	ETA      time.Duration // the encoder's estimate of the time left; 0 when it gave none
	// Failure is set once failed. Its message is the public one for its code
	// (see publicFailureMessage), never the encoder's own words.
	Failure  *domain.Failure
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
	// OutputExpired: the completed render's output passed the retention
	// period and was removed; Result stays, with no download.
	OutputExpired bool
	// Deleted: the render went with its deleted asset; the API shows it
	// no more.
	Deleted bool
}

// RenderResultView is the verified deliverable of a completed render:
// domain.RenderCompleted without the attempt that made it, which the row
// does not keep (while completed, the render's Attempt is that attempt).
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
// through the domain: the row a projector writes when it does not fold the
// next event onto the row (nextRenderView).
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
		Output:    req.Output,
		Plan:      req.Plan,
		Replaces:  req.Replaces,
		UpdatedAt: history[len(history)-1].OccurredAt,
		Version:   r.Version(),
	}
	v.Plan.Segments = segments(req.Plan.Segments)
	return v.withLifecycle(r.Lifecycle()), nil
}

// FoldRenderView is the view after rec: built from rec alone when it opens
// its stream (version 1), else folded onto v, the view at the version
// before rec's, as the render read model folds its row (nextRenderView).
// It reports false when rec does not follow v (a gap, a repeat, another
// stream) or does not fold; then only the render's history builds the
// view (RenderViewOf).
func FoldRenderView(v RenderView, rec domain.Recorded) (RenderView, bool) {
	if rec.StreamVersion == 1 {
		first, err := renderView([]domain.Recorded{rec})
		return first, err == nil
	}
	if v.ID != rec.StreamID || rec.StreamVersion != v.Version+1 {
		return RenderView{}, false
	}
	return nextRenderView(v, rec)
}

// nextRenderView folds rec, the event after v (v.Version+1), onto v with
// the render's transition function (domain.RenderLifecycle.Next), and
// reports false when the render's own commands do not record rec from v's
// state (say a progress event of another attempt): then the row is rebuilt
// through the domain, which stays the judge of every unusual history. A
// row's state is never empty, so the request that opens a stream never
// folds: there is no row before it.
//
// Why a fold over the view and not the domain: domain.Render can only be
// loaded from its history (RebuildRender), and rebuilding one from the row
// would mean inventing a history that never happened. The tests fold long
// histories both ways and compare the rows, which checks the mapping
// between the row and the lifecycle (lifecycle, withLifecycle).
func nextRenderView(v RenderView, rec domain.Recorded) (RenderView, bool) {
	next, ok := v.lifecycle().Next(rec.Event, rec.OccurredAt)
	if !ok {
		return v, false
	}
	v = v.withLifecycle(next)
	v.Version, v.UpdatedAt = rec.StreamVersion, rec.OccurredAt
	return v, true
}

// lifecycle is the render's lifecycle as far as v keeps it. The row does
// not keep the worker, its lease, the count of crashes nor the attempt of
// the result, and its failure message is the public one: Next decides no
// transition by them, and withLifecycle shows none of them.
func (v RenderView) lifecycle() domain.RenderLifecycle {
	s := domain.RenderLifecycle{State: v.State, Attempt: v.Attempt, Progress: v.Progress, ETA: v.ETA,
		Failure: v.Failure, CreatedAt: v.CreatedAt, StartedAt: v.StartedAt, OutputExpired: v.OutputExpired, Deleted: v.Deleted}
	if res := v.Result; res != nil {
		s.Result = &domain.RenderCompleted{BlobKey: res.BlobKey, SizeBytes: res.SizeBytes, Duration: res.Duration,
			Width: res.Width, Height: res.Height, VideoBitrate: res.VideoBitrate, AudioBitrate: res.AudioBitrate,
			EncodeTime: res.EncodeTime, FastPath: res.FastPath}
	}
	switch v.State {
	case domain.RenderStateCompleted:
		s.FinishedAt = v.CompletedAt
	case domain.RenderStateFailed:
		s.FinishedAt = v.FailedAt
	case domain.RenderStateCancelled:
		s.FinishedAt = v.CancelledAt
	}
	return s
}

// withLifecycle is v showing the lifecycle s: the failure with its public
// message, and the time it finished under the name of its final state.
func (v RenderView) withLifecycle(s domain.RenderLifecycle) RenderView {
	v.State, v.Attempt, v.Progress, v.ETA = s.State, s.Attempt, s.Progress, s.ETA
	v.CreatedAt, v.StartedAt = s.CreatedAt, s.StartedAt
	v.OutputExpired, v.Deleted = s.OutputExpired, s.Deleted
	v.Result, v.Failure = resultView(s.Result), nil
	if s.Failure != nil {
		v.Failure = renderFailure(s.Failure.Code)
	}
	v.CompletedAt, v.FailedAt, v.CancelledAt = time.Time{}, time.Time{}, time.Time{}
	switch s.State {
	case domain.RenderStateCompleted:
		v.CompletedAt = s.FinishedAt
	case domain.RenderStateFailed:
		v.FailedAt = s.FinishedAt
	case domain.RenderStateCancelled:
		v.CancelledAt = s.FinishedAt
	}
	return v
}

// renderFailure is a failure as clients see it: the code, and the public
// message for it.
func renderFailure(code string) *domain.Failure {
	return &domain.Failure{Code: code, Message: publicFailureMessage(code)}
}

// publicFailureMessage is the message clients see for a render's failure
// code, in the read model and in the render's history alike: never the
// encoder's own words, which stay in the event store for operators
// (domain.RenderFailureMessage).
func publicFailureMessage(code string) string {
	return domain.RenderFailureMessage(code)
}

func resultView(c *domain.RenderCompleted) *RenderResultView {
	if c == nil {
		return nil
	}
	return &RenderResultView{BlobKey: c.BlobKey, SizeBytes: c.SizeBytes, Duration: c.Duration, Width: c.Width,
		Height: c.Height, VideoBitrate: c.VideoBitrate, AudioBitrate: c.AudioBitrate, EncodeTime: c.EncodeTime,
		FastPath: c.FastPath}
}
