package readmodel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres/readmodel"
	pt "github.com/renderd/renderd/adapters/postgres/readmodel/readmodeltest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/projections"
)

// startWaiter runs a Waiter until the test ends and returns it once its
// connection listens.
func (f *fixture) startWaiter() *readmodel.Waiter {
	f.t.Helper()
	return f.startWaiterRechecking(0)
}

// startWaiterRechecking is startWaiter with the waiter looking at the table
// on its own only every recheck (0: the default): with recheck longer than
// the test, a wait can end only by a notification.
func (f *fixture) startWaiterRechecking(recheck time.Duration) *readmodel.Waiter {
	f.t.Helper()
	w := readmodel.NewWaiter(f.pool, testenv.Logger(f.t))
	if recheck > 0 {
		readmodel.SetRecheckInterval(w, recheck)
	}
	ctx, cancel := context.WithCancel(f.t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	f.t.Cleanup(func() { cancel(); <-done })
	f.awaitListener(1)
	return w
}

// awaitListener waits until n connections of this test's database listen.
func (f *fixture) awaitListener(n int) {
	f.t.Helper()
	testenv.Eventually(f.t, 10*time.Second, "the waiter to listen", func() bool {
		var listening int
		_ = f.pool.QueryRow(f.t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+projections.ProjectedChannel+`'`).Scan(&listening)
		return listening == n
	})
}

type waitResult struct {
	reached bool
	err     error
	took    time.Duration
}

func waitAsync(ctx context.Context, w *readmodel.Waiter, stream string, version int64) <-chan waitResult {
	out := make(chan waitResult, 1)
	go func() {
		began := time.Now()
		ok, err := w.WaitFor(ctx, stream, version)
		out <- waitResult{ok, err, time.Since(began)}
	}()
	return out
}

func TestWaitFor_returns_true_right_after_the_projection(t *testing.T) {
	f := newFixture(t)
	w := f.startWaiterRechecking(time.Hour) // only a notification can end the wait
	recs := f.append("ast_1", "acc_1", t0, pt.VideoAsset(t, "ast_1", "acc_1", t0, pt.Uploaded)...)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	result := waitAsync(ctx, w, "ast_1", 2)
	time.Sleep(100 * time.Millisecond) // the wait is registered and found nothing
	f.project(recs[0])
	select {
	case r := <-result:
		t.Fatalf("returned %+v at v1, want it to wait for v2", r)
	case <-time.After(100 * time.Millisecond):
	}
	projected := time.Now()
	f.project(recs[1])
	// Woken by the notification: the waiter does not poll on its own within
	// the test, and the deadline would answer false.
	r := <-result
	if !r.reached || r.err != nil {
		t.Fatalf("WaitFor = %v, %v; want true", r.reached, r.err)
	}
	t.Logf("WaitFor returned %s after the projection", time.Since(projected))
}

func TestWaitFor_sees_a_projection_committed_before_it_was_called(t *testing.T) {
	f := newFixture(t)
	w := f.startWaiter()
	f.project(f.append("cut_1", "acc_1", t0, pt.CutRequested("ast_1"))...)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	for _, v := range []int64{1, 0} { // a lower version is reached too
		if ok, err := w.WaitFor(ctx, "cut_1", v); !ok || err != nil {
			t.Fatalf("WaitFor(v%d) = %v, %v; want true", v, ok, err)
		}
	}
}

func TestWaitFor_is_false_after_its_deadline_for_a_version_never_written(t *testing.T) {
	f := newFixture(t)
	w := f.startWaiter()
	f.project(f.append("ast_1", "acc_1", t0, pt.VideoAsset(t, "ast_1", "acc_1", t0, pt.Created)...)...)
	for stream, version := range map[string]int64{"ast_1": 2, "ast_unknown": 1, "rnd_no_read_model": 1} {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		began := time.Now()
		ok, err := w.WaitFor(ctx, stream, version)
		cancel()
		if ok || err != nil {
			t.Errorf("%s v%d: WaitFor = %v, %v; want false, nil", stream, version, ok, err)
		}
		if took := time.Since(began); took < 300*time.Millisecond || took > 2*time.Second {
			t.Errorf("%s v%d: returned after %s, want at the 300ms deadline", stream, version, took)
		}
	}
}

func TestWaitFor_a_cancelled_context_is_an_error_not_an_answer(t *testing.T) {
	f := newFixture(t)
	w := f.startWaiter()
	ctx, cancel := context.WithCancel(t.Context())
	result := waitAsync(ctx, w, "ast_1", 1)
	cancel()
	if r := <-result; r.reached || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("WaitFor = %v, %v; want false, context.Canceled", r.reached, r.err)
	}
}

func TestWaitFor_wakes_every_waiter_of_a_stream_up_to_the_projected_version(t *testing.T) {
	f := newFixture(t)
	w := f.startWaiter()
	recs := f.append("ast_1", "acc_1", t0, pt.VideoAsset(t, "ast_1", "acc_1", t0, pt.Probed)...)
	ctx, cancel := context.WithTimeout(t.Context(), 600*time.Millisecond)
	defer cancel()
	v1, v2, v3 := waitAsync(ctx, w, "ast_1", 1), waitAsync(ctx, w, "ast_1", 2), waitAsync(ctx, w, "ast_1", 3)
	time.Sleep(50 * time.Millisecond)
	f.project(recs[0], recs[1])
	for i, ch := range []<-chan waitResult{v1, v2} {
		if r := <-ch; !r.reached || r.err != nil {
			t.Errorf("waiter for v%d: %+v, want true", i+1, r)
		}
	}
	if r := <-v3; r.reached || r.err != nil {
		t.Errorf("waiter for v3: %+v, want false at the deadline", r)
	}
}

