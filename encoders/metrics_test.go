package encoders_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
	"github.com/renderd/renderd/telemetry"
)

// histogramCount is how many observations the labelled histogram holds.
func histogramCount(t *testing.T, name string, labels map[string]string) uint64 {
	t.Helper()
	families, err := telemetry.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func slots(state string) float64 {
	return testutil.ToFloat64(telemetry.EncoderSlots.WithLabelValues(state))
}

// One verified, committed encode is one duration observation under its
// format and tier, and one speed observation; a failed one is neither.
func TestRenderWorker_a_completed_encode_is_timed_once_a_failed_one_not_at_all(t *testing.T) {
	labels := map[string]string{"format": "mp4", "tier": "720p"}
	durations := histogramCount(t, "renderd_encode_duration_seconds", labels)
	speeds := histogramCount(t, "renderd_encode_speed_ratio", nil)

	r := newRig(t)
	if got := r.run(r.render(), 5*time.Second); got.State() != domain.RenderStateCompleted {
		t.Fatalf("state %s, want completed", got.State())
	}
	if d := histogramCount(t, "renderd_encode_duration_seconds", labels) - durations; d != 1 {
		t.Errorf("encode durations observed: %d, want 1", d)
	}
	if d := histogramCount(t, "renderd_encode_speed_ratio", nil) - speeds; d != 1 {
		t.Errorf("encode speeds observed: %d, want 1", d)
	}

	failed := newRig(t)
	failed.media.runErr = &mediaErr{"encode_failed", "x264 [error]: broken"}
	if got := failed.run(failed.render(), 5*time.Second); got.State() != domain.RenderStateFailed {
		t.Fatalf("state %s, want failed", got.State())
	}
	if d := histogramCount(t, "renderd_encode_duration_seconds", labels) - durations; d != 1 {
		t.Errorf("encode durations observed after a failure: %d, want still 1", d)
	}
}

// A worker's slots are free while it waits, one goes busy for the encode
// and is free again when the job ends; they go with the worker.
func TestRenderWorker_slots_go_busy_for_an_encode_and_free_after_it(t *testing.T) {
	busy0, free0 := slots("busy"), slots("free")
	r := newRig(t) // one slot
	running := make(chan struct{})
	r.media.block = true
	r.media.onRun = func() { close(running) }
	id := r.render()
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.worker.Run(ctx) }()
	<-running
	if b, f := slots("busy")-busy0, slots("free")-free0; b != 1 || f != 0 {
		t.Errorf("slots while encoding: %v busy, %v free; want 1, 0", b, f)
	}
	r.cancelRender(id) // the job ends, its slot is free again
	for r.load(id).State() != domain.RenderStateCancelled {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, f := slots("busy")-busy0, slots("free")-free0; b != 0 || f != 0 {
		t.Errorf("slots after the worker stopped: %v busy, %v free; want none of its own", b, f)
	}
}

// A lost claim gives its slot straight back.
func TestRenderWorker_a_lost_claim_gives_its_slot_back(t *testing.T) {
	busy0 := slots("busy")
	r := newRig(t)
	id := r.render()
	// Another worker wins the claim first: this worker's StartRender is refused.
	if _, _, err := r.cmds.Start.Handle(t.Context(), alice, commands.StartRender{RenderID: id, AccountID: alice.AccountID,
		WorkerID: "w-other", LeaseUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// A queue that still lists it (read before the other claim committed).
	stale := &staleQueue{memQueue: r.queue, id: id}
	cfg := encoders.RenderWorkerConfig{WorkerID: "w1", Concurrency: 1, Lease: 3 * time.Second, PollInterval: 20 * time.Millisecond, CancelCheck: 10 * time.Millisecond}
	w, err := encoders.NewRenderWorker(cfg, r.cmds, r.db, stale, r.blobs, r.media, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for stale.reads.Load() < 2 { // the first read's claim was refused before the second read
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	if b := slots("busy") - busy0; b != 0 {
		t.Errorf("busy slots after a lost claim: %v, want 0", b)
	}
}

// A lease the reaper takes from a vanished worker counts once.
func TestRenderWorker_a_reaped_lease_counts_one_takeover(t *testing.T) {
	before := testutil.ToFloat64(telemetry.EncoderLeaseTakeovers)
	r := newRig(t)
	id := r.render()
	attempt, _, err := r.cmds.Start.Handle(t.Context(), alice, commands.StartRender{RenderID: id, AccountID: alice.AccountID,
		WorkerID: "w-gone", LeaseUntil: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	r.media.block = true
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.worker.Run(ctx) }()
	for r.load(id).Attempt() == attempt {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	if d := testutil.ToFloat64(telemetry.EncoderLeaseTakeovers) - before; d != 1 {
		t.Errorf("lease takeovers counted: %v, want 1", d)
	}
}

// staleQueue lists one render as pending whatever its state.
type staleQueue struct {
	*memQueue
	id    string
	reads atomic.Int64
}

func (q *staleQueue) Pending(context.Context, int, int) ([]commands.PendingRender, error) {
	q.reads.Add(1)
	return []commands.PendingRender{{RenderID: q.id, AccountID: alice.AccountID}}, nil
}
