package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

const appendWriters = 16

// errNotCounted: the operation did nothing worth counting; carry on.
var errNotCounted = errors.New("not counted")

// benchAppend measures event-store appends (16 writers, one event per
// transaction, each a full command transaction: stream lock, version check,
// insert, commit) against raw pgx doing the same writes in the same
// database: 16 clients inserting the same event row, one per transaction,
// into a copy of the events table, once under the same stream lock
// (pg_advisory_xact_lock, the event store's concurrency control: what any
// store appending to streams in order must pay) and once without. The
// events table is also the outbox (adapters/postgres/migrations/
// 00001_event_store.sql), so the row is all an append writes. Every side
// waits for the same fsync per commit, which bounds the rate on this
// machine's disk: the target is the ratio, not an absolute figure.
func benchAppend(ctx context.Context, e *env, d time.Duration) ([]result, error) {
	if _, err := e.pool.Exec(ctx, `CREATE TABLE bench_raw_events (LIKE events INCLUDING ALL)`); err != nil {
		return nil, err
	}
	ev := domain.RenderProgressed{Attempt: 1, Percent: 42, ETA: 12 * time.Second, Position: 3 * time.Second}
	wire, data, err := e.codec.Marshal(ev)
	if err != nil {
		return nil, err
	}

	raw := func(locked bool) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			tx, err := e.pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx) //nolint:errcheck
			if locked {            // the stream ourOp appends to: the same lock
				if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, postgres.LockKey(fmt.Sprintf("rnd_bench_%d_%d", w, i%100))); err != nil {
					return err
				}
			}
			id := uuid.Must(uuid.NewV7())
			if _, err := tx.Exec(ctx, `INSERT INTO bench_raw_events (event_id, stream_id, stream_type, stream_version, event_type, account_id, correlation_id, occurred_at, data)
			VALUES ($1, $2, 'render', 1, $3, 'acc_bench', 'bench', now(), $4)`, id, "rnd_raw_"+id.String(), wire, data); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}
	}

	store := postgres.NewEventStore(e.pool, e.codec, nil)
	const streamsPerWriter = 100
	versions := make([][]int64, appendWriters)
	for w := range versions {
		versions[w] = make([]int64, streamsPerWriter)
	}
	meta := domain.Metadata{AccountID: "acc_bench", CorrelationID: "bench"}
	ourOp := func(ctx context.Context, w, i int) error {
		s := i % streamsPerWriter
		stream := fmt.Sprintf("rnd_bench_%d_%d", w, s)
		m := meta
		m.OccurredAt = time.Now()
		err := store.Transact(ctx, []string{stream}, func(ctx context.Context, tx commands.Tx) error {
			_, err := tx.Append(ctx, stream, commands.Exactly(versions[w][s]), m, ev)
			return err
		})
		var conflict *commands.ConcurrencyError
		switch {
		case err == nil:
			versions[w][s]++
		case errors.As(err, &conflict):
			// The previous round ended while a commit was in flight: the
			// append landed, but its caller never heard. Catch up.
			versions[w][s] = conflict.Actual
			return errNotCounted
		}
		return err
	}
	// Alternate short rounds of each, so that the machine's noise falls on
	// every side alike rather than on whichever ran last.
	const rounds = 3
	var locked, bare, ours float64
	for range rounds {
		l, err := throughput(ctx, d/rounds, raw(true))
		if err != nil {
			return nil, fmt.Errorf("raw baseline: %w", err)
		}
		o, err := throughput(ctx, d/rounds, ourOp)
		if err != nil {
			return nil, fmt.Errorf("event store: %w", err)
		}
		b, err := throughput(ctx, d/rounds, raw(false))
		if err != nil {
			return nil, fmt.Errorf("raw baseline without the lock: %w", err)
		}
		locked, ours, bare = locked+l/rounds, ours+o/rounds, bare+b/rounds
	}
	ratio := ours / locked
	return []result{{
		name:     fmt.Sprintf("append, %d writers, 1 event per transaction", appendWriters),
		value:    fmt.Sprintf("%.0f events/s (%.2f × raw without the stream lock: %.0f tx/s)", ours, ours/bare, bare),
		baseline: fmt.Sprintf("%.0f tx/s (raw pgx: the same event row, 1 per transaction, under the same stream lock)", locked),
		ratio:    fmt.Sprintf("%.2f", ratio),
		target:   "≥ 0.9 × raw (the disk's fsync bounds both)",
		ok:       ratio >= 0.9,
	}}, nil
}

// throughput runs op from appendWriters goroutines for a warm-up second and
// then d, and returns completed operations per second over d. A stream's
// versions are tracked by op itself, so rounds can follow one another.
func throughput(ctx context.Context, d time.Duration, op func(ctx context.Context, writer, i int) error) (float64, error) {
	var (
		counting atomic.Bool
		done     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := range appendWriters {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				err := op(ctx, w, i)
				if errors.Is(err, errNotCounted) {
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { firstErr = err; cancel() })
					}
					return
				}
				if counting.Load() {
					done.Add(1)
				}
			}
		})
	}
	time.Sleep(time.Second)
	counting.Store(true)
	start := time.Now()
	time.Sleep(d)
	n := done.Load()
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	return float64(n) / elapsed.Seconds(), firstErr
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
