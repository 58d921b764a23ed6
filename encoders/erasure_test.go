package encoders_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/memstore"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/encoders"
)

// fakeRemovals is the queue of blob removals in memory: claims defer a key
// by the retry delay, as the Postgres queue does.
type fakeRemovals struct {
	due    map[string]time.Time
	failed map[string]string
}

func (q *fakeRemovals) Claim(_ context.Context, n int, now time.Time, retry time.Duration) ([]string, error) {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(q.due)) {
		if len(out) < n && !q.due[k].After(now) {
			out = append(out, k)
			q.due[k] = now.Add(retry)
		}
	}
	return out, nil
}

func (q *fakeRemovals) Removed(_ context.Context, key string) error { delete(q.due, key); return nil }

func (q *fakeRemovals) Failed(_ context.Context, key, reason string) error {
	q.failed[key] = reason
	return nil
}

type noOutputsDue struct{}

func (noOutputsDue) OutputsDue(context.Context, time.Time, int) ([]string, error) { return nil, nil }

type staleOutputsDue []string

func (s staleOutputsDue) OutputsDue(context.Context, time.Time, int) ([]string, error) { return s, nil }

func newTestEraser(t *testing.T, q encoders.BlobRemovals, blobs encoders.BlobEraser, now func() time.Time) *encoders.Eraser {
	return newTestEraserDue(t, q, blobs, noOutputsDue{}, now)
}

func newTestEraserDue(t *testing.T, q encoders.BlobRemovals, blobs encoders.BlobEraser, due encoders.OutputsDue, now func() time.Time) *encoders.Eraser {
	t.Helper()
	var n atomic.Int64
	d := commands.Deps{Store: memstore.New(func() string { return fmt.Sprint("evt_", n.Add(1)) }), Now: now,
		NewID: func(p string) string { return fmt.Sprint(p, "_", n.Add(1)) }}
	expire, err := commands.NewExpireOutputHandler(d)
	if err != nil {
		t.Fatal(err)
	}
	e, err := encoders.NewEraser(encoders.EraserConfig{Retention: time.Hour, Interval: time.Second, Batch: 10, Retry: time.Minute},
		q, blobs, due, expire, now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEraser_a_failed_removal_is_tried_again_after_its_retry_delay(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	q := &fakeRemovals{due: map[string]time.Time{"a": now, "b": now}, failed: map[string]string{}}
	down := true
	var deleted []string
	blobs := encoders.BlobEraserFunc(func(_ context.Context, key string) error {
		if key == "b" && down {
			return errors.New("store away")
		}
		deleted = append(deleted, key)
		return nil
	})
	e := newTestEraser(t, q, blobs, func() time.Time { return now })

	if _, err := e.Pass(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []string{"a"}) || q.failed["b"] == "" || len(q.due) != 1 {
		t.Fatalf("deleted %v, failed %v, left %v", deleted, q.failed, q.due)
	}
	// Not due again before its retry delay.
	down = false
	if _, err := e.Pass(t.Context()); err != nil || len(deleted) != 1 {
		t.Fatalf("a deferred removal ran early: %v %v", deleted, err)
	}
	now = now.Add(time.Minute)
	if _, err := e.Pass(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []string{"a", "b"}) || len(q.due) != 0 {
		t.Fatalf("deleted %v, left %v", deleted, q.due)
	}
}

func TestNewEraser_refuses_a_bad_configuration(t *testing.T) {
	q := &fakeRemovals{}
	blobs := encoders.BlobEraserFunc(func(context.Context, string) error { return nil })
	for name, cfg := range map[string]encoders.EraserConfig{
		"negative_retention": {Retention: -1, Interval: time.Second, Batch: 1, Retry: time.Second},
		"no_interval":        {Interval: 0, Batch: 1, Retry: time.Second},
		"no_batch":           {Interval: time.Second, Batch: 0, Retry: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := encoders.NewEraser(cfg, q, blobs, noOutputsDue{}, &commands.ExpireOutputHandler{}, time.Now, slog.New(slog.DiscardHandler)); err == nil {
				t.Fatal("built")
			}
		})
	}
}

func TestEraser_a_render_the_read_model_lists_but_no_longer_holds_an_output_is_skipped(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	q := &fakeRemovals{due: map[string]time.Time{"a": now}, failed: map[string]string{}}
	var deleted []string
	blobs := encoders.BlobEraserFunc(func(_ context.Context, key string) error { deleted = append(deleted, key); return nil })
	e := newTestEraserDue(t, q, blobs, staleOutputsDue{"rnd_gone"}, func() time.Time { return now })
	if _, err := e.Pass(t.Context()); err != nil {
		t.Fatalf("a stale row failed the pass: %v", err)
	}
	if !slices.Equal(deleted, []string{"a"}) {
		t.Fatalf("removals after a stale row: %v", deleted)
	}
}
