package projections

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/telemetry"
)

// RenderRows is the render projection's fast path onto its rows, beside
// Rows' rebuilding path. readmodel.Store implements it on Postgres.
type RenderRows interface {
	Rows
	// CreateRender writes v, the row of a stream's opening event rec, and
	// announces it on ProjectedChannel in one round trip, unless there is a
	// row already or the event store does not hold rec; it reports whether
	// it did.
	CreateRender(ctx context.Context, rec domain.Recorded, v RenderView) (bool, error)
	// ApplyToRender runs one transaction on the row of rec's stream in two
	// round trips. The first locks the row and reads the id of the event
	// store's event at rec's version; next then gets the row (nil when there
	// is none) and that id ("" when the store holds none), and returns the
	// row to write (nil for none) and whether rec is handled. The second
	// writes that row, announces rec on ProjectedChannel and commits; with
	// no row to write, the transaction is rolled back instead. It returns
	// next's handled.
	ApplyToRender(ctx context.Context, rec domain.Recorded,
		next func(row *RenderView, stored string) (write *RenderView, handled bool, err error)) (bool, error)
}

// RenderProjector keeps the render read model (rm_renders) up to date.
//
// A render's stream is long: one render.progressed per progress step, so
// replaying the whole stream for every event, as the asset and cut
// projectors do, would cost O(n) per event and O(n²) per render. When the
// row is exactly one version behind, the event is applied to the row itself
// (nextRenderView), and a stream's opening event builds the row on its own;
// in every other case (a gap, a row lost to a Rebuild, an event that does
// not fit the row's state) the row is rebuilt from the event store with
// domain.RebuildRender, through the same projector code as assets and cuts.
type RenderProjector struct {
	*projector
	rows RenderRows
}

// NewRenderProjector returns the projector of render events.
func NewRenderProjector(rows RenderRows, events EventLoader, log *slog.Logger) *RenderProjector {
	initRenderCounts()
	return &RenderProjector{projector: &projector{rows: rows, events: events, streamType: domain.AggregateRender,
		log: log.With("projection", "renders"), lag: telemetry.ProjectionLag.WithLabelValues("renders"),
		applied: countRenderEnd}, rows: rows}
}

// initRenderCounts makes the render counters' usual series exist at 0 in
// the process that counts them, so that a rate over the first render (or
// the first failure of a code) is not lost to a series that starts at 1.
func initRenderCounts() {
	for _, f := range []domain.Format{domain.FormatMP4, domain.FormatMOV, domain.FormatM4A, domain.FormatMP3} {
		for _, o := range []string{telemetry.OutcomeCompleted, telemetry.OutcomeFailed, telemetry.OutcomeCancelled} {
			telemetry.Renders.WithLabelValues(string(f), o)
		}
	}
	for _, code := range []string{domain.FailureSourceUnreadable, domain.FailureEncodeFailed, domain.FailureEncodeTimeout,
		domain.FailureOutputInvalid, domain.FailureMemoryLimitExceeded, domain.FailureEncoderCrashed} {
		telemetry.RenderFailures.WithLabelValues(code)
	}
}

// countRenderEnd counts a render reaching its end state (renderd_renders_total,
// and renderd_render_failures_total by code) when the render read model
// writes the event that ends it.
//
// Counted here rather than in the commands that decide: the end states
// come from several commands in two roles (complete and fail from the
// encoder, the reaper's encoder_crashed, a client's cancel and an asset's
// deletion in the API), and here every one passes one place, once. A
// command's retry (an encoder asking again after a lost answer) appends
// nothing new, and Kafka's redelivery of the event finds the row at its
// version and writes nothing, so neither counts twice. The caveats: a
// projector that dies between the row's commit and this line loses that
// count (the redelivery is refused), and an end state that reaches the row
// only through a gap's rebuild (its own message lost, never in normal
// operation: one render's events share a partition, in order) is not
// counted, as only the event of the message is looked at.
func countRenderEnd(rec domain.Recorded, v any) {
	var format string
	switch row := v.(type) {
	case RenderView:
		format = string(row.Output.Format)
	case *RenderView:
		format = string(row.Output.Format)
	default:
		return
	}
	switch e := rec.Event.(type) {
	case domain.RenderCompleted:
		telemetry.Renders.WithLabelValues(format, telemetry.OutcomeCompleted).Inc()
	case domain.RenderFailed:
		telemetry.Renders.WithLabelValues(format, telemetry.OutcomeFailed).Inc()
		telemetry.RenderFailures.WithLabelValues(e.Code).Inc()
	case domain.RenderCancelled:
		telemetry.Renders.WithLabelValues(format, telemetry.OutcomeCancelled).Inc()
	}
}

