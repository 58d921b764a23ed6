package projections

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
)

// replayBatchRows is how many rows one COPY of ReplayAll holds at most.
const replayBatchRows = 5000

// ReplayAll builds every read model (assets, cuts, renders) afresh from one
// snapshot of the event log, into the tables pool's search_path resolves
// (`renderd replay` aims it at a schema of its own). It reads the log
// stream by stream in version order, so each row is built once from its
// whole history by the same view and row functions as the live projectors
// (the row builders behind their upserts), and writes the rows with COPY; nothing is announced to the API's waiters. Events committed after the snapshot are not in it: the caller
// catches up on them (see `renderd replay --swap`). progress, when not nil,
// gets the number of events read so far. It returns that number.
func ReplayAll(ctx context.Context, pool *pgxpool.Pool, codec Decoder, log *slog.Logger, progress func(events int)) (int, error) {
	if _, err := pool.Exec(ctx, `TRUNCATE rm_assets, rm_cuts, rm_renders`); err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	read, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	defer read.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	rows, err := read.Query(ctx, `
		SELECT event_id::text, stream_id, stream_type, stream_version, event_type, account_id, correlation_id,
		       causation_id, occurred_at, position, data
		FROM events WHERE stream_type IN ('asset', 'cut', 'render')
		ORDER BY stream_id, stream_version`)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	defer rows.Close()

	w := &replayWriter{pool: pool, log: log}
	var (
		history []domain.Recorded
		events  int
	)
	for rows.Next() {
		var (
			rec        domain.Recorded
			streamType string
			wire       string
			data       []byte
		)
		if err := rows.Scan(&rec.ID, &rec.StreamID, &streamType, &rec.StreamVersion, &wire, &rec.AccountID, &rec.CorrelationID,
			&rec.CausationID, &rec.OccurredAt, &rec.Position, &data); err != nil {
			return events, fmt.Errorf("replay: %w", err)
		}
		rec.StreamType = domain.AggregateType(streamType)
		if len(history) > 0 && history[0].StreamID != rec.StreamID {
			if err := w.write(ctx, history); err != nil {
				return events, err
			}
			history = history[:0]
		}
		events++
		if progress != nil && events%10_000 == 0 {
			progress(events)
		}
		ev, err := codec.Unmarshal(wire, data)
		if err != nil {
			log.Error("undecodable event skipped in replay", "stream_id", rec.StreamID, "version", rec.StreamVersion, "event", wire, "error", err)
			continue
		}
		rec.Event = ev
		history = append(history, rec)
	}
	if err := rows.Err(); err != nil {
		return events, fmt.Errorf("replay: %w", err)
	}
	if len(history) > 0 {
		if err := w.write(ctx, history); err != nil {
			return events, err
		}
	}
	if err := w.flush(ctx); err != nil {
		return events, err
	}
	if progress != nil {
		progress(events)
	}
	return events, nil
}

// replayWriter collects each stream's row and COPYs them, table by table:
// the tables start empty and each stream gives one row, so there is no
// conflict to handle, and COPY is several times faster than INSERTs.
type replayWriter struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	tables map[string]*copyRows
	queued int
}

// copyRows are one table's rows waiting for COPY.
type copyRows struct {
	columns []string
	rows    [][]any
}

// write builds one stream's row from its whole history and queues it; a
// history the domain rejects is reported and skipped, as the live
// projectors skip an unprojectable event.
func (w *replayWriter) write(ctx context.Context, history []domain.Recorded) error {
	r, err := streamRow(history)
	if err != nil {
		w.log.Error("stream skipped in replay", "stream_id", history[0].StreamID, "events", len(history), "error", err)
		return nil
	}
	t := w.tables[r.table]
	if t == nil {
		t = &copyRows{columns: columnNames(r.columns)}
		if w.tables == nil {
			w.tables = map[string]*copyRows{}
		}
		w.tables[r.table] = t
	}
	t.rows = append(t.rows, r.values)
	if w.queued++; w.queued >= replayBatchRows {
		return w.flush(ctx)
	}
	return nil
}

// streamRow is the read-model row of a stream's whole history.
func streamRow(history []domain.Recorded) (dbRow, error) {
	switch history[0].StreamType {
	case domain.AggregateAsset:
		v, err := assetView(history)
		if err != nil {
			return dbRow{}, err
		}
		return assetRow(v)
	case domain.AggregateCut:
		v, err := cutView(history)
		if err != nil {
			return dbRow{}, err
		}
		return cutRow(v)
	case domain.AggregateRender:
		v, err := renderView(history)
		if err != nil {
			return dbRow{}, err
		}
		return renderRow(v)
	}
	return dbRow{}, fmt.Errorf("no read model for %s streams", history[0].StreamType)
}

func (w *replayWriter) flush(ctx context.Context) error {
	for table, t := range w.tables {
		if len(t.rows) == 0 {
			continue
		}
		if _, err := w.pool.CopyFrom(ctx, pgx.Identifier{table}, t.columns, pgx.CopyFromRows(t.rows)); err != nil {
			return fmt.Errorf("replay: write %s: %w", table, err)
		}
		t.rows = t.rows[:0]
	}
	w.queued = 0
	return nil
}
