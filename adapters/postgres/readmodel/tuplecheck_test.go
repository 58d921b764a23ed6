package readmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeTuples is a tuple query over a fixed table whose calls block until
// released, recording the ids each was asked for.
type fakeTuples struct {
	rows    map[string]rowTuple
	err     error
	release chan struct{}

	mu    sync.Mutex
	calls [][]string
	sent  chan struct{} // one value per call, before it blocks
}

func newFakeTuples(rows map[string]rowTuple) *fakeTuples {
	return &fakeTuples{rows: rows, release: make(chan struct{}), sent: make(chan struct{}, 1000)}
}

func (f *fakeTuples) query(ctx context.Context, ids []string) (map[string]rowTuple, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(ids))
	f.mu.Unlock()
	f.sent <- struct{}{}
	<-f.release
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]rowTuple{}
	for _, id := range ids {
		if t, ok := f.rows[id]; ok {
			out[id] = t
		}
	}
	return out, nil
}

func (f *fakeTuples) callSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []int
	for _, c := range f.calls {
		n = append(n, len(c))
	}
	return n
}

type checkAnswer struct {
	tuple uint32
	found bool
	err   error
}

// startChecks makes one check per id, each from its own goroutine; the
// answers arrive on the returned channels in the same order.
func startChecks(ctx context.Context, c *tupleChecker, account string, ids ...string) []chan checkAnswer {
	out := make([]chan checkAnswer, len(ids))
	for i, id := range ids {
		out[i] = make(chan checkAnswer, 1)
		go func() {
			tuple, found, err := c.check(ctx, account, id)
			out[i] <- checkAnswer{tuple, found, err}
		}()
	}
	return out
}

func waitSent(t *testing.T, f *fakeTuples, n int) {
	t.Helper()
	for range n {
		select {
		case <-f.sent:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d queries sent (sizes %v)", n, f.callSizes())
		}
	}
}

func waitQueued(t *testing.T, c *tupleChecker, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		queued := len(c.queue)
		c.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d checks queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func answerOf(t *testing.T, ch chan checkAnswer) checkAnswer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("a check was never answered")
		return checkAnswer{}
	}
}

func TestTupleChecker_checks_made_while_the_queries_are_out_go_out_together(t *testing.T) {
	rows := map[string]rowTuple{}
	var ids []string
	for i := range 20 {
		id := fmt.Sprint("rnd_", i)
		rows[id] = rowTuple{account: "acc_1", tuple: uint32(100 + i)}
		ids = append(ids, id)
	}
	rows["rnd_foreign"] = rowTuple{account: "acc_2", tuple: 7}
	f := newFakeTuples(rows)
	c := &tupleChecker{query: f.query}

	first := startChecks(t.Context(), c, "acc_1", ids[:maxTupleQueries]...)
	waitSent(t, f, maxTupleQueries) // every slot busy: the rest must queue
	later := startChecks(t.Context(), c, "acc_1", append(slices.Clone(ids[maxTupleQueries:]), "rnd_foreign", "rnd_unknown")...)
	waitQueued(t, c, len(later))
	close(f.release)

	for i, ch := range append(first, later...) {
		a := answerOf(t, ch)
		switch {
		case i < len(ids):
			if a.err != nil || !a.found || a.tuple != uint32(100+i) {
				t.Errorf("%s: %+v, want tuple %d", ids[i], a, 100+i)
			}
		default: // another account's render, and one that does not exist
			if a.err != nil || a.found {
				t.Errorf("check %d: %+v, want not found", i, a)
			}
		}
	}
	sizes := f.callSizes()
	if want := append(slices.Repeat([]int{1}, maxTupleQueries), len(later)); !slices.Equal(sizes, want) {
		t.Fatalf("query sizes %v, want %v", sizes, want)
	}
	// The runners hand back their slots after answering.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		running, queued := c.running, c.queue
		c.mu.Unlock()
		if running == 0 && queued == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last answer: %d running, %d queued", running, len(queued))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTupleChecker_a_long_queue_goes_out_in_bounded_batches(t *testing.T) {
	f := newFakeTuples(map[string]rowTuple{"rnd_x": {account: "acc_1", tuple: 3}})
	c := &tupleChecker{query: f.query}
	first := startChecks(t.Context(), c, "acc_1", slices.Repeat([]string{"rnd_x"}, maxTupleQueries)...)
	waitSent(t, f, maxTupleQueries)
	n := maxTupleBatch + 10
	later := startChecks(t.Context(), c, "acc_1", slices.Repeat([]string{"rnd_x"}, n)...)
	waitQueued(t, c, n)
	close(f.release)
	for _, ch := range append(first, later...) {
		if a := answerOf(t, ch); a.err != nil || !a.found || a.tuple != 3 {
			t.Fatalf("answer %+v, want tuple 3", a)
		}
	}
	sizes := f.callSizes()
	slices.Sort(sizes)
	want := append(slices.Repeat([]int{1}, maxTupleQueries), 10, maxTupleBatch)
	slices.Sort(want)
	if !slices.Equal(sizes, want) {
		t.Fatalf("query sizes %v, want %v", sizes, want)
	}
}

func TestTupleChecker_a_failed_query_fails_every_check_it_carried(t *testing.T) {
	f := newFakeTuples(nil)
	f.err = errors.New("connection reset")
	c := &tupleChecker{query: f.query}
	first := startChecks(t.Context(), c, "acc_1", slices.Repeat([]string{"rnd_x"}, maxTupleQueries)...)
	waitSent(t, f, maxTupleQueries)
	later := startChecks(t.Context(), c, "acc_1", "rnd_y", "rnd_z")
	waitQueued(t, c, 2)
	close(f.release)
	for _, ch := range append(first, later...) {
		if a := answerOf(t, ch); !errors.Is(a.err, f.err) || a.found {
			t.Fatalf("answer %+v, want the query's error", a)
		}
	}
	// The checker recovers: the next check is sent and answered.
	f.err = nil
	if _, found, err := c.check(t.Context(), "acc_1", "rnd_y"); err != nil || found {
		t.Fatalf("next check: found %v, err %v", found, err)
	}
}

func TestTupleChecker_a_cancelled_check_returns_at_once_and_the_others_are_still_answered(t *testing.T) {
	f := newFakeTuples(map[string]rowTuple{"rnd_x": {account: "acc_1", tuple: 5}})
	c := &tupleChecker{query: f.query}
	first := startChecks(t.Context(), c, "acc_1", slices.Repeat([]string{"rnd_x"}, maxTupleQueries)...)
	waitSent(t, f, maxTupleQueries)
	ctx, cancel := context.WithCancel(t.Context())
	gone := startChecks(ctx, c, "acc_1", "rnd_x")
	kept := startChecks(t.Context(), c, "acc_1", "rnd_x")
	waitQueued(t, c, 2)
	cancel()
	if a := answerOf(t, gone[0]); !errors.Is(a.err, context.Canceled) {
		t.Fatalf("cancelled check: %+v, want context.Canceled", a)
	}
	close(f.release)
	for _, ch := range append(first, kept...) {
		if a := answerOf(t, ch); a.err != nil || !a.found || a.tuple != 5 {
			t.Fatalf("answer %+v, want tuple 5", a)
		}
	}
}
