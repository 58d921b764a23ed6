package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// An account's concurrent requests race for its last places: exactly max
// win, whatever the interleaving, also while the account's places are
// added as they are needed.
func TestTakeRenderSlot_racing_requests_never_exceed_the_limit(t *testing.T) {
	for _, c := range []struct{ max, racers int }{{5, 24}, {70, 90}} {
		t.Run(fmt.Sprintf("%d_places_%d_requests", c.max, c.racers), func(t *testing.T) { raceForSlots(t, c.max, c.racers) })
	}
}

func raceForSlots(t *testing.T, max, racers int) {
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		won, off int
	)
	for i := range racers {
		wg.Go(func() {
			id := fmt.Sprintf("rnd_race_%d", i)
			err := store.Transact(t.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) error {
				if err := tx.TakeRenderSlot(ctx, "acc_race", id, max); err != nil {
					return err
				}
				if err := tx.SetRenderJob(ctx, commands.RenderJob{RenderID: id, AccountID: "acc_race", State: domain.RenderStatePending, Since: time.Now()}); err != nil {
					return err
				}
				_, _, err := tx.RenderJob(ctx, id)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, commands.ErrQueueFull):
				off++
			default:
				t.Errorf("%s: %v", id, err)
			}
		})
	}
	wg.Wait()
	var queued int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM render_jobs WHERE account_id = 'acc_race'`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if won != max || off != racers-max || queued != max {
		t.Errorf("%d won, %d refused, %d queued; want %d, %d, %d", won, off, queued, max, racers-max, max)
	}
}

// The queue is read in turns: an account's running renders count against
// its pending ones, so a newcomer's single render goes before the second
// render of an account that runs one already, and accounts at their running
// limit are skipped.
func TestPending_takes_turns_across_accounts(t *testing.T) {
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	base := time.Now().Add(-time.Hour)
	job := func(id, acc string, state domain.RenderState, age int) {
		t.Helper()
		j := commands.RenderJob{RenderID: id, AccountID: acc, State: state, Since: base.Add(time.Duration(age) * time.Second)}
		if state == domain.RenderStateRunning {
			j.Attempt, j.WorkerID, j.LeaseUntil = 1, "w", time.Now().Add(time.Minute)
		}
		if err := store.Transact(t.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) error { return tx.SetRenderJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
	}
	// A queued ten renders an hour ago and runs two; B and C queued one each later.
	for i := range 10 {
		job(fmt.Sprintf("rnd_a%d", i), "acc_a", domain.RenderStatePending, i)
	}
	job("rnd_a_run1", "acc_a", domain.RenderStateRunning, 0)
	job("rnd_a_run2", "acc_a", domain.RenderStateRunning, 0)
	job("rnd_b0", "acc_b", domain.RenderStatePending, 100)
	job("rnd_c0", "acc_c", domain.RenderStatePending, 200)
	job("rnd_c1", "acc_c", domain.RenderStatePending, 201)
	q := postgres.NewRenderJobs(pool)
	ids := func(limit, maxRunning int) []string {
		t.Helper()
		pending, err := q.Pending(t.Context(), limit, maxRunning)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range pending {
			out = append(out, p.RenderID)
		}
		return out
	}
	if got, want := ids(6, 0), []string{"rnd_b0", "rnd_c0", "rnd_c1", "rnd_a0", "rnd_a1", "rnd_a2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("turns = %v, want %v", got, want)
	}
	if got, want := ids(10, 2), []string{"rnd_b0", "rnd_c0", "rnd_c1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("with 2 running at most: %v, want %v (A runs 2)", got, want)
	}
	if got := ids(2, 0); len(got) != 2 || got[0] != "rnd_b0" {
		t.Errorf("limit 2: %v", got)
	}
}

// An account whose render just finished has as few running as a newcomer;
// the turn then goes to the account served longest ago, not to the older
// render, so a long queue cannot take turn after turn.
func TestPending_goes_round_robin_between_accounts_with_as_many_running(t *testing.T) {
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	base := time.Now().Add(-time.Hour)
	set := func(j commands.RenderJob) {
		t.Helper()
		if err := store.Transact(t.Context(), []string{j.RenderID}, func(ctx context.Context, tx commands.Tx) error { return tx.SetRenderJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		set(commands.RenderJob{RenderID: fmt.Sprintf("rnd_a%d", i), AccountID: "acc_a", State: domain.RenderStatePending, Since: base.Add(time.Duration(i) * time.Second)})
	}
	// A's first render ran and completed; B's one was queued after A's.
	set(commands.RenderJob{RenderID: "rnd_a0", AccountID: "acc_a", State: domain.RenderStateRunning, Attempt: 1, WorkerID: "w",
		LeaseUntil: time.Now().Add(time.Minute), Since: base.Add(time.Minute)})
	set(commands.RenderJob{RenderID: "rnd_b0", AccountID: "acc_b", State: domain.RenderStatePending, Since: base.Add(2 * time.Minute)})
	set(commands.RenderJob{RenderID: "rnd_a0", AccountID: "acc_a", State: domain.RenderStateCompleted})
	pending, err := postgres.NewRenderJobs(pool).Pending(t.Context(), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pending {
		got = append(got, p.RenderID)
	}
	if want := []string{"rnd_b0", "rnd_a1", "rnd_a2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("turns = %v, want %v", got, want)
	}
}

// A worker kept from renewing by a database outage renews once it is back,
// even though its lease ran out meanwhile, as long as no reaper re-queued
// the render: the reaper then finds nothing expired. After a reap, or for
// another worker or attempt, Renew says the lease is not held.
func TestRenew_accepts_a_lease_that_ran_out_unless_it_was_reaped(t *testing.T) {
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	q := postgres.NewRenderJobs(pool)
	set := func(j commands.RenderJob) {
		t.Helper()
		if err := store.Transact(t.Context(), []string{j.RenderID}, func(ctx context.Context, tx commands.Tx) error { return tx.SetRenderJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	set(commands.RenderJob{RenderID: "rnd_out", AccountID: "acc", State: domain.RenderStateRunning, Attempt: 1, WorkerID: "w1",
		LeaseUntil: now.Add(-10 * time.Second), Since: now.Add(-time.Minute)})
	if expired, err := q.Expired(t.Context(), now, 10); err != nil || len(expired) != 1 {
		t.Fatalf("expired before the renewal: %+v, %v", expired, err)
	}
	for _, c := range []struct {
		worker  string
		attempt int
	}{{"w2", 1}, {"w1", 2}} {
		if held, err := q.Renew(t.Context(), "rnd_out", c.attempt, c.worker, now.Add(time.Minute)); err != nil || held {
			t.Errorf("renewal by %s for attempt %d: held %v, %v; want not held", c.worker, c.attempt, held, err)
		}
	}
	if held, err := q.Renew(t.Context(), "rnd_out", 1, "w1", now.Add(time.Minute)); err != nil || !held {
		t.Fatalf("renewal of the run-out lease: held %v, %v; want held", held, err)
	}
	if expired, err := q.Expired(t.Context(), now, 10); err != nil || len(expired) != 0 {
		t.Errorf("expired after the renewal: %+v, %v; want none", expired, err)
	}
	// A reaper re-queued it: the attempt is over for w1.
	set(commands.RenderJob{RenderID: "rnd_out", AccountID: "acc", State: domain.RenderStatePending, Attempt: 1, Since: now})
	if held, err := q.Renew(t.Context(), "rnd_out", 1, "w1", now.Add(time.Minute)); err != nil || held {
		t.Errorf("renewal after the reap: held %v, %v; want not held", held, err)
	}
}

// BenchmarkTakeRenderSlot is what the queue limit adds to a render request
// at the default's scale: a command transaction that takes one of 100
// places (half of them taken) and queues the render, against the same
// transaction without the place.
func BenchmarkTakeRenderSlot(b *testing.B) {
	pool := testenv.Postgres(b)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	const places = 100
	queue := func(id string, take bool) error {
		return store.Transact(b.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) error {
			if take {
				if err := tx.TakeRenderSlot(ctx, "acc_bench", id, places); err != nil {
					return err
				}
			}
			if err := tx.SetRenderJob(ctx, commands.RenderJob{RenderID: id, AccountID: "acc_bench", State: domain.RenderStatePending, Since: time.Now()}); err != nil {
				return err
			}
			_, _, err := tx.RenderJob(ctx, id)
			return err
		})
	}
	done := func(id string) error {
		return store.Transact(b.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) error {
			return tx.SetRenderJob(ctx, commands.RenderJob{RenderID: id, AccountID: "acc_bench", State: domain.RenderStateCancelled})
		})
	}
	for i := range places / 2 {
		if err := queue(fmt.Sprint("rnd_held_", i), true); err != nil {
			b.Fatal(err)
		}
	}
	for _, take := range []bool{false, true} {
		b.Run(fmt.Sprintf("place_%v", take), func(b *testing.B) {
			i := 0
			for b.Loop() {
				id := fmt.Sprintf("rnd_%v_%d", take, i)
				i++
				if err := queue(id, take); err != nil {
					b.Fatal(err)
				}
				if err := done(id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