func TestWaitFor_keeps_working_after_the_listening_connection_dies(t *testing.T) {
	f := newFixture(t)
	w := f.startWaiterRechecking(time.Hour) // only a notification on the new connection can end the wait
	listener := func() (pid int) {
		_ = f.pool.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+projections.ProjectedChannel+`'`).Scan(&pid)
		return pid
	}
	old := listener()
	var killed bool
	if err := f.pool.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, old).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the listener: %v, %v", killed, err)
	}
	testenv.Eventually(t, 10*time.Second, "Run to listen on a new connection", func() bool {
		pid := listener()
		return pid != 0 && pid != old
	})

	recs := f.append("ast_1", "acc_1", t0, pt.VideoAsset(t, "ast_1", "acc_1", t0, pt.Created)...)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	result := waitAsync(ctx, w, "ast_1", 1)
	time.Sleep(50 * time.Millisecond)
	projected := time.Now()
	f.project(recs...)
	if r := <-result; !r.reached || r.err != nil {
		t.Fatalf("after reconnecting: %+v, %s after the projection", r, time.Since(projected))
	}
	t.Logf("after reconnecting, WaitFor returned %s after the projection", time.Since(projected))
}

func TestWaitFor_still_ends_without_a_running_listener(t *testing.T) {
	f := newFixture(t)
	w := readmodel.NewWaiter(f.pool, testenv.Logger(t)) // Run never started
	recs := f.append("ast_1", "acc_1", t0, pt.VideoAsset(t, "ast_1", "acc_1", t0, pt.Created)...)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	result := waitAsync(ctx, w, "ast_1", 1)
	time.Sleep(50 * time.Millisecond)
	f.project(recs...)
	if r := <-result; !r.reached || r.err != nil || r.took > time.Second {
		t.Fatalf("without Run: %+v; want true by polling", r)
	}
}

// A wait for a version the caller just appended takes a notification that
// came before the wait began, without asking the table.
func TestWaitForAppended_takes_a_notification_that_came_before_it(t *testing.T) {
	f := newFixture(t)
	w := f.startWaiter()
	f.project(f.append("cut_1", "acc_1", t0, pt.CutRequested("ast_1"))...)
	testenv.Eventually(t, 5*time.Second, "the notification to arrive", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		ok, _ := w.WaitForAppended(ctx, "cut_1", 1)
		return ok
	})
	// The row goes; the notification is remembered all the same.
	if _, err := f.pool.Exec(t.Context(), `DELETE FROM rm_cuts WHERE id = 'cut_1'`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if ok, err := w.WaitForAppended(ctx, "cut_1", 1); !ok || err != nil {
		t.Fatalf("WaitForAppended = %v, %v; want true from the notification", ok, err)
	}
}

// A lost notification (here: nobody listens) still ends the wait, from the
// table; a version never written ends it at the deadline.
func TestWaitForAppended_without_a_notification_looks_at_the_table(t *testing.T) {
	f := newFixture(t)
	w := readmodel.NewWaiter(f.pool, testenv.Logger(t)) // Run never started
	f.project(f.append("cut_1", "acc_1", t0, pt.CutRequested("ast_1"))...)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if ok, err := w.WaitForAppended(ctx, "cut_1", 1); !ok || err != nil {
		t.Fatalf("WaitForAppended = %v, %v; want true from the table", ok, err)
	}
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if ok, err := w.WaitForAppended(short, "cut_1", 2); ok || err != nil {
		t.Fatalf("WaitForAppended(v2) = %v, %v; want false, nil", ok, err)
	}
}

// Blips, then a long outage, then a blip: each time the waiter listens
// again within about a second of Postgres' return, whatever came before.
func TestWaiter_listens_again_within_a_second_of_postgres_returning(t *testing.T) {
	f := newFixture(t)
	proxy, dsn := testenv.ProxyPostgres(t, f.pool.Config().ConnString())
	proxied, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxied.Close)
	w := readmodel.NewWaiter(proxied, testenv.Logger(t))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	f.awaitListener(1)
	for i, outage := range []time.Duration{400 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond, 7 * time.Second, 400 * time.Millisecond} {
		proxy.Cut()
		began := time.Now()
		f.awaitListener(0)
		time.Sleep(outage - time.Since(began))
		proxy.Restore()
		restored := time.Now()
		f.awaitListener(1)
		took := time.Since(restored)
		t.Logf("outage %d (%s): listening %s after Postgres returned", i+1, outage, took.Round(time.Millisecond))
		if bound := 1500 * time.Millisecond; took > bound {
			t.Errorf("outage %d (%s): listening again took %s, want within %s", i+1, outage, took.Round(time.Millisecond), bound)
		}
	}
}
