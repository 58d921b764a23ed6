package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// The queue's gauges count pending and running renders and age the oldest
// pending one; an empty queue is zeros, not missing series.
func TestQueueCollector_counts_the_queue_and_ages_its_oldest_pending_render(t *testing.T) {
	pool := testenv.Postgres(t)
	jobs := postgres.NewRenderJobs(pool)
	collector := postgres.QueueCollector(jobs, testenv.Logger(t))
	if n := testutil.CollectAndCount(collector); n != 3 {
		t.Fatalf("series of an empty queue: %d, want 3", n)
	}
	if s, err := jobs.Stats(t.Context()); err != nil || s != (postgres.QueueStats{}) {
		t.Fatalf("stats of an empty queue: %+v, %v", s, err)
	}

	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	hourAgo := time.Now().Add(-time.Hour)
	for _, j := range []commands.RenderJob{
		{RenderID: "rnd_old", AccountID: "acc_1", State: domain.RenderStatePending, Since: hourAgo},
		{RenderID: "rnd_new", AccountID: "acc_1", State: domain.RenderStatePending, Since: time.Now()},
		{RenderID: "rnd_run", AccountID: "acc_2", State: domain.RenderStateRunning, Attempt: 1, WorkerID: "w1",
			LeaseUntil: time.Now().Add(time.Minute), Since: hourAgo.Add(-time.Hour)},
	} {
		err := store.Transact(t.Context(), []string{j.RenderID}, func(ctx context.Context, tx commands.Tx) error {
			return tx.SetRenderJob(ctx, j)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := jobs.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The running render's older since does not count: it waits for no one.
	if s.Pending != 2 || s.Running != 1 || s.OldestPending < time.Hour || s.OldestPending > 2*time.Hour {
		t.Fatalf("stats %+v; want 2 pending, 1 running, the oldest pending an hour old", s)
	}
	fresh := postgres.QueueCollector(jobs, testenv.Logger(t)) // the first one holds its empty read for its TTL
	if n := testutil.CollectAndCount(fresh, "renderd_render_queue_depth"); n != 2 {
		t.Errorf("depth series: %d, want 2 (pending, running)", n)
	}
	if n := testutil.CollectAndCount(fresh, "renderd_render_queue_oldest_pending_seconds"); n != 1 {
		t.Errorf("oldest-pending series: %d, want 1", n)
	}
}

func TestQueueCollector_exports_nothing_when_the_database_is_away(t *testing.T) {
	pool := testenv.Postgres(t)
	jobs := postgres.NewRenderJobs(pool)
	pool.Close()
	if n := testutil.CollectAndCount(postgres.QueueCollector(jobs, testenv.Logger(t))); n != 0 {
		t.Fatalf("series with the database closed: %d, want none", n)
	}
}
