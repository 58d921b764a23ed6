package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/telemetry"
)

// ProjectedChannel is the LISTEN/NOTIFY channel on which projectors announce
// every committed row change, with the payload "<stream id>:<version>".
const ProjectedChannel = "renderd_projected"

// ErrUnprojectable reports an event that no retry can ever project: it is on
// the wrong kind of stream, the event store does not hold it, or the domain
// rejects its history. A consumer logs it and moves on rather than blocking
// its partition: the stream's next event, or a rebuild (readmodel.Rebuild),
// repairs the row from the event store.
var ErrUnprojectable = errors.New("event cannot be projected")

// EventLoader loads one stream's whole history in version order.
// *postgres.EventStore implements it.
type EventLoader interface {
	Load(ctx context.Context, streamID string) ([]domain.Recorded, error)
}

// Rows keeps the read models' rows: one per stream, holding the stream's
// version. readmodel.Store implements it on Postgres.
type Rows interface {
	// Project runs one transaction on the row of rec's stream: it locks the
	// row and reads its version (current, 0 when there is none); when that
	// is below rec's version, it writes the view build returns (an
	// AssetView, a CutView or a RenderView) unless a row at the view's
	// version or later is there, and announces "<stream id>:<version>" on
	// ProjectedChannel with the write. written reports whether it wrote.
	Project(ctx context.Context, rec domain.Recorded, build func() (any, error)) (current int64, written bool, err error)
}

// ViewOf folds a stream's history, in version order, into its read model's
// view: an AssetView, a CutView or a RenderView, by the stream's type.
// `renderd replay` builds its rows with it, as the projectors do.
func ViewOf(history []domain.Recorded) (any, error) {
	switch history[0].StreamType {
	case domain.AggregateAsset:
		return assetView(history)
	case domain.AggregateCut:
		return cutView(history)
	case domain.AggregateRender:
		return renderView(history)
	}
	return nil, fmt.Errorf("no read model for %s streams", history[0].StreamType)
}

// AssetProjector keeps the asset read model (rm_assets) up to date.
type AssetProjector struct{ *projector }

// NewAssetProjector returns the projector of asset events.
func NewAssetProjector(rows Rows, events EventLoader, log *slog.Logger) *AssetProjector {
	return &AssetProjector{&projector{rows: rows, events: events, streamType: domain.AggregateAsset, log: log.With("projection", "assets"),
		lag: telemetry.ProjectionLag.WithLabelValues("assets")}}
}

// CutProjector keeps the cut read model (rm_cuts) up to date.
type CutProjector struct{ *projector }

// NewCutProjector returns the projector of cut events.
func NewCutProjector(rows Rows, events EventLoader, log *slog.Logger) *CutProjector {
	return &CutProjector{&projector{rows: rows, events: events, streamType: domain.AggregateCut, log: log.With("projection", "cuts"),
		lag: telemetry.ProjectionLag.WithLabelValues("cuts")}}
}

// projector is the projection of one stream type: the Handle loop the
// live consumers call, and what a rebuild (readmodel.Rebuild) drives in
// transactions of its own (StreamType, History).
type projector struct {
	rows       Rows
	events     EventLoader
	streamType domain.AggregateType
	log        *slog.Logger
	// lag is renderd_projection_lag_seconds of this read model; applied,
	// when set, is told of each event written to a row, with the row.
	lag     prometheus.Gauge
	applied func(rec domain.Recorded, view any)
}

// observe records that rec was written to its row v: the read model's lag
// behind the event's commit, and what applied counts. Only a write counts,
// never a redelivery the row's version refused, so that a message Kafka
// delivers twice is observed once.
func (p *projector) observe(rec domain.Recorded, v any) {
	if !rec.OccurredAt.IsZero() {
		p.lag.Set(max(time.Since(rec.OccurredAt).Seconds(), 0))
	}
	if p.applied != nil {
		p.applied(rec, v)
	}
}

// StreamType is the type of the streams the projector folds.
func (p *projector) StreamType() domain.AggregateType { return p.streamType }

