package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/eventstoretest"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

func TestEventStoreContract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Subject {
		pool := testenv.Postgres(t)
		acc, err := postgres.NewAccounts(pool).Create(t.Context(), "contract", 0)
		if err != nil {
			t.Fatal(err)
		}
		return eventstoretest.Subject{Store: postgres.NewEventStore(pool, eventschema.NewCodec(), nil), Account: acc.AccountID,
			MediaJobs: func(ctx context.Context) ([]commands.MediaJob, error) { return postgres.ListMediaJobs(ctx, pool) }}
	})
}

func meta(i int) domain.Metadata {
	return domain.Metadata{AccountID: "acc_1", CorrelationID: fmt.Sprint("req_", i), OccurredAt: time.Now()}
}

func appendProgress(ctx context.Context, s *postgres.EventStore, stream string, i int) error {
	return s.Transact(ctx, []string{stream}, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.Append(ctx, stream, commands.AnyVersion(), meta(i), domain.RenderProgressed{Attempt: 1, Percent: i % 100})
		return err
	})
}

// An open transaction that appended first but commits last must not let the
// log reader skip its event: the reader stops short of it until it commits.
func TestReadLog_waits_for_an_older_transaction_still_in_progress(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)

	slowAppended := make(chan struct{})
	release := make(chan struct{})
	slowDone := make(chan error, 1)
	go func() {
		slowDone <- store.Transact(ctx, []string{"rnd_slow"}, func(ctx context.Context, tx commands.Tx) error {
			// Any version: an append that opens a stream waits for the next
			// round trip, and this one must be in the table, uncommitted.
			if _, err := tx.Append(ctx, "rnd_slow", commands.AnyVersion(), meta(0), domain.RenderProgressed{Attempt: 1}); err != nil {
				return err
			}
			close(slowAppended)
			<-release
			return nil
		})
	}()
	<-slowAppended
	if err := appendProgress(ctx, store, "rnd_fast", 1); err != nil {
		t.Fatal(err)
	}
	entries, err := postgres.ReadLog(ctx, pool, postgres.Checkpoint{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("read %d entries past a transaction still in progress", len(entries))
	}
	// The reader is told something committed is waiting, though it may not
	// read it yet: it retries soon rather than sleep until a notification.
	if unread, err := postgres.Unread(ctx, pool, postgres.Checkpoint{}); err != nil || !unread {
		t.Fatalf("Unread = %v, %v while an event is held back", unread, err)
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	// Transactions anywhere in the cluster hold the reader back (xids are
	// cluster-wide), so other tests' work may delay it a little.
	testenv.Eventually(t, 10*time.Second, "both events to become readable", func() bool {
		entries, err = postgres.ReadLog(ctx, pool, postgres.Checkpoint{}, 100)
		return err == nil && len(entries) == 2
	})
	if len(entries) != 2 || entries[0].StreamID != "rnd_slow" || entries[1].StreamID != "rnd_fast" {
		t.Fatalf("entries = %+v, want rnd_slow then rnd_fast", entries)
	}
	// Paging from a checkpoint returns only what follows it.
	rest, err := postgres.ReadLog(ctx, pool, entries[0].Checkpoint, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].ID != entries[1].ID {
		t.Fatalf("after the first entry: %+v", rest)
	}
	if unread, err := postgres.Unread(ctx, pool, rest[0].Checkpoint); err != nil || unread {
		t.Fatalf("Unread = %v, %v after everything was read", unread, err)
	}
}

// The log's order compares transaction ids as numbers: as text, an event of
// transaction 10 would come before one of transaction 9, and a batch cut
// after it would skip transaction 9's for good.
func TestReadLog_orders_transaction_ids_as_numbers(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	for _, txid := range []int{10, 9} { // 10 takes the lower position
		_, err := pool.Exec(ctx, `INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type,
			account_id, occurred_at, transaction_id, data)
			VALUES (gen_random_uuid(), $1, 'render', 1, 'render.progressed', 'acc_1', now(), $2::text::xid8, '{}')`,
			fmt.Sprint("rnd_tx", txid), fmt.Sprint(txid))
		if err != nil {
			t.Fatal(err)
		}
	}
	first, err := postgres.ReadLog(ctx, pool, postgres.Checkpoint{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || first[0].Checkpoint.TransactionID != 9 {
		t.Fatalf("first entry = %+v, want transaction 9's", first)
	}
	rest, err := postgres.ReadLog(ctx, pool, first[0].Checkpoint, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].Checkpoint.TransactionID != 10 {
		t.Fatalf("after transaction 9: %+v, want transaction 10's", rest)
	}
}

func TestCheckpoint_round_trips_and_starts_at_zero(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	cp, err := postgres.LoadCheckpoint(ctx, pool, "relay")
	if err != nil || cp != (postgres.Checkpoint{}) {
		t.Fatalf("fresh checkpoint = %+v, %v", cp, err)
	}
	want := postgres.Checkpoint{TransactionID: 1 << 40, Position: 42}
	if err := postgres.SaveCheckpoint(ctx, pool, "relay", want); err != nil {
		t.Fatal(err)
	}
	if got, err := postgres.LoadCheckpoint(ctx, pool, "relay"); err != nil || got != want {
		t.Fatalf("checkpoint = %+v, %v; want %+v", got, err, want)
	}
}

func TestLoad_reports_an_event_the_codec_cannot_read(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	_, err := pool.Exec(ctx, `INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, account_id, occurred_at, data)
		VALUES (gen_random_uuid(), 'rnd_bad', 'render', 1, 'render.exploded.v9', 'acc_1', now(), '{}')`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = postgres.NewEventStore(pool, eventschema.NewCodec(), nil).Load(ctx, "rnd_bad")
	if !errors.Is(err, eventschema.ErrUnknownEventType) {
		t.Fatalf("err = %v, want ErrUnknownEventType", err)
	}
}

func TestLoad_of_an_id_postgres_refuses_is_not_found(t *testing.T) {
	ctx := t.Context()
	store := postgres.NewEventStore(testenv.Postgres(t), eventschema.NewCodec(), nil)
	for _, id := range []string{"ast_\x00", "ast_\xff"} {
		if _, err := store.Load(ctx, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Load(%q): err = %v, want ErrNotFound", id, err)
		}
		err := store.Transact(ctx, []string{id}, func(ctx context.Context, tx commands.Tx) error {
			_, err := tx.Load(ctx, id)
			return err
		})
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Load(%q) in a transaction: err = %v, want ErrNotFound", id, err)
		}
	}
}

// A writer that bypasses the stream lock (raw SQL here) still cannot create a
// second event at a version: our insert waits on its uncommitted row and,
// once it commits, fails on the unique version as a concurrency conflict.
func TestAppend_unique_version_backs_up_the_lock(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)

	intruder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Rollback(ctx) //nolint:errcheck
	if _, err := intruder.Exec(ctx, `INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, account_id, occurred_at, data)
		VALUES (gen_random_uuid(), 'rnd_u', 'render', 1, 'render.cancelled.v1', 'acc_1', now(), '{"attempt":0}')`); err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		result <- store.Transact(ctx, []string{"rnd_u"}, func(ctx context.Context, tx commands.Tx) error {
			_, err := tx.Append(ctx, "rnd_u", commands.NoStream(), meta(1), domain.RenderCancelled{})
			return err
		})
	}()
	testenv.Eventually(t, 10*time.Second, "our append to wait on the intruder's row", func() bool {
		var waiting int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO events%'`).Scan(&waiting)
		return waiting == 1
	})
	if err := intruder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-result; !errors.Is(err, commands.ErrConcurrencyConflict) {
		t.Fatalf("err = %v, want a concurrency conflict", err)
	}
	if recs, err := store.Load(ctx, "rnd_u"); err != nil || len(recs) != 1 {
		t.Fatalf("stream has %d events (%v), want the intruder's one", len(recs), err)
	}
}

// A held-back write (here a second live render for a signature) travels
// with the append; when it fails, the append does not happen and the
// command gets the write's own error.
func TestTransact_a_held_write_that_fails_stops_the_append_with_its_error(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	lock := []string{"rnd_h1", "rnd_h2", commands.SignatureStream("acc_1", "sig")}
	if err := store.Transact(ctx, lock, func(ctx context.Context, tx commands.Tx) error {
		return tx.ReserveSignature(ctx, "acc_1", "sig", "rnd_h1")
	}); err != nil {
		t.Fatal(err)
	}
	err := store.Transact(ctx, lock, func(ctx context.Context, tx commands.Tx) error {
		if err := tx.ReserveSignature(ctx, "acc_1", "sig", "rnd_h2"); err != nil {
			return err
		}
		_, err := tx.Append(ctx, "rnd_h2", commands.NoStream(), meta(1), domain.RenderCancelled{})
		return err
	})
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("err = %v, want the signature's conflict", err)
	}
	if recs, err := store.Load(ctx, "rnd_h2"); err != nil || len(recs) != 0 {
		t.Fatalf("rnd_h2 has %d events (%v), want none", len(recs), err)
	}
}

