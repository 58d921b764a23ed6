package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// txConn is a command transaction's connection that keeps its held writes
// (commands.Tx): writes whose only outcome is an error (reserving a
// signature, queueing a render job, the append that opens a stream), sent
// with the transaction's next statement or its COMMIT, in one round trip.
// A held write's error surfaces there, mapped by its fail to the typed
// error the port promises, and the transaction is rolled back.
//
// A command transaction holds its transaction id, and with it the relay's
// commit-safe read of the log, from its first write to its COMMIT, so its
// writes, its append and its COMMIT are best sent close together: a render
// request sends them in one round trip instead of four.
//
// Any statement sees the writes held back before it: Exec, Query and
// QueryRow send them in the same batch, ahead of it.
//
// BEGIN and the stream locks are held back the same way (beginLocked), so
// a transaction's first round trip carries its first statement too.
type txConn struct {
	conn  *pgxpool.Conn
	later []heldWrite
	// opening is how many of the first writes held back are BEGIN and the
	// locks; sent, whether they have gone out (there is a transaction to end).
	opening int
	sent    bool
}

// heldWrite is a held write (or a read stated ahead, with read set) kept
// for the next round trip, with what its error means.
type heldWrite struct {
	sql  string
	args []any
	fail func(error) error
	read func(pgx.Row) error // a read's, which takes its one row; nil for a write
}

// hold holds a write back until the next statement; fail maps its error.
func (c *txConn) hold(fail func(error) error, sql string, args ...any) {
	c.later = append(c.later, heldWrite{sql: sql, args: args, fail: fail})
}

// holdRead holds back a read of at most one row, which read takes (its
// Scan's error is pgx.ErrNoRows for none); fail maps read's error.
func (c *txConn) holdRead(fail func(error) error, read func(pgx.Row) error, sql string, args ...any) {
	c.later = append(c.later, heldWrite{sql: sql, args: args, fail: fail, read: read})
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
	c.sent = true
	br := c.conn.SendBatch(ctx, b)
	for _, w := range held {
		var err error
		if w.read != nil {
			err = w.read(br.QueryRow())
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			return nil, w.fail(err)
		}
	}
	return br, nil
}

// commit sends the writes held back and COMMIT. A transaction that holds
// only its opening has nothing to commit: it read and wrote nothing.
func (c *txConn) commit(ctx context.Context) error {
	if !c.sent && len(c.later) == c.opening {
		c.later = nil
		return nil
	}
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

// rollback ends a transaction that went out; the writes held back are
// dropped. Its error is not reported: a connection released inside a
// transaction is closed by the pool rather than reused.
func (c *txConn) rollback(ctx context.Context) {
	c.later = nil
	if c.sent {
		_, _ = c.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
}

// Exec, Query and QueryRow send the writes held back with their statement,
// in one round trip.

func (c *txConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(c.later) == 0 {
		return c.conn.Exec(ctx, sql, args...)
	}
	br, err := c.send(ctx, func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (c *txConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if len(c.later) == 0 {
		return c.conn.Query(ctx, sql, args...)
	}
	br, err := c.send(ctx, func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (c *txConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if len(c.later) == 0 {
		return c.conn.QueryRow(ctx, sql, args...)
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return batchRow{rows}
}

// batchRows are the rows of a batch's last statement; closing them closes
// the batch, which frees the connection.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error // of closing the batch
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close() // as pgx rows close themselves when they run out
	return false
}

// batchRow is QueryRow's row: the first of rows, which it then closes.
type batchRow struct{ rows pgx.Rows }

func (r batchRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errRow is a row whose query could not be sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
