package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// job reads a render's row in the render queue.
func (w *world) job(id string) (commands.RenderJob, bool) {
	w.t.Helper()
	var j commands.RenderJob
	var ok bool
	err := w.store.Transact(w.t.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) (err error) {
		j, ok, err = tx.RenderJob(ctx, id)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return j, ok
}

func TestRenderQueue_follows_the_render_through_claim_cancel_and_lost_leases(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 600)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, domain.MediaInfo{Duration: 10 * time.Second, HasVideo: true, HasAudio: true,
		Width: 1920, Height: 1080, VideoBitrate: 8_000_000, AudioBitrate: 128_000})
	r := w.renders()
	lose, _ := commands.NewLoseRenderLeaseHandler(w.d)
	now := w.d.Now()
	mp4 := commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP4}}

	res, err := r.req.Handle(t.Context(), alice, mp4)
	wantErr(t, err, "")
	id := res.StreamID
	if j, ok := w.job(id); !ok || j.State != domain.RenderStatePending || j.AccountID != "acc_alice" {
		t.Fatalf("a new render's job = %+v, %v; want pending", j, ok)
	}

	// Claims and lost leases: the first two re-queue, the third fails.
	for attempt := 1; attempt <= domain.MaxCrashedAttempts; attempt++ {
		_, _, err = r.start.Handle(t.Context(), commands.Caller{}, commands.StartRender{RenderID: id, WorkerID: "w1", LeaseUntil: now.Add(30 * time.Second)})
		wantErr(t, err, "")
		if j, ok := w.job(id); !ok || j.State != domain.RenderStateRunning || j.Attempt != attempt || j.WorkerID != "w1" {
			t.Fatalf("claimed job = %+v, %v", j, ok)
		}
		_, _, err = lose.Handle(t.Context(), commands.Caller{}, commands.LoseRenderLease{RenderID: id, Attempt: attempt})
		wantErr(t, err, "lease_held") // the lease runs until now+30s
		// The worker vanished: its lease ran out before now.
		_, _, err = r.start.Handle(t.Context(), commands.Caller{}, commands.StartRender{RenderID: id, WorkerID: "w2", LeaseUntil: now})
		wantErr(t, err, "render_not_pending")
		expire(t, w, id, now.Add(-time.Second))
		failed, _, err := lose.Handle(t.Context(), commands.Caller{}, commands.LoseRenderLease{RenderID: id, Attempt: attempt})
		wantErr(t, err, "")
		if failed != (attempt == domain.MaxCrashedAttempts) {
			t.Fatalf("attempt %d: failed = %v", attempt, failed)
		}
		_, _, err = lose.Handle(t.Context(), commands.Caller{}, commands.LoseRenderLease{RenderID: id, Attempt: attempt})
		if err == nil {
			t.Fatalf("attempt %d: a lease was lost twice", attempt)
		}
	}
	if j, ok := w.job(id); ok {
		t.Fatalf("a render failed as encoder_crashed is still queued: %+v", j)
	}
	// encoder_crashed released the signature: the same request replaces it.
	again, err := r.req.Handle(t.Context(), alice, mp4)
	wantErr(t, err, "")
	if again.Existing || again.StreamID == id {
		t.Fatalf("after encoder_crashed the request got %+v, want a replacement", again)
	}
	_, err = r.cancel.Handle(t.Context(), alice, commands.CancelRender{RenderID: again.StreamID})
	wantErr(t, err, "")
	if j, ok := w.job(again.StreamID); ok {
		t.Fatalf("a cancelled render is still queued: %+v", j)
	}
}

// expire moves a running job's lease to until, as a worker that stopped
// renewing it would leave it.
func expire(t *testing.T, w *world, id string, until time.Time) {
	t.Helper()
	err := w.store.Transact(t.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) error {
		j, ok, err := tx.RenderJob(ctx, id)
		if err != nil || !ok {
			t.Fatalf("job %s: %v, %v", id, ok, err)
		}
		j.LeaseUntil = until
		return tx.SetRenderJob(ctx, j)
	})
	if err != nil {
		t.Fatal(err)
	}
}
