package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// rebuildBatch is how many log entries one rebuild transaction covers.
const rebuildBatch = 500

// Decoder decodes a stored event payload. *eventschema.Codec implements it.
type Decoder interface {
	Unmarshal(wireName string, data []byte) (domain.Event, error)
}

// Replayer is a projection Rebuild, CatchUp and Swap drive, in
// transactions of their own, through the same code as the live consumers:
// a *projections.AssetProjector, CutProjector or RenderProjector.
type Replayer interface {
	// StreamType is the type of the streams it folds.
	StreamType() domain.AggregateType
	// History returns rec's stream from the event store up to rec, checked
	// as the live projection checks it (projections.ErrUnprojectable).
	History(ctx context.Context, rec domain.Recorded) ([]domain.Recorded, error)
}

// Rebuild empties the read models of projectors and replays the whole event
// log into them, in commit-safe order, through the same projection code as
// the live consumers. It returns the number of events replayed.
//
// It is safe next to running consumers (both are version-guarded and both
// rebuild rows from the event store), but rows are missing from the
// truncation until their stream is replayed: GETs answer 404 meanwhile, so
// run it with the API drained or accept that window. `renderd replay`
// rebuilds into tables of its own instead (ReplayAll, CatchUp, Swap).
func Rebuild(ctx context.Context, pool *pgxpool.Pool, codec Decoder, log *slog.Logger, projectors ...Replayer) (int, error) {
	byType, tables, err := projectorsByType(projectors)
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	began := time.Now()
	if _, err := pool.Exec(ctx, `TRUNCATE `+strings.Join(tables, ", ")); err != nil {
		return 0, fmt.Errorf("rebuild: truncate: %w", err)
	}
	_, replayed, err := catchUp(ctx, pool, codec, log, byType, postgres.Checkpoint{})
	if err != nil {
		return replayed, fmt.Errorf("rebuild: %w", err)
	}
	log.Info("read models rebuilt", "tables", tables, "events", replayed, "took", time.Since(began))
	return replayed, nil
}

// CatchUp projects every event after from, in the log's commit-safe order,
// through projectors (each touched row rebuilt from its stream, as the live
// consumers do it), until it has passed everything committed when it
// began. It returns the checkpoint it reached and how many events it read.
// `renderd replay` uses it to bring rebuilt read models from their
// snapshot (ReplayResult.Checkpoint) to the live head.
func CatchUp(ctx context.Context, pool *pgxpool.Pool, codec Decoder, log *slog.Logger, from postgres.Checkpoint,
	projectors ...Replayer) (postgres.Checkpoint, int, error) {
	byType, _, err := projectorsByType(projectors)
	if err != nil {
		return from, 0, fmt.Errorf("catch up: %w", err)
	}
	cp, n, err := catchUp(ctx, pool, codec, log, byType, from)
	if err != nil {
		return cp, n, fmt.Errorf("catch up: %w", err)
	}
	return cp, n, nil
}

func projectorsByType(projectors []Replayer) (map[domain.AggregateType]Replayer, []string, error) {
	byType := map[domain.AggregateType]Replayer{}
	var names []string
	for _, r := range projectors {
		table, ok := tables[r.StreamType()]
		if !ok {
			return nil, nil, fmt.Errorf("no read model for %s streams", r.StreamType())
		}
		byType[r.StreamType()] = r
		names = append(names, table)
	}
	if len(names) == 0 {
		return nil, nil, errors.New("no projectors")
	}
	return byType, names, nil
}

// catchUp is CatchUp with the projectors by stream type.
func catchUp(ctx context.Context, pool *pgxpool.Pool, codec Decoder, log *slog.Logger,
	byType map[domain.AggregateType]Replayer, cp postgres.Checkpoint) (postgres.Checkpoint, int, error) {
	// Every event committed before now must be read, and some transactions
	// may still be in flight; ReadLog holds back at the oldest one running.
	// All of them have transaction ids below end, so the catch-up is
	// complete once the oldest running transaction is at end or later and
	// a read after that finds nothing new. Events committed later reach the
	// live consumers as usual.
	var end string
	if err := pool.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text`).Scan(&end); err != nil {
		return cp, 0, err
	}
	var (
		replayed int
		settled  bool
	)
	for {
		entries, err := postgres.ReadLog(ctx, pool, cp, rebuildBatch)
		if err != nil {
			return cp, replayed, err
		}
		if len(entries) > 0 {
			var n int
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) (err error) {
				n, err = replayBatch(ctx, tx, codec, byType, entries, log)
				return err
			})
			replayed += n
			if err != nil {
				return cp, replayed, err
			}
			cp = entries[len(entries)-1].Checkpoint
			continue
		}
		if settled {
			return cp, replayed, nil
		}
		if err := pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8`, end).Scan(&settled); err != nil {
			return cp, replayed, err
		}
		if !settled {
			// A transaction that was running at the start has not finished
			// yet (xids are cluster-wide: it may be anyone's).
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return cp, replayed, ctx.Err()
			case <-t.C:
			}
		}
	}
}

// replayBatch projects one batch of the log in tx. A projector rebuilds a
// row from its stream's history up to the event it is given, so of each
// stream only the batch's last event needs projecting.
func replayBatch(ctx context.Context, tx pgx.Tx, codec Decoder, byType map[domain.AggregateType]Replayer,
	entries []postgres.LogEntry, log *slog.Logger) (int, error) {
	last := map[string]int{}
	var streams []string
	n := 0
	for i, e := range entries {
		if _, ok := byType[e.StreamType]; !ok {
			continue
		}
		n++
		if _, seen := last[e.StreamID]; !seen {
			streams = append(streams, e.StreamID)
		}
		last[e.StreamID] = i
	}
	for _, id := range streams {
		e := entries[last[id]]
		// The same choice as the live consumers: an event that can never be
		// projected is reported and passed over, not allowed to stop the rest.
		ev, err := codec.Unmarshal(e.WireName, e.Data)
		if err != nil {
			log.Error("undecodable event skipped in rebuild", "stream_id", e.StreamID, "version", e.StreamVersion, "event", e.WireName, "error", err)
			continue
		}
		rec := domain.Recorded{ID: e.ID, StreamID: e.StreamID, StreamType: e.StreamType, StreamVersion: e.StreamVersion,
			Position: e.Checkpoint.Position, Metadata: e.Metadata, Event: ev}
		// Earlier events of the stream are applied from the store on the
		// way: in a rebuild that is the plan, not a gap worth reporting.
		history, err := byType[e.StreamType].History(ctx, rec)
		if err == nil {
			_, _, err = project(ctx, tx, rec, func() (any, error) {
				v, err := projections.ViewOf(history)
				if err != nil {
					return nil, fmt.Errorf("%w: %w", projections.ErrUnprojectable, err)
				}
				return v, nil
			})
		}
		if errors.Is(err, projections.ErrUnprojectable) {
			log.Error("event skipped in rebuild", "stream_id", e.StreamID, "version", e.StreamVersion, "event", e.WireName, "error", err)
			continue
		}
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}
