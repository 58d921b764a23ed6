package commands_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/memstore"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

func outputKey(renderID string, attempt int, f domain.Format) string {
	return fmt.Sprintf("renders/%s/attempt-%d.%s", renderID, attempt, f)
}

// completedRender requests a render of asset in format and completes its
// first attempt with an output of size bytes.
func (w *world) completedRender(asset string, f domain.Format, size int64) string {
	t := w.t
	r := w.renders()
	res, err := r.req.Handle(t.Context(), alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: f}})
	if err != nil {
		t.Fatal(err)
	}
	attempt, _, err := r.start.Handle(t.Context(), commands.Caller{}, commands.StartRender{RenderID: res.StreamID, WorkerID: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	complete, _ := commands.NewCompleteRenderHandler(w.d)
	if _, err := complete.Handle(t.Context(), commands.Caller{}, commands.CompleteRender{RenderID: res.StreamID, Result: domain.RenderCompleted{
		Attempt: attempt, BlobKey: outputKey(res.StreamID, attempt, f), SizeBytes: size}}); err != nil {
		t.Fatal(err)
	}
	return res.StreamID
}

func (w *world) render(id string) *domain.Render {
	recs, _ := w.store.Load(w.t.Context(), id)
	r, err := domain.RebuildRender(recs)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func TestDeleteAsset_deletes_the_asset_its_cuts_and_renders(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 600)
	ctx := t.Context()
	asset := w.uploaded(domain.AssetKindAudio, domain.AssetPartSource, domain.MediaInfo{Duration: 5 * time.Second, HasAudio: true, AudioBitrate: 128_000})
	cut := w.mustCut(alice, asset, nil)
	done := w.completedRender(asset, domain.FormatMP3, 100)
	r := w.renders()
	pending, err := r.req.Handle(ctx, alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatM4A}})
	if err != nil {
		t.Fatal(err)
	}
	running, err := r.req.Handle(ctx, alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatM4A, AudioBitrate: 192}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.start.Handle(ctx, commands.Caller{}, commands.StartRender{RenderID: running.StreamID, WorkerID: "w1"}); err != nil {
		t.Fatal(err)
	}
	del, err := commands.NewDeleteAssetHandler(w.d, outputKey)
	if err != nil {
		t.Fatal(err)
	}
	stored := w.storageUsed("acc_alice")

	t.Run("another_accounts_asset_is_not_found", func(t *testing.T) {
		_, err := del.Handle(ctx, commands.Caller{AccountID: "acc_bob"}, commands.DeleteAsset{AssetID: asset})
		wantErr(t, err, "404")
		if w.asset(asset).Deleted() {
			t.Fatal("bob deleted alice's asset")
		}
	})

	res, err := del.Handle(ctx, alice, commands.DeleteAsset{AssetID: asset})
	if err != nil {
		t.Fatal(err)
	}
	if res.Asset.StreamID != asset || len(res.Asset.Events) != 1 || len(res.Derived) != 4 {
		t.Fatalf("deletion wrote %+v", res)
	}

	t.Run("everything_is_deleted_and_in_flight_renders_cancelled", func(t *testing.T) {
		if !w.asset(asset).Deleted() || !w.cutState(cut).Deleted() {
			t.Fatal("asset or cut not deleted")
		}
		for _, id := range []string{done, pending.StreamID, running.StreamID} {
			if rr := w.render(id); !rr.Deleted() {
				t.Fatalf("render %s not deleted", id)
			}
			if _, queued := w.job(id); queued {
				t.Fatalf("render %s still queued", id)
			}
		}
		if got := w.render(running.StreamID).State(); got != domain.RenderStateCancelled {
			t.Fatalf("the running render is %s, want cancelled", got)
		}
	})

	t.Run("every_blob_is_queued_for_removal", func(t *testing.T) {
		removals := w.store.BlobRemovals()
		for _, k := range []string{asset + "/source", outputKey(done, 1, domain.FormatMP3), outputKey(running.StreamID, 1, domain.FormatM4A)} {
			if removals[k] != "acc_alice" {
				t.Fatalf("%s is not queued for removal: %v", k, removals)
			}
		}
	})

	t.Run("the_name_is_erased_from_the_log", func(t *testing.T) {
		recs, _ := w.store.Load(ctx, asset)
		if created := recs[0].Event.(domain.AssetCreated); created.Name != "" || created.Kind != domain.AssetKindAudio {
			t.Fatalf("asset.created is %+v", created)
		}
	})

	t.Run("the_account_gets_its_storage_back", func(t *testing.T) {
		if got := w.storageUsed("acc_alice"); got != stored-1-100 {
			t.Fatalf("stores %d, want %d", got, stored-101)
		}
	})

	t.Run("nothing_new_of_the_asset_is_accepted", func(t *testing.T) {
		_, err := r.req.Handle(ctx, alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP3}})
		wantErr(t, err, "404")
		_, err = w.requestCut(alice, asset, nil)
		wantErr(t, err, "404")
		_, err = r.cancel.Handle(ctx, alice, commands.CancelRender{RenderID: done})
		wantErr(t, err, "404")
		_, err = w.upload.Handle(ctx, alice, commands.UploadAssetPart{AssetID: asset, Part: domain.AssetPartSource, BlobKey: "k", Size: 1})
		wantErr(t, err, "404")
	})

	t.Run("a_late_completion_is_refused", func(t *testing.T) {
		complete, _ := commands.NewCompleteRenderHandler(w.d)
		_, err := complete.Handle(ctx, commands.Caller{}, commands.CompleteRender{RenderID: running.StreamID,
			Result: domain.RenderCompleted{Attempt: 1, BlobKey: outputKey(running.StreamID, 1, domain.FormatM4A)}})
		wantErr(t, err, "404")
	})

	t.Run("deleting_again_answers_the_same_and_changes_nothing", func(t *testing.T) {
		before := len(w.store.All())
		again, err := del.Handle(ctx, alice, commands.DeleteAsset{AssetID: asset})
		if err != nil || again.Asset.StreamID != asset || again.Asset.Version != res.Asset.Version {
			t.Fatalf("again: %+v %v", again, err)
		}
		if after := len(w.store.All()); after != before {
			t.Fatalf("a repeated deletion appended %d events", after-before)
		}
	})
}

