package readmodel

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// replayBatchEvents is about how many events (whole streams only) one batch
// carries from the replay's reader to its builders. A variable for tests.
var replayBatchEvents = 4096

// ReplayTables are the read models ReplayAll builds, in the order it
// builds them.
var ReplayTables = []string{"rm_assets", "rm_cuts", "rm_renders"}

// ReplayResult is what ReplayAll read and where it stopped.
type ReplayResult struct {
	Events int // events read from the log
	// Checkpoint is a place in the log's commit-safe order that the
	// replay's snapshot covers: every event at or before it was replayed.
	// Catching up from it (CatchUp) may meet a few events the snapshot held
	// already; the projectors' version guard passes over those.
	Checkpoint postgres.Checkpoint
}

// ReplayableEvents counts the events ReplayAll reads (those of the streams
// with a read model), for a progress report's total.
func ReplayableEvents(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_type IN ('asset', 'cut', 'render')`).Scan(&n)
	return n, err
}

// ReplayAll builds every read model (assets, cuts, renders) afresh from one
// snapshot of the event log, into the tables pool's search_path resolves
// (`renderd replay` aims it at a schema of its own), and announces nothing
// to the API's waiters. Each row is built once, from its stream's whole
// history, by the same view and row functions as the live projectors.
//
// It is a pipeline, so that the database and every core work at once: one
// connection streams the log in stream order, builders (one per core)
// decode whole streams and build their rows, and one COPY per table, each
// on its own connection, streams the rows in. pool must allow a connection
// for each of those four. Events committed after the snapshot are not in
// it: the caller catches up from the result's Checkpoint (see CatchUp).
// progress, when not nil, is called from one goroutine with the number of
// events read so far.
func ReplayAll(ctx context.Context, pool *pgxpool.Pool, codec Decoder, log *slog.Logger, progress func(events int)) (ReplayResult, error) {
	var res ReplayResult
	if _, err := pool.Exec(ctx, `TRUNCATE `+strings.Join(ReplayTables, ", ")); err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	copies := make(map[string]*copyStream, len(ReplayTables))
	for _, table := range ReplayTables {
		c := &copyStream{rows: make(chan [][]any, 4)}
		copies[table] = c
		g.Go(func() error { return c.run(gctx, pool, table) })
	}
	batches := make(chan []rawEvent, 2*runtime.GOMAXPROCS(0))
	g.Go(func() error {
		defer close(batches)
		var err error
		res.Events, res.Checkpoint, err = readStreams(gctx, pool, batches, progress)
		return err
	})
	var builders errgroup.Group
	for range runtime.GOMAXPROCS(0) {
		builders.Go(func() error { return buildRows(gctx, batches, codec, log, copies) })
	}
	g.Go(func() error {
		err := builders.Wait()
		for _, c := range copies {
			close(c.rows)
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	return res, nil
}

// rawEvent is an event as the replay reads it: everything the views use
// but the decoded event, and the stored payload.
type rawEvent struct {
	rec  domain.Recorded // Event still nil
	wire string
	data []byte
}

// readStreams streams the log's asset, cut and render events from one
// REPEATABLE READ snapshot, stream by stream in version order, in batches
// of whole streams. It returns how many events it read and the checkpoint
// its snapshot covers.
func readStreams(ctx context.Context, pool *pgxpool.Pool, out chan<- []rawEvent, progress func(int)) (int, postgres.Checkpoint, error) {
	var cp postgres.Checkpoint
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, cp, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	// The first statement takes the snapshot. Every transaction below its
	// xmin had ended when it was taken, so every event before that point in
	// the commit-safe order (transaction id, position) is in it.
	var xmin string
	if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xmin); err != nil {
		return 0, cp, err
	}
	x, err := strconv.ParseUint(xmin, 10, 64)
	if err != nil {
		return 0, cp, fmt.Errorf("snapshot xmin %q: %w", xmin, err)
	}
	cp = postgres.Checkpoint{TransactionID: x - 1, Position: math.MaxInt64}

	rows, err := tx.Query(ctx, `
		SELECT stream_id, stream_type, stream_version, event_type, account_id, occurred_at, data
		FROM events WHERE stream_type IN ('asset', 'cut', 'render')
		ORDER BY stream_id, stream_version`)
	if err != nil {
		return 0, cp, err
	}
	defer rows.Close()
	var (
		batch  = make([]rawEvent, 0, replayBatchEvents+64)
		events int
	)
	send := func(b []rawEvent) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for rows.Next() {
		var (
			e          rawEvent
			streamType string
		)
		if err := rows.Scan(&e.rec.StreamID, &streamType, &e.rec.StreamVersion, &e.wire, &e.rec.AccountID,
			&e.rec.OccurredAt, &e.data); err != nil {
			return events, cp, err
		}
		e.rec.StreamType = domain.AggregateType(streamType)
		// A batch ends between streams only, so that a builder gets each
		// stream's whole history.
		if len(batch) >= replayBatchEvents && batch[len(batch)-1].rec.StreamID != e.rec.StreamID {
			if err := send(batch); err != nil {
				return events, cp, err
			}
			batch = make([]rawEvent, 0, replayBatchEvents+64)
		}
		batch = append(batch, e)
		if events++; progress != nil && events%10_000 == 0 {
			progress(events)
		}
	}
	if err := rows.Err(); err != nil {
		return events, cp, err
	}
	if len(batch) > 0 {
		if err := send(batch); err != nil {
			return events, cp, err
		}
	}
	return events, cp, nil
}

// buildRows turns batches into rows, one per stream, and hands them to the
// copy of their table. A stream whose history cannot be decoded or that
// the domain rejects is reported and skipped (an undecodable event alone),
// as the live projectors skip an event they cannot project.
func buildRows(ctx context.Context, in <-chan []rawEvent, codec Decoder, log *slog.Logger, copies map[string]*copyStream) error {
	var history []domain.Recorded
	for batch := range in {
		tables := map[string][][]any{}
		for i := 0; i < len(batch); {
			j := i + 1
			for j < len(batch) && batch[j].rec.StreamID == batch[i].rec.StreamID {
				j++
			}
			history = history[:0]
			for _, e := range batch[i:j] {
				ev, err := codec.Unmarshal(e.wire, e.data)
				if err != nil {
					log.Error("undecodable event skipped in replay", "stream_id", e.rec.StreamID, "version", e.rec.StreamVersion,
						"event", e.wire, "error", err)
					continue
				}
				rec := e.rec
				rec.Event = ev
				history = append(history, rec)
			}
			i = j
			if len(history) == 0 {
				continue
			}
			r, err := streamRow(history)
			if err != nil {
				log.Error("stream skipped in replay", "stream_id", history[0].StreamID, "events", len(history), "error", err)
				continue
			}
			tables[r.table] = append(tables[r.table], r.values)
		}
		for table, rows := range tables {
			select {
			case copies[table].rows <- rows:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// streamRow is the read-model row of a stream's whole history.
func streamRow(history []domain.Recorded) (dbRow, error) {
	v, err := projections.ViewOf(history)
	if err != nil {
		return dbRow{}, err
	}
	return viewRow(v)
}

// tableColumns are the columns of each table ReplayAll builds, as its row
// builder fills them.
var tableColumns = map[string]string{"rm_assets": assetColumns, "rm_cuts": cutColumns, "rm_renders": renderColumns}

// copyStream is one table's COPY for the whole replay, fed batches of rows
// through a channel: it implements pgx.CopyFromSource. The tables start
// empty and each stream gives one row, so there is no conflict to handle.
type copyStream struct {
	ctx  context.Context
	rows chan [][]any
	cur  [][]any
	i    int
}

func (c *copyStream) run(ctx context.Context, pool *pgxpool.Pool, table string) error {
	c.ctx = ctx
	columns := columnNames(tableColumns[table])
	_, err := pool.CopyFrom(ctx, pgx.Identifier{table}, columns, c)
	if err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

func (c *copyStream) Next() bool {
	for c.i+1 >= len(c.cur) {
		select {
		case rows, ok := <-c.rows:
			if !ok {
				return false
			}
			c.cur, c.i = rows, -1
		case <-c.ctx.Done():
			return false
		}
	}
	c.i++
	return true
}

func (c *copyStream) Values() ([]any, error) { return c.cur[c.i], nil }

// Err aborts the COPY when the replay was cancelled or failed elsewhere, so
// that a partial table is never committed.
func (c *copyStream) Err() error { return c.ctx.Err() }

// PrepareReplay creates schema afresh, holding empty copies of the read
// models ReplayAll builds, and returns a pool aimed at them, for the same
// SQL as the live read models: unqualified names resolve in schema first,
// and the event store (public) after. The live tables are not touched.
//
// The copies have the live tables' columns, defaults and constraints, but
// of their indexes only the primary key, which CatchUp and Swap need: the
// others serve the API's lists, and maintaining them would cost a replay
// more than half its time. They are unlogged, too: a scratch table lost to
// a crash is rebuilt by running the replay again, and the WAL it skips is
// the other large cost. The live tables keep both when Swap fills them.
func PrepareReplay(ctx context.Context, pool *pgxpool.Pool, schema string) (*pgxpool.Pool, error) {
	s := pgx.Identifier{schema}.Sanitize()
	ddl := []string{`DROP SCHEMA IF EXISTS ` + s + ` CASCADE`, `CREATE SCHEMA ` + s}
	for _, t := range ReplayTables {
		ddl = append(ddl, fmt.Sprintf(`CREATE UNLOGGED TABLE %s.%s (LIKE public.%s INCLUDING ALL EXCLUDING INDEXES, PRIMARY KEY (id))`, s, t, t))
	}
	for _, q := range ddl {
		if _, err := pool.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("replay: prepare %s: %w", schema, err)
		}
	}
	cfg := pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["search_path"] = s + ", public"
	cfg.MaxConns = 4 // ReplayAll's reader and its three COPYs
	rpool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return rpool, nil
}

// Differences lists (up to limit) and counts the ids whose rows differ
// between the live table and its copy in schema, either way.
func Differences(ctx context.Context, pool *pgxpool.Pool, schema, table string, limit int) ([]string, int, error) {
	// A join on id, comparing whole rows column by column: five times
	// faster than EXCEPT both ways, which hashes every row.
	q := fmt.Sprintf(`SELECT coalesce(l.id, r.id) FROM public.%[1]s l FULL JOIN %[2]s.%[1]s r ON l.id = r.id
		WHERE l.id IS NULL OR r.id IS NULL OR (l.*) IS DISTINCT FROM (r.*) ORDER BY 1`,
		pgx.Identifier{table}.Sanitize(), pgx.Identifier{schema}.Sanitize())
	rows, err := pool.Query(ctx, q)
	if err != nil {
		return nil, 0, fmt.Errorf("compare %s: %w", table, err)
	}
	defer rows.Close()
	var ids []string
	n := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, fmt.Errorf("compare %s: %w", table, err)
		}
		if n++; n <= limit {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("compare %s: %w", table, err)
	}
	return ids, n, nil
}

// Swap makes the read models rebuilt in schema the live ones, in one
// transaction, and loses nothing written meanwhile. pool resolves
// unqualified names in schema first (as ReplayAll's did), and projectors
// are built on it; from is where the rebuilt tables are caught up to
// (CatchUp's checkpoint). It returns how many streams it brought up to the
// live head in the last step.
//
// The live tables are locked against writes first: the live projectors
// wait (reads go on, seeing the old rows until the commit). Then every
// stream with an event after from, as the log stands now (every committed
// event, where the commit-safe reader stops at the oldest running
// transaction), is rebuilt from its stream, so the rebuilt tables hold
// everything the live projectors can have applied. Then the live rows are
// replaced. The projectors resume on the new rows, version-guarded: an
// event a row already reflects changes nothing, and the rest apply on top.
func Swap(ctx context.Context, pool *pgxpool.Pool, codec Decoder, log *slog.Logger, schema string, from postgres.Checkpoint,
	projectors ...Replayer) (int, error) {
	byType, _, err := projectorsByType(projectors)
	if err != nil {
		return 0, fmt.Errorf("swap: %w", err)
	}
	s := pgx.Identifier{schema}.Sanitize()
	live := make([]string, len(ReplayTables))
	for i, t := range ReplayTables {
		live[i] = "public." + t
	}
	var streams int
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(live, ", ")+` IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock the live read models: %w", err)
		}
		last, err := postgres.LastEventsAfter(ctx, tx, from)
		if err != nil {
			return err
		}
		streams, err = replayBatch(ctx, tx, codec, byType, last, log)
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		for i, t := range ReplayTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+live[i]); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT * FROM %s.%s`, live[i], s, t)); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("swap: %w", err)
	}
	return streams, nil
}
