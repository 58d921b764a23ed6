package commands_test

import (
	"context"
	"errors"
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

func TestRequestRender_beyond_the_accounts_queue_is_too_many_renders_but_a_repeat_still_answers(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 600)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, domain.MediaInfo{Duration: 10 * time.Second, HasVideo: true, HasAudio: true,
		Width: 1920, Height: 1080, VideoBitrate: 8_000_000, AudioBitrate: 128_000})
	req, _ := commands.NewRequestRenderHandler(w.d, commands.RenderLimits{MaxQueued: 2})
	cancel, _ := commands.NewCancelRenderHandler(w.d)
	out := func(f domain.Format) commands.RequestRender {
		return commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: f}}
	}
	first, err := req.Handle(t.Context(), alice, out(domain.FormatMP4))
	wantErr(t, err, "")
	_, err = req.Handle(t.Context(), alice, out(domain.FormatMOV))
	wantErr(t, err, "")
	_, err = req.Handle(t.Context(), alice, out(domain.FormatMP3))
	var le *domain.LimitError
	if !errors.As(err, &le) || le.Code != "too_many_renders" || le.Quota != 2 || le.Policy != "renders_queued" || le.RetryAfter <= 0 {
		t.Fatalf("a third render with 2 places: err = %#v", err)
	}
	// The same request again is the existing render, queue full or not.
	again, err := req.Handle(t.Context(), alice, out(domain.FormatMP4))
	if err != nil || !again.Existing || again.StreamID != first.StreamID {
		t.Errorf("repeat: %+v %v", again, err)
	}
	// Another account has places of its own.
	bob := commands.Caller{AccountID: "acc_bob"}
	w.credit("acc_bob", 600)
	created, _ := w.create.Handle(t.Context(), bob, commands.CreateAsset{Kind: domain.AssetKindAudio})
	w.media["/blobs/bob"] = domain.MediaInfo{Duration: time.Second, HasAudio: true}
	if _, err := w.upload.Handle(t.Context(), bob, commands.UploadAssetPart{AssetID: created.StreamID, Part: domain.AssetPartSource, BlobKey: "bob", Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.probe.Handle(t.Context(), commands.Caller{}, commands.ProbeAsset{AssetID: created.StreamID, Part: domain.AssetPartSource}); err != nil {
		t.Fatal(err)
	}
	_, err = req.Handle(t.Context(), bob, commands.RequestRender{AssetID: created.StreamID, Output: domain.OutputSpec{Format: domain.FormatMP3}})
	wantErr(t, err, "")
	// A cancelled render frees its place.
	_, err = cancel.Handle(t.Context(), alice, commands.CancelRender{RenderID: first.StreamID})
	wantErr(t, err, "")
	_, err = req.Handle(t.Context(), alice, out(domain.FormatMP3))
	wantErr(t, err, "")
}

func TestStartRender_beyond_the_accounts_running_limit_waits_in_the_queue(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 600)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, domain.MediaInfo{Duration: 10 * time.Second, HasVideo: true, HasAudio: true,
		Width: 1920, Height: 1080, VideoBitrate: 8_000_000, AudioBitrate: 128_000})
	req, _ := commands.NewRequestRenderHandler(w.d, commands.RenderLimits{})
	start, _ := commands.NewStartRenderHandler(w.d, 1)
	a, _ := req.Handle(t.Context(), alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP4}})
	b, _ := req.Handle(t.Context(), alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMOV}})
	lease := w.d.Now().Add(time.Minute)
	_, _, err := start.Handle(t.Context(), commands.Caller{}, commands.StartRender{RenderID: a.StreamID, AccountID: "acc_alice", WorkerID: "w1", LeaseUntil: lease})
	wantErr(t, err, "")
	// Without the account named, the handler finds it.
	_, _, err = start.Handle(t.Context(), commands.Caller{}, commands.StartRender{RenderID: b.StreamID, WorkerID: "w2", LeaseUntil: lease})
	wantErr(t, err, "account_running_limit")
	if j, ok := w.job(b.StreamID); !ok || j.State != domain.RenderStatePending {
		t.Errorf("the refused render's job = %+v, %v; want it still pending", j, ok)
	}
	// A claim naming the wrong account is refused outright.
	_, _, err = start.Handle(t.Context(), commands.Caller{}, commands.StartRender{RenderID: b.StreamID, AccountID: "acc_bob", WorkerID: "w2", LeaseUntil: lease})
	if err == nil {
		t.Error("a claim under another account's lock was accepted")
	}
}
