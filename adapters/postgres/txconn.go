package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// txConn is a command transaction's connection that holds back writes whose
// only outcome is an error (reserving a signature, queueing a render job)
// and sends them with the transaction's next statement, in one round trip.
// A command transaction holds its transaction id, and with it the relay's
// commit-safe read of the log, from its first write to its COMMIT, so its
// writes, its append and its COMMIT are best sent close together: a render
// request sends them in two round trips instead of four.
//
// Any statement sees the writes held back before it: Exec, Query and
// QueryRow send them first.
type txConn struct {
	conn  *pgxpool.Conn
	later []heldWrite
}

// heldWrite is a write held back for the next round trip, with what its
// error means.
type heldWrite struct {
	sql  string
	args []any
	fail func(error) error
}

// hold holds a write back until the next statement; fail maps its error.
func (c *txConn) hold(fail func(error) error, sql string, args ...any) {
	c.later = append(c.later, heldWrite{sql: sql, args: args, fail: fail})
}

// send sends the writes held back and then the statements tail queues, in
// one round trip, and reads the writes' results. The caller reads tail's
// results from the returned BatchResults and closes it. When a held write
// failed, Postgres ran none of the statements after it and the
// transaction is aborted.
func (c *txConn) send(ctx context.Context, tail func(*pgx.Batch)) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	held := c.later
	c.later = nil
	for _, w := range held {
		b.Queue(w.sql, w.args...)
	}
	if tail != nil {
		tail(b)
	}
	br := c.conn.SendBatch(ctx, b)
	for _, w := range held {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, w.fail(err)
		}
	}
	return br, nil
}

// flush sends the writes held back, if any.
func (c *txConn) flush(ctx context.Context) error {
	if len(c.later) == 0 {
		return nil
	}
	br, err := c.send(ctx, nil)
	if err != nil {
		return err
	}
	return br.Close()
}

// commit sends the writes held back and COMMIT.
func (c *txConn) commit(ctx context.Context) error {
	br, err := c.send(ctx, func(b *pgx.Batch) { b.Queue("COMMIT") })
	if err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("commit: %w", err)
	}
	return br.Close()
}

func (c *txConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := c.flush(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return c.conn.Exec(ctx, sql, args...)
}

func (c *txConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.conn.Query(ctx, sql, args...)
}

func (c *txConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := c.flush(ctx); err != nil {
		return errRow{err}
	}
	return c.conn.QueryRow(ctx, sql, args...)
}

// errRow is a row whose query could not be sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