// BEGIN and the stream locks travel with a transaction's first statement.
// A lock that cannot be had fails that statement with the lock's error, and
// a transaction that ends before sending anything leaves nothing behind.
func TestTransact_opens_with_its_first_statement(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	if err := appendProgress(ctx, store, "rnd_o", 1); err != nil {
		t.Fatal(err)
	}

	t.Run("a_failure_before_any_statement", func(t *testing.T) {
		refused := errors.New("refused")
		for range 2 * pool.Config().MaxConns { // every connection of the pool, and again
			if err := store.Transact(ctx, []string{"rnd_o"}, func(context.Context, commands.Tx) error { return refused }); err != refused {
				t.Fatalf("err = %v, want the function's own", err)
			}
		}
		if err := store.Transact(ctx, []string{"rnd_o"}, func(context.Context, commands.Tx) error { return nil }); err != nil {
			t.Fatalf("a transaction that did nothing: %v", err)
		}
		if err := appendProgress(ctx, store, "rnd_o", 2); err != nil {
			t.Fatalf("after them: %v", err)
		}
	})

	t.Run("a_lock_held_elsewhere", func(t *testing.T) {
		holding, release := make(chan struct{}), make(chan struct{})
		held := make(chan error, 1)
		go func() {
			held <- store.Transact(ctx, []string{"rnd_o"}, func(ctx context.Context, tx commands.Tx) error {
				if _, err := tx.Load(ctx, "rnd_o"); err != nil {
					return err
				}
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		err := store.Transact(short, []string{"rnd_o"}, func(ctx context.Context, tx commands.Tx) error {
			_, err := tx.Load(ctx, "rnd_o")
			return err
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the wait for the lock to end with the deadline", err)
		}
		close(release)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		if recs, err := store.Load(ctx, "rnd_o"); err != nil || len(recs) != 2 {
			t.Fatalf("rnd_o has %d events (%v), want 2", len(recs), err)
		}
		if err := appendProgress(ctx, store, "rnd_o", 3); err != nil {
			t.Fatalf("after the lock was released: %v", err)
		}
	})
}

// Append returns the events as stored, as Load returns them: the wire form
// keeps durations to the microsecond.
func TestAppend_returns_the_events_as_stored(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	fine := domain.RenderProgressed{Attempt: 1, Percent: 5, ETA: 1234567891, Position: 7654321}
	var appended []domain.Recorded
	err := store.Transact(ctx, []string{"rnd_s"}, func(ctx context.Context, tx commands.Tx) error {
		opened, err := tx.Append(ctx, "rnd_s", commands.NoStream(), meta(1), fine)
		if err != nil {
			return err
		}
		next, err := tx.Append(ctx, "rnd_s", commands.Exactly(1), meta(2), fine)
		appended = append(opened, next...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := store.Load(ctx, "rnd_s")
	if err != nil || len(loaded) != 2 {
		t.Fatalf("loaded %d events, %v", len(loaded), err)
	}
	for i := range loaded {
		if appended[i].Event != loaded[i].Event {
			t.Errorf("v%d: Append returned %+v, Load %+v", i+1, appended[i].Event, loaded[i].Event)
		}
	}
	if loaded[0].Event == domain.Event(fine) {
		t.Fatal("the wire form kept nanoseconds: this test no longer tests anything")
	}
}
