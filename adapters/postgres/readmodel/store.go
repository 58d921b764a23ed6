// Package readmodel is the read models on Postgres: the rows the
// projections write (rm_assets, rm_cuts, rm_renders) and the queries that
// read them, the API's read-your-writes waiter, and the rebuilds and
// replays of those tables from the event log.
package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// Store writes the projections' rows: it implements projections.Rows and
// projections.RenderRows.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns the read models' rows on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// tables are the read models by stream type: constants, never input.
var tables = map[domain.AggregateType]string{
	domain.AggregateAsset:  "rm_assets",
	domain.AggregateCut:    "rm_cuts",
	domain.AggregateRender: "rm_renders",
}

// Project implements projections.Rows in a transaction of its own.
func (s *Store) Project(ctx context.Context, rec domain.Recorded, build func() (any, error)) (current int64, written bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("project %s v%d: %w", rec.StreamID, rec.StreamVersion, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	current, written, err = project(ctx, tx, rec, build)
	if err != nil {
		return 0, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, false, fmt.Errorf("project %s v%d: commit: %w", rec.StreamID, rec.StreamVersion, err)
	}
	return current, written, nil
}

// project is Project inside tx: a live projection's own transaction, or a
// batch of Rebuild's.
func project(ctx context.Context, tx pgx.Tx, rec domain.Recorded, build func() (any, error)) (current int64, written bool, err error) {
	table, ok := tables[rec.StreamType]
	if !ok {
		return 0, false, fmt.Errorf("project %s v%d: no read model for %s streams", rec.StreamID, rec.StreamVersion, rec.StreamType)
	}
	// FOR UPDATE serialises projectors of one stream (two consumers during a
	// rebalance, a Rebuild next to the live projection). A missing row locks
	// nothing; the upsert's version guard covers that race.
	err = tx.QueryRow(ctx, `SELECT version FROM `+table+` WHERE id = $1 FOR UPDATE`, rec.StreamID).Scan(&current)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("project %s v%d: %w", rec.StreamID, rec.StreamVersion, err)
	}
	if rec.StreamVersion <= current {
		return current, false, nil
	}
	v, err := build()
	if err != nil {
		return current, false, err
	}
	row, err := viewRow(v)
	if err != nil {
		return current, false, err
	}
	written, err = upsert(ctx, tx, row)
	if err != nil || !written {
		return current, false, err // not written: someone else wrote this version or a later one first
	}
	payload := fmt.Sprintf("%s:%d", rec.StreamID, rec.StreamVersion)
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, projections.ProjectedChannel, payload); err != nil {
		return current, false, fmt.Errorf("project %s v%d: notify: %w", rec.StreamID, rec.StreamVersion, err)
	}
	return current, true, nil
}

// viewRow is a projection's view as its row.
func viewRow(v any) (dbRow, error) {
	switch v := v.(type) {
	case projections.AssetView:
		return assetRow(v)
	case projections.CutView:
		return cutRow(v)
	case projections.RenderView:
		return renderRow(v)
	}
	return dbRow{}, fmt.Errorf("no read model for %T", v)
}

// CreateRender implements projections.RenderRows: one statement, so its
// own transaction; the insert, its notification and the commit go in one
// round trip without BEGIN and COMMIT. A row inserted concurrently makes it
// insert nothing.
func (s *Store) CreateRender(ctx context.Context, rec domain.Recorded, v projections.RenderView) (bool, error) {
	row, err := renderRow(v)
	if err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, createSQL(row.table, row.columns), append(row.values, rec.ID, fmt.Sprintf("%s:%d", rec.StreamID, rec.StreamVersion))...)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil // SELECT 1: a row was inserted and announced
}

// ApplyToRender implements projections.RenderRows: BEGIN, the row's lock
// and the event store's check in one batch; the write, the notification
// and COMMIT in the other.
func (s *Store) ApplyToRender(ctx context.Context, rec domain.Recorded,
	next func(row *projections.RenderView, stored string) (*projections.RenderView, bool, error)) (bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed { // nothing to write, or a failure: the connection stays usable
			_, _ = conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`)
		}
		conn.Release()
	}()
	open := &pgx.Batch{}
	open.Queue(`BEGIN`)
	// FOR UPDATE, as in project: it serialises this with a Rebuild or a
	// second consumer working on the same stream.
	var cur *projections.RenderView
	open.Queue(`SELECT `+renderColumns+` FROM rm_renders WHERE id = $1 FOR UPDATE`, rec.StreamID).Query(func(rows pgx.Rows) error {
		v, err := pgx.CollectExactlyOneRow(rows, scanRender)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err == nil {
			cur = &v
		}
		return err
	})
	// One index lookup, not a load of the stream.
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
		return false, err
	}
	v, handled, err := next(cur, stored)
	if err != nil || v == nil {
		return handled, err
	}
	row, err := renderRow(*v)
	if err != nil {
		return false, err
	}
	write := &pgx.Batch{}
	write.Queue(upsertSQL(row.table, row.columns), row.values...)
	write.Queue(`SELECT pg_notify($1, $2)`, projections.ProjectedChannel, fmt.Sprintf("%s:%d", rec.StreamID, rec.StreamVersion))
	write.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, write).Close(); err != nil {
		return false, err
	}
	committed = true
	return true, nil
}