// Handle projects one event; see project for the rules.
func (p *projector) Handle(ctx context.Context, rec domain.Recorded) error {
	// The history is read before the transaction takes its connection: a
	// handler holding one connection while it waits for a second starves
	// the pool when every partition is redelivered at once (after an
	// outage), each handler waiting on the others until it times out.
	history, err := p.History(ctx, rec)
	if err != nil {
		return err
	}
	missed, err := p.project(ctx, rec, history)
	if err != nil {
		return err
	}
	if missed > 0 {
		p.log.Info("gap filled from the event store", "stream_id", rec.StreamID, "version", rec.StreamVersion,
			"missed", missed, "correlation_id", rec.CorrelationID)
	}
	return nil
}

// project brings the row of rec's stream to rec's version; history is
// rec's stream up to rec (History).
//
// The row is locked first, and its version decides: an event at or below it
// is a redelivery or arrived late, and changes nothing; the next version, or
// one further ahead (a gap: a message lost or reordered upstream), rebuilds
// the aggregate from the event store's history up to rec and writes it
// whole, which applies any missing events in order on the way. The state
// logic stays in the domain; this only picks the version. It returns how
// many events before rec it applied from the store (the gap's size).
func (p *projector) project(ctx context.Context, rec domain.Recorded, history []domain.Recorded) (missed int64, err error) {
	var built any
	current, written, err := p.rows.Project(ctx, rec, func() (any, error) {
		v, err := view(history)
		built = v
		return v, err
	})
	if err != nil {
		return 0, err
	}
	if rec.StreamVersion <= current {
		p.log.Debug("event already projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "row_version", current)
		return 0, nil
	}
	if !written {
		return 0, nil // someone else wrote this version or a later one first
	}
	p.observe(rec, built)
	p.log.Debug("event projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "correlation_id", rec.CorrelationID)
	return rec.StreamVersion - current - 1, nil
}

// view is ViewOf for a projection: a history the domain rejects is
// ErrUnprojectable.
func view(history []domain.Recorded) (any, error) {
	v, err := ViewOf(history)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnprojectable, err)
	}
	return v, nil
}

// History returns rec's stream from the event store up to and including rec:
// the row reflects exactly the event being projected, whatever later events
// the store may already hold (their own messages follow). Those events never
// change, so reading them before the row is locked is safe.
func (p *projector) History(ctx context.Context, rec domain.Recorded) ([]domain.Recorded, error) {
	if rec.StreamType != p.streamType {
		return nil, fmt.Errorf("%s read model: event %s is on a %s stream: %w", p.streamType, rec.ID, rec.StreamType, ErrUnprojectable)
	}
	all, err := p.events.Load(ctx, rec.StreamID)
	if errors.Is(err, eventschema.ErrUnknownEventType) {
		// The stream holds an event this build does not know (written by a
		// newer one): the same answer as the consumer gives its message.
		return nil, fmt.Errorf("project %s v%d: %w: %w", rec.StreamID, rec.StreamVersion, ErrUnprojectable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("project %s v%d: %w", rec.StreamID, rec.StreamVersion, err)
	}
	// The relay ships only committed events, so the store always holds what
	// a message announces; when it does not, the message comes from another
	// store (a misconfigured topic prefix) and retrying cannot help.
	if int64(len(all)) < rec.StreamVersion {
		return nil, fmt.Errorf("project %s v%d: the event store holds %d events of the stream: %w",
			rec.StreamID, rec.StreamVersion, len(all), ErrUnprojectable)
	}
	history := all[:rec.StreamVersion]
	if got := history[len(history)-1]; got.StreamVersion != rec.StreamVersion || (rec.ID != "" && got.ID != rec.ID) {
		return nil, fmt.Errorf("project %s v%d: event %s is not the store's event %s at that version: %w",
			rec.StreamID, rec.StreamVersion, rec.ID, got.ID, ErrUnprojectable)
	}
	return history, nil
}