func TestDeleteAsset_of_an_unknown_asset_is_not_found(t *testing.T) {
	w := newWorld(t)
	del, _ := commands.NewDeleteAssetHandler(w.d, outputKey)
	_, err := del.Handle(t.Context(), alice, commands.DeleteAsset{AssetID: "ast_nope"})
	wantErr(t, err, "404")
	if _, err := commands.NewDeleteAssetHandler(w.d, nil); err == nil {
		t.Fatal("a handler without output keys was built")
	}
}

func TestExpireOutput_frees_the_output_and_lets_the_signature_render_again(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 600)
	ctx := t.Context()
	asset := w.uploaded(domain.AssetKindAudio, domain.AssetPartSource, domain.MediaInfo{Duration: 5 * time.Second, HasAudio: true, AudioBitrate: 128_000})
	done := w.completedRender(asset, domain.FormatMP3, 100)
	expire, _ := commands.NewExpireOutputHandler(w.d)
	now := w.d.Now()
	stored := w.storageUsed("acc_alice")

	_, err := expire.Handle(ctx, commands.Caller{}, commands.ExpireOutput{RenderID: done, CompletedBefore: now.Add(-time.Hour)})
	wantErr(t, err, "output_not_expired")

	if _, err := expire.Handle(ctx, commands.Caller{}, commands.ExpireOutput{RenderID: done, CompletedBefore: now}); err != nil {
		t.Fatal(err)
	}
	if r := w.render(done); !r.OutputExpired() || r.State() != domain.RenderStateCompleted {
		t.Fatalf("render %s expired %v", r.State(), r.OutputExpired())
	}
	if w.store.BlobRemovals()[outputKey(done, 1, domain.FormatMP3)] != "acc_alice" {
		t.Fatal("the output is not queued for removal")
	}
	if got := w.storageUsed("acc_alice"); got != stored-100 {
		t.Fatalf("stores %d, want %d", got, stored-100)
	}
	again, err := expire.Handle(ctx, commands.Caller{}, commands.ExpireOutput{RenderID: done, CompletedBefore: now})
	if err != nil || len(again.Events) != 0 {
		t.Fatalf("expiring again: %+v %v", again, err)
	}

	res, err := w.renders().req.Handle(ctx, alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP3}})
	if err != nil || res.Existing || res.StreamID == done {
		t.Fatalf("a request after expiry: %+v %v", res, err)
	}
	if got := w.render(res.StreamID).Requested().Replaces; got != done {
		t.Fatalf("the new render replaces %q, want %s", got, done)
	}
}

func (w *world) storageUsed(acc string) int64 {
	var n int64
	if err := w.store.Transact(w.t.Context(), []string{"x"}, func(ctx context.Context, tx commands.Tx) (err error) {
		n, err = tx.StorageUsed(ctx, acc, w.d.Now())
		return err
	}); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// racingStore lets a render of the asset be requested right after every
// listing of the asset's streams (a transaction locking the asset alone),
// before the deletion locks them.
type racingStore struct {
	*memstore.Store
	asset string
	n     int
}

func (s *racingStore) Transact(ctx context.Context, streams []string, fn func(context.Context, commands.Tx) error) error {
	if err := s.Store.Transact(ctx, streams, fn); err != nil || len(streams) != 1 || streams[0] != s.asset {
		return err
	}
	s.n++
	id := fmt.Sprintf("rnd_racer_%d", s.n)
	return s.Store.Transact(ctx, []string{id, s.asset}, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.Append(ctx, id, commands.NoStream(), domain.Metadata{AccountID: "acc_alice", OccurredAt: time.Now()},
			domain.RenderRequested{AssetID: s.asset, Signature: id, Output: domain.OutputSpec{Format: domain.FormatMP3}})
		return err
	})
}

func TestDeleteAsset_that_requests_keep_outrunning_is_unavailable_and_deletes_nothing(t *testing.T) {
	w := newWorld(t)
	asset := w.uploadOnly(alice, domain.AssetKindAudio, domain.AssetPartSource, domain.MediaInfo{Duration: time.Second, HasAudio: true})
	racing := &racingStore{Store: w.store, asset: asset}
	d := w.d
	d.Store = racing
	del, _ := commands.NewDeleteAssetHandler(d, outputKey)
	_, err := del.Handle(t.Context(), alice, commands.DeleteAsset{AssetID: asset})
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if w.asset(asset).Deleted() || racing.n != 3 {
		t.Fatalf("deleted %v after %d listings", w.asset(asset).Deleted(), racing.n)
	}
	// Once the requests stop, the deletion goes through.
	del, _ = commands.NewDeleteAssetHandler(w.d, outputKey)
	res, err := del.Handle(t.Context(), alice, commands.DeleteAsset{AssetID: asset})
	if err != nil || len(res.Derived) != 3 || !w.asset(asset).Deleted() {
		t.Fatalf("deletion after the race: %+v %v", res, err)
	}
}