// Handle projects one render event: the next one onto the row, anything
// else from the event store (see projector.project for those rules).
func (r *RenderProjector) Handle(ctx context.Context, rec domain.Recorded) error {
	if rec.StreamType == domain.AggregateRender {
		done, err := r.applyNext(ctx, rec)
		if err != nil || done {
			return err
		}
	}
	return r.projector.Handle(ctx, rec)
}

// applyNext projects rec onto its row when the row is at rec's version - 1
// and rec is a transition nextRenderView knows, or creates the row from a
// stream's first event when there is none, and reports whether it
// handled rec (a redelivery counts: there is nothing to do). When it did
// not, it has changed nothing and the caller rebuilds the row instead.
//
// It is on the path of every write's read-your-writes wait, and its
// transaction holds back the relay's commit-safe read while it runs, so it
// takes two round trips (RenderRows.ApplyToRender). A stream's opening
// event, every POST's, takes one (RenderRows.CreateRender).
func (r *RenderProjector) applyNext(ctx context.Context, rec domain.Recorded) (handled bool, err error) {
	fail := func(err error) error {
		return fmt.Errorf("project %s v%d: %w", rec.StreamID, rec.StreamVersion, err)
	}
	if rec.StreamVersion == 1 && rec.ID != "" {
		v, err := renderView([]domain.Recorded{rec})
		if err != nil {
			return false, fail(fmt.Errorf("%w: %w", ErrUnprojectable, err))
		}
		created, err := r.rows.CreateRender(ctx, rec, v)
		if err != nil {
			return false, fail(err)
		}
		if created {
			r.observe(rec, v)
			r.log.Debug("event projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "correlation_id", rec.CorrelationID)
			return true, nil
		}
		// Not created: the row is there (a redelivery), or the store does
		// not hold rec; the checks below tell which.
	}
	wrote := false
	var written RenderView
	handled, err = r.rows.ApplyToRender(ctx, rec, func(cur *RenderView, stored string) (*RenderView, bool, error) {
		var next RenderView
		switch {
		case cur == nil && rec.StreamVersion == 1:
			// The stream's opening event is its whole history: the domain
			// builds the row from it, with no load from the store.
			var err error
			if next, err = renderView([]domain.Recorded{rec}); err != nil {
				return nil, false, fmt.Errorf("%w: %w", ErrUnprojectable, err)
			}
		case cur == nil:
			return nil, false, nil // a row lost to a Rebuild's truncation, or a gap before it
		case rec.StreamVersion <= cur.Version:
			r.log.Debug("event already projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "row_version", cur.Version)
			return nil, true, nil
		case rec.StreamVersion != cur.Version+1:
			return nil, false, nil // a gap: the store has the events in between
		default:
			var ok bool
			if next, ok = nextRenderView(*cur, rec); !ok {
				return nil, false, nil
			}
		}
		// The event store must hold rec, as projector.History makes sure for
		// the rebuilding path: a message from another store (a misconfigured
		// topic prefix) must not be applied.
		switch {
		case stored == "":
			return nil, false, fmt.Errorf("the event store does not hold that version: %w", ErrUnprojectable)
		case rec.ID != "" && stored != rec.ID:
			return nil, false, fmt.Errorf("event %s is not the store's event %s at that version: %w", rec.ID, stored, ErrUnprojectable)
		}
		wrote, written = true, next
		return &next, true, nil
	})
	if err != nil {
		return false, fail(err)
	}
	if wrote {
		r.observe(rec, written)
		r.log.Debug("event projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "correlation_id", rec.CorrelationID)
	}
	return handled, nil
}
