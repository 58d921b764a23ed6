package readmodel

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// maxTupleQueries bounds the tuple-version queries in flight at once;
	// checks that arrive meanwhile wait and go out together in the next.
	// One gave the most GETs per second on 2 cores, with 4 the fewest (the
	// renders benchmark averaged 6 checks a query with 1, 3 with 2, 2.4
	// with 4): a batch grows with the load, so one in flight does not cap
	// throughput, and a check waits only for the query already out (and,
	// past maxTupleBatch checks queued, for the batches ahead of it).
	maxTupleQueries = 1
	// maxTupleBatch bounds the renders one query asks for.
	maxTupleBatch = 256
	// tupleQueryTimeout bounds one query: it answers many requests, so no
	// one request's context may cancel it.
	tupleQueryTimeout = 10 * time.Second
)

// tupleChecker answers "what is the tuple version (xmin) of this
// account's render row now?" for Queries.Render, which serves a cached
// view only while the row is the same tuple. Under load many GETs ask at
// once; rather than one round trip and one Postgres statement each, the
// checks that arrive while a query is out (maxTupleQueries) wait and then
// go out together, as one query for all their ids. A lone check goes out at
// once, so nothing waits on a timer.
//
// Every check is answered by a query sent after the check was made: it sees
// every write committed before, which is what read-your-writes needs.
type tupleChecker struct {
	query func(ctx context.Context, ids []string) (map[string]rowTuple, error)

	mu      sync.Mutex
	queue   []*tupleCheck
	running int // queries out, ≤ maxTupleQueries
}

// rowTuple is what a tuple query learns of one row.
type rowTuple struct {
	account string
	tuple   uint32
}

// tupleCheck is one waiting check and, once done is closed, its answer.
type tupleCheck struct {
	id, account string
	tuple       uint32
	found       bool
	err         error
	done        chan struct{}
}

func newTupleChecker(pool *pgxpool.Pool) *tupleChecker {
	return &tupleChecker{query: func(ctx context.Context, ids []string) (map[string]rowTuple, error) {
		rows, err := pool.Query(ctx, `SELECT id, account_id, xmin FROM rm_renders WHERE id = ANY($1)`, ids)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		found := make(map[string]rowTuple, len(ids))
		var (
			id string
			t  rowTuple
		)
		for rows.Next() {
			if err := rows.Scan(&id, &t.account, &t.tuple); err != nil {
				return nil, err
			}
			found[id] = t
		}
		return found, rows.Err()
	}}
}

// check returns the tuple version of the account's render id and whether
// the account has that render.
func (c *tupleChecker) check(ctx context.Context, account, id string) (tuple uint32, found bool, err error) {
	r := &tupleCheck{id: id, account: account, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, r)
	var batch []*tupleCheck
	if c.running < maxTupleQueries {
		c.running++
		batch = c.take()
	}
	c.mu.Unlock()
	if batch != nil {
		c.run(batch)
	}
	select {
	case <-r.done:
		return r.tuple, r.found, r.err
	case <-ctx.Done():
		return 0, false, ctx.Err() // the batch still answers r, to no one
	}
}

// take removes the next batch from the queue; c.mu is held.
func (c *tupleChecker) take() []*tupleCheck {
	n := min(len(c.queue), maxTupleBatch)
	batch := c.queue[:n:n]
	if c.queue = c.queue[n:]; len(c.queue) == 0 {
		c.queue = nil
	}
	return batch
}

// run answers batch with one query, then hands its slot to the checks
// queued meanwhile: a new goroutine sends them, so that the caller goes on
// to answer its own request.
func (c *tupleChecker) run(batch []*tupleCheck) {
	c.answer(batch)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.running--
		return
	}
	go c.run(c.take())
}

func (c *tupleChecker) answer(batch []*tupleCheck) {
	ids := make([]string, len(batch))
	for i, r := range batch {
		ids[i] = r.id
	}
	ctx, cancel := context.WithTimeout(context.Background(), tupleQueryTimeout)
	defer cancel()
	rows, err := c.query(ctx, ids)
	for _, r := range batch {
		if err != nil {
			r.err = err
		} else if t, ok := rows[r.id]; ok && t.account == r.account {
			r.tuple, r.found = t.tuple, true
		}
		close(r.done)
	}
}
