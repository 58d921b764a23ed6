package projections

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
)

// replayBatchRows is how many rows one COPY of ReplayAll holds at most.
const replayBatchRows = 5000

// ReplayAll builds every read model (assets, cuts, renders) afresh from one
// snapshot of the event log, into the tables pool's search_path resolves
// (`renderd replay` aims it at a schema of its own). It reads the log
// stream by stream in version order, so each row is built once from its
// whole history by the same view and row functions as the live projectors,
// and writes the rows with COPY; nothing is announced to the API's waiters. Events committed after the snapshot are not in it: the caller
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

// replayWriter collects the rows the upsert functions would write and
// COPYs them, table by table: the tables start empty and each stream gives
// one row, so the upserts' conflict handling has nothing to do and COPY is
// several times faster than pipelined INSERTs.
type replayWriter struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	tables map[string]*copyRows
	bySQL  map[string]*copyRows // each upsert's SQL is parsed once
	queued int
}

// copyRows are one table's rows waiting for COPY.
type copyRows struct {
	table   string
	columns []string
	rows    [][]any
}

// upsertShape reads the table and columns out of an upsert's
// "INSERT INTO <table> [AS r] (<columns>) VALUES ($1, …)".
var upsertShape = regexp.MustCompile(`(?s)INSERT INTO (\w+)(?: AS \w+)? \(([^)]*)\)\s*VALUES`)

// Exec takes an upsert (the upsert functions' execer) as a row to COPY.
func (w *replayWriter) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	t := w.bySQL[sql]
	if t == nil {
		m := upsertShape.FindStringSubmatch(sql)
		if m == nil {
			return pgconn.CommandTag{}, fmt.Errorf("replay: not an upsert: %.60s", sql)
		}
		if w.tables == nil {
			w.tables, w.bySQL = map[string]*copyRows{}, map[string]*copyRows{}
		}
		if t = w.tables[m[1]]; t == nil {
			t = &copyRows{table: m[1]}
			for _, c := range strings.Split(m[2], ",") {
				t.columns = append(t.columns, strings.TrimSpace(c))
			}
			w.tables[m[1]] = t
		}
		w.bySQL[sql] = t
	}
	if len(args) != len(t.columns) {
		return pgconn.CommandTag{}, fmt.Errorf("replay: %s: %d values for %d columns", t.table, len(args), len(t.columns))
	}
	t.rows = append(t.rows, args)
	w.queued++
	return pgconn.CommandTag{}, nil
}

// write builds one stream's row from its whole history and queues it; a
// history the domain rejects is reported and skipped, as the live
// projectors skip an unprojectable event.
func (w *replayWriter) write(ctx context.Context, history []domain.Recorded) error {
	var err error
	switch history[0].StreamType {
	case domain.AggregateAsset:
		var v AssetView
		if v, err = assetView(history); err == nil {
			_, err = upsertAsset(ctx, w, v)
		}
	case domain.AggregateCut:
		var v CutView
		if v, err = cutView(history); err == nil {
			_, err = upsertCut(ctx, w, v)
		}
	case domain.AggregateRender:
		var v RenderView
		if v, err = renderView(history); err == nil {
			_, err = upsertRender(ctx, w, v)
		}
	}
	if err != nil {
		w.log.Error("stream skipped in replay", "stream_id", history[0].StreamID, "events", len(history), "error", err)
	}
	if w.queued >= replayBatchRows {
		return w.flush(ctx)
	}
	return nil
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
