package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// ProjectedChannel is the LISTEN/NOTIFY channel on which projectors announce
// every committed row change, with the payload "<stream id>:<version>".
const ProjectedChannel = "renderd_projected"

// ErrUnprojectable reports an event that no retry can ever project: it is on
// the wrong kind of stream, the event store does not hold it, or the domain
// rejects its history. A consumer logs it and moves on rather than blocking
// its partition: the stream's next event, or a Rebuild, repairs the row from
// the event store.
var ErrUnprojectable = errors.New("event cannot be projected")

// EventLoader loads one stream's whole history in version order.
// *postgres.EventStore implements it.
type EventLoader interface {
	Load(ctx context.Context, streamID string) ([]domain.Recorded, error)
}

// AssetProjector keeps the asset read model (rm_assets) up to date.
type AssetProjector struct{ p *projector }

// NewAssetProjector returns the projector of asset events.
func NewAssetProjector(pool *pgxpool.Pool, events EventLoader, log *slog.Logger) *AssetProjector {
	return &AssetProjector{p: &projector{pool: pool, events: events, log: log.With("projection", "assets"), model: readModel{
		streamType: domain.AggregateAsset,
		table:      "rm_assets",
		write: func(ctx context.Context, tx execer, history []domain.Recorded) (bool, error) {
			v, err := assetView(history)
			if err != nil {
				return false, fmt.Errorf("%w: %w", ErrUnprojectable, err)
			}
			return upsertAsset(ctx, tx, v)
		},
	}}}
}

// Handle projects one asset event; see projector.project for the rules.
func (a *AssetProjector) Handle(ctx context.Context, rec domain.Recorded) error {
	return a.p.handle(ctx, rec)
}

func (a *AssetProjector) replay() *projector { return a.p }

// CutProjector keeps the cut read model (rm_cuts) up to date.
type CutProjector struct{ p *projector }

// NewCutProjector returns the projector of cut events.
func NewCutProjector(pool *pgxpool.Pool, events EventLoader, log *slog.Logger) *CutProjector {
	return &CutProjector{p: &projector{pool: pool, events: events, log: log.With("projection", "cuts"), model: readModel{
		streamType: domain.AggregateCut,
		table:      "rm_cuts",
		write: func(ctx context.Context, tx execer, history []domain.Recorded) (bool, error) {
			v, err := cutView(history)
			if err != nil {
				return false, fmt.Errorf("%w: %w", ErrUnprojectable, err)
			}
			return upsertCut(ctx, tx, v)
		},
	}}}
}

// Handle projects one cut event; see projector.project for the rules.
func (c *CutProjector) Handle(ctx context.Context, rec domain.Recorded) error {
	return c.p.handle(ctx, rec)
}

func (c *CutProjector) replay() *projector { return c.p }

// readModel is what sets one projection apart from another.
type readModel struct {
	streamType domain.AggregateType
	table      string // a constant of this package, never input
	// write turns a history into the row and upserts it unless the row is
	// at the history's last version or later; it reports whether it wrote.
	write func(ctx context.Context, tx execer, history []domain.Recorded) (bool, error)
}

type projector struct {
	pool   *pgxpool.Pool
	events EventLoader
	model  readModel
	log    *slog.Logger
}

func (p *projector) handle(ctx context.Context, rec domain.Recorded) error {
	// The history is read before the transaction takes its connection: a
	// handler holding one connection while it waits for a second starves
	// the pool when every partition is redelivered at once (after an
	// outage), each handler waiting on the others until it times out.
	history, err := p.history(ctx, rec)
	if err != nil {
		return err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("project %s v%d: %w", rec.StreamID, rec.StreamVersion, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	missed, err := p.project(ctx, tx, rec, history)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("project %s v%d: commit: %w", rec.StreamID, rec.StreamVersion, err)
	}
	if missed > 0 {
		p.log.Info("gap filled from the event store", "stream_id", rec.StreamID, "version", rec.StreamVersion,
			"missed", missed, "correlation_id", rec.CorrelationID)
	}
	return nil
}

// project brings the row of rec's stream to rec's version, inside tx;
// history is rec's stream up to rec (p.history).
//
// The row is locked first, and its version decides: an event at or below it
// is a redelivery or arrived late, and changes nothing; the next version, or
// one further ahead (a gap: a message lost or reordered upstream), rebuilds
// the aggregate from the event store's history up to rec and writes it
// whole, which applies any missing events in order on the way. The state
// logic stays in the domain; this only picks the version. It returns how
// many events before rec it applied from the store (the gap's size).
func (p *projector) project(ctx context.Context, tx pgx.Tx, rec domain.Recorded, history []domain.Recorded) (missed int64, err error) {
	// FOR UPDATE serialises projectors of one stream (two consumers during a
	// rebalance, a Rebuild next to the live projection). A missing row locks
	// nothing; the upsert's version guard covers that race.
	var current int64
	err = tx.QueryRow(ctx, `SELECT version FROM `+p.model.table+` WHERE id = $1 FOR UPDATE`, rec.StreamID).Scan(&current)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("project %s v%d: %w", rec.StreamID, rec.StreamVersion, err)
	}
	if rec.StreamVersion <= current {
		p.log.Debug("event already projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "row_version", current)
		return 0, nil
	}
	written, err := p.model.write(ctx, tx, history)
	if err != nil || !written {
		return 0, err // not written: someone else wrote this version or a later one first
	}
	payload := fmt.Sprintf("%s:%d", rec.StreamID, rec.StreamVersion)
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ProjectedChannel, payload); err != nil {
		return 0, fmt.Errorf("project %s v%d: notify: %w", rec.StreamID, rec.StreamVersion, err)
	}
	p.log.Debug("event projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "correlation_id", rec.CorrelationID)
	return rec.StreamVersion - current - 1, nil
}

// history returns rec's stream from the event store up to and including rec:
// the row reflects exactly the event being projected, whatever later events
// the store may already hold (their own messages follow). Those events never
// change, so reading them before the row is locked is safe.
func (p *projector) history(ctx context.Context, rec domain.Recorded) ([]domain.Recorded, error) {
	if rec.StreamType != p.model.streamType {
		return nil, fmt.Errorf("%s read model: event %s is on a %s stream: %w", p.model.streamType, rec.ID, rec.StreamType, ErrUnprojectable)
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
