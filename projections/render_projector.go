package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
)

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
type RenderProjector struct{ p *projector }

// NewRenderProjector returns the projector of render events.
func NewRenderProjector(pool *pgxpool.Pool, events EventLoader, log *slog.Logger) *RenderProjector {
	return &RenderProjector{p: &projector{pool: pool, events: events, log: log.With("projection", "renders"), model: readModel{
		streamType: domain.AggregateRender,
		table:      "rm_renders",
		write: func(ctx context.Context, tx execer, history []domain.Recorded) (bool, error) {
			v, err := renderView(history)
			if err != nil {
				return false, fmt.Errorf("%w: %w", ErrUnprojectable, err)
			}
			return upsertRender(ctx, tx, v)
		},
	}}}
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
	return r.p.handle(ctx, rec)
}

// replay makes Rebuild use the rebuilding path: it starts from empty
// tables and hands over only each stream's last event of a batch.
func (r *RenderProjector) replay() *projector { return r.p }

// applyNext projects rec onto its row when the row is at rec's version - 1
// and rec is a transition nextRenderView knows, or creates the row from a
// stream's first event when there is none, and reports whether it
// handled rec (a redelivery counts: there is nothing to do). When it did
// not, it has changed nothing and the caller rebuilds the row instead.
//
// It is on the path of every write's read-your-writes wait, and its
// transaction holds back the relay's commit-safe read while it runs, so it
// takes two round trips: BEGIN, the row's lock and the event store's check
// in one batch; the write, the notification and COMMIT in the other. A
// stream's opening event, every POST's, takes one (create).
func (r *RenderProjector) applyNext(ctx context.Context, rec domain.Recorded) (handled bool, err error) {
	fail := func(err error) error {
		return fmt.Errorf("project %s v%d: %w", rec.StreamID, rec.StreamVersion, err)
	}
	conn, err := r.p.pool.Acquire(ctx)
	if err != nil {
		return false, fail(err)
	}
	committed := false
	defer func() {
		if !committed { // nothing to write, or a failure: the connection stays usable
			_, _ = conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`)
		}
		conn.Release()
	}()
	if rec.StreamVersion == 1 && rec.ID != "" {
		created, err := r.create(ctx, conn, rec)
		if err != nil {
			return false, fail(err)
		}
		if created {
			committed = true
			return true, nil
		}
		// Not created: the row is there (a redelivery), or the store does
		// not hold rec; the checks below tell which.
	}
	open := &pgx.Batch{}
	open.Queue(`BEGIN`)
	// FOR UPDATE, as in projector.project: it serialises this with a Rebuild
	// or a second consumer working on the same stream.
	var cur RenderView
	found := false
	open.Queue(`SELECT `+renderColumns+` FROM rm_renders WHERE id = $1 FOR UPDATE`, rec.StreamID).Query(func(rows pgx.Rows) error {
		v, err := pgx.CollectExactlyOneRow(rows, scanRender)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		cur, found = v, err == nil
		return err
	})
	// The event store must hold rec, as projector.history makes sure for the
	// rebuilding path: a message from another store (a misconfigured topic
	// prefix) must not be applied. One index lookup, not a load of the stream.
	var stored string
	open.Queue(`SELECT event_id::text FROM events WHERE stream_id = $1 AND stream_version = $2`,
		rec.StreamID, rec.StreamVersion).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := conn.SendBatch(ctx, open).Close(); err != nil {
		return false, fail(err)
	}
	var next RenderView
	switch {
	case !found && rec.StreamVersion == 1:
		// The stream's opening event is its whole history: the domain
		// builds the row from it, with no load from the store.
		if next, err = renderView([]domain.Recorded{rec}); err != nil {
			return false, fail(fmt.Errorf("%w: %w", ErrUnprojectable, err))
		}
	case !found:
		return false, nil // a row lost to a Rebuild's truncation, or a gap before it
	case rec.StreamVersion <= cur.Version:
		r.p.log.Debug("event already projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "row_version", cur.Version)
		return true, nil
	case rec.StreamVersion != cur.Version+1:
		return false, nil // a gap: the store has the events in between
	default:
		var ok bool
		if next, ok = nextRenderView(cur, rec); !ok {
			return false, nil
		}
	}
	switch {
	case stored == "":
		return false, fail(fmt.Errorf("the event store does not hold that version: %w", ErrUnprojectable))
	case rec.ID != "" && stored != rec.ID:
		return false, fail(fmt.Errorf("event %s is not the store's event %s at that version: %w", rec.ID, stored, ErrUnprojectable))
	}
	row, err := renderRow(next)
	if err != nil {
		return false, err
	}
	write := &pgx.Batch{}
	write.Queue(upsertSQL(row.table, row.columns), row.values...)
	write.Queue(`SELECT pg_notify($1, $2)`, ProjectedChannel, fmt.Sprintf("%s:%d", rec.StreamID, rec.StreamVersion))
	write.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, write).Close(); err != nil {
		return false, fail(err)
	}
	committed = true
	r.p.log.Debug("event projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "correlation_id", rec.CorrelationID)
	return true, nil
}

// create projects a stream's opening event in one round trip, when there
// is no row yet and the event store holds rec, and reports whether it did.
// It is the first case of applyNext without the row lock: a row inserted
// concurrently makes it insert nothing.
func (r *RenderProjector) create(ctx context.Context, conn *pgxpool.Conn, rec domain.Recorded) (bool, error) {
	v, err := renderView([]domain.Recorded{rec})
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnprojectable, err)
	}
	row, err := renderRow(v)
	if err != nil {
		return false, err
	}
	// One statement, so its own transaction: the insert, its notification
	// and the commit go in one round trip without BEGIN and COMMIT.
	tag, err := conn.Exec(ctx, createSQL(row.table, row.columns), append(row.values, rec.ID, fmt.Sprintf("%s:%d", rec.StreamID, rec.StreamVersion))...)
	if err != nil {
		return false, err
	}
	created := tag.RowsAffected() == 1 // SELECT 1: a row was inserted and announced
	if created {
		r.p.log.Debug("event projected", "stream_id", rec.StreamID, "version", rec.StreamVersion, "correlation_id", rec.CorrelationID)
	}
	return created, nil
}
