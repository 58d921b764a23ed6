package commands_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/memstore"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// world is the write side over the in-memory store, with a fake prober and
// silence detector (ffmpeg itself is exercised by the integration tests).
type world struct {
	t      *testing.T
	store  *memstore.Store
	d      commands.Deps
	media  map[string]domain.MediaInfo // blob path → what probing finds
	gone   []string                    // blob keys deleted
	lost   map[string]bool             // blob keys the store cannot find
	held   int                         // fetched files not yet released
	probes int                         // ffprobe runs
	detect int                         // silencedetect runs
	create *commands.CreateAssetHandler
	upload *commands.UploadAssetPartHandler
	probe  *commands.ProbeAssetHandler
	grant  *commands.GrantCreditsHandler
	cut    *commands.RequestCutHandler
	finish *commands.CompleteCutHandler
}

type fakeMedia struct{ w *world }

func (f fakeMedia) Probe(_ context.Context, path string) (domain.MediaInfo, error) {
	f.w.probes++
	m, ok := f.w.media[path]
	if !ok {
		return m, mediaErr{"source_unreadable"}
	}
	return m, nil
}

func (f fakeMedia) DetectSilences(_ context.Context, path string, _ domain.SilenceRemoval) ([]domain.Segment, time.Duration, error) {
	f.w.detect++
	return []domain.Segment{{Start: 0, End: time.Second}}, f.w.media[path].Duration, nil
}

func (f fakeMedia) Fetch(_ context.Context, key string) (string, func(), error) {
	if f.w.lost[key] {
		return "", nil, fmt.Errorf("fetch %s: %w", key, fs.ErrNotExist)
	}
	f.w.held++
	return "/blobs/" + key, func() { f.w.held-- }, nil
}

func (f fakeMedia) Delete(_ context.Context, key string) error {
	f.w.gone = append(f.w.gone, key)
	return nil
}

type mediaErr struct{ code string }

func (e mediaErr) Error() string          { return e.code }
func (e mediaErr) FailureCode() string    { return e.code }
func (e mediaErr) FailureMessage() string { return "the file is not readable media" }

func newWorld(t *testing.T) *world {
	var n atomic.Int64
	w := &world{t: t, media: map[string]domain.MediaInfo{}, lost: map[string]bool{}}
	t.Cleanup(func() {
		if w.held != 0 {
			t.Errorf("%d fetched blob files were never released", w.held)
		}
	})
	w.store = memstore.New(func() string { return fmt.Sprint("evt_", n.Add(1)) })
	w.d = commands.Deps{Store: w.store, Now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) },
		NewID: func(p string) string { return fmt.Sprintf("%s_%d", p, n.Add(1)) }}
	fm := fakeMedia{w}
	var err error
	must := func(e error) {
		if e != nil {
			t.Fatal(e)
		}
	}
	w.create, err = commands.NewCreateAssetHandler(w.d)
	must(err)
	w.upload, err = commands.NewUploadAssetPartHandler(w.d, commands.UploadLimits{StorageQuota: 1 << 30})
	must(err)
	w.probe, err = commands.NewProbeAssetHandler(w.d, fm, fm, domain.SourceLimits{MaxDuration: 4 * time.Hour})
	must(err)
	w.grant, err = commands.NewGrantCreditsHandler(w.d)
	must(err)
	w.cut, err = commands.NewRequestCutHandler(w.d, commands.CutLimits{})
	must(err)
	w.finish, err = commands.NewCompleteCutHandler(w.d, fm, fm)
	must(err)
	return w
}

var alice = commands.Caller{AccountID: "acc_alice", CorrelationID: "req_1"}

func (w *world) credit(acc string, seconds int64) commands.GrantResult {
	res, err := w.grant.Handle(w.t.Context(), commands.Caller{}, commands.GrantCredits{AccountID: acc, Seconds: seconds})
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

// uploaded creates an asset of kind, uploads part with media behind it and
// probes it.
func (w *world) uploaded(kind domain.AssetKind, part domain.AssetPart, media domain.MediaInfo) string {
	id := w.uploadOnly(alice, kind, part, media)
	if _, err := w.probe.Handle(w.t.Context(), commands.Caller{}, commands.ProbeAsset{AssetID: id, Part: part}); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// uploadOnly creates an asset of kind for c and uploads part with media
// behind it, leaving its probe queued.
func (w *world) uploadOnly(c commands.Caller, kind domain.AssetKind, part domain.AssetPart, media domain.MediaInfo) string {
	ctx := w.t.Context()
	created, err := w.create.Handle(ctx, c, commands.CreateAsset{Kind: kind, Name: "clip"})
	if err != nil {
		w.t.Fatal(err)
	}
	key := created.StreamID + "/" + string(part)
	w.media["/blobs/"+key] = media
	if _, err := w.upload.Handle(ctx, c, commands.UploadAssetPart{AssetID: created.StreamID, Part: part, BlobKey: key, Size: 1}); err != nil {
		w.t.Fatal(err)
	}
	return created.StreamID
}

func (w *world) asset(id string) *domain.Asset {
	recs, _ := w.store.Load(w.t.Context(), id)
	a, err := domain.RebuildAsset(recs)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

func (w *world) cutState(id string) *domain.Cut {
	recs, _ := w.store.Load(w.t.Context(), id)
	c, err := domain.RebuildCut(recs)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

var clip = domain.MediaInfo{Duration: 2500 * time.Millisecond, HasVideo: true, HasAudio: true, Width: 1920, Height: 1080}

func TestProbe_with_enough_credits_charges_once_and_makes_the_asset_ready(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	id := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, clip)
	a := w.asset(id)
	if a.State() != domain.AssetStateReady || !a.Cuttable() {
		t.Fatalf("state %s cuttable %v", a.State(), a.Cuttable())
	}
	// A redelivered probe trigger changes nothing and charges nothing.
	if _, err := w.probe.Handle(t.Context(), commands.Caller{}, commands.ProbeAsset{AssetID: id, Part: domain.AssetPartSource}); err != nil {
		t.Fatal(err)
	}
	if w.asset(id).Version() != a.Version() {
		t.Error("a redelivered probe appended events")
	}
	_ = w.store.Transact(t.Context(), []string{commands.LedgerStream("acc_alice")}, func(ctx context.Context, tx commands.Tx) error {
		if b, _ := tx.CreditBalance(ctx, "acc_alice"); b != 57 {
			t.Errorf("balance = %d, want 60 − 3 (2.5 s rounded up)", b)
		}
		return nil
	})
}

// A probe recorded again after its first record went through (its answer
// lost in an outage) changes nothing and charges nothing.
func TestProbe_recorded_twice_records_and_charges_once(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	id := w.uploadOnly(alice, domain.AssetKindVideo, domain.AssetPartSource, clip)
	p, err := w.probe.Probe(t.Context(), commands.Caller{}, commands.ProbeAsset{AssetID: id, Part: domain.AssetPartSource})
	if err != nil {
		t.Fatal(err)
	}
	first, err := w.probe.Record(t.Context(), commands.Caller{}, p)
	if err != nil || len(first.Events) == 0 {
		t.Fatalf("first record: %+v, %v", first, err)
	}
	again, err := w.probe.Record(t.Context(), commands.Caller{}, p)
	if err != nil || len(again.Events) != 0 || w.asset(id).Version() != first.Version {
		t.Fatalf("the repeat: %+v, %v; version %d, want %d", again, err, w.asset(id).Version(), first.Version)
	}
	if s := w.asset(id).State(); s != domain.AssetStateReady {
		t.Errorf("state %s, want ready", s)
	}
	_ = w.store.Transact(t.Context(), []string{commands.LedgerStream("acc_alice")}, func(ctx context.Context, tx commands.Tx) error {
		if b, _ := tx.CreditBalance(ctx, "acc_alice"); b != 57 {
			t.Errorf("balance = %d, want 60 − 3, charged once", b)
		}
		return nil
	})
}

func TestAssets_waiting_for_payment_resume_in_order_after_a_grant(t *testing.T) {
	w := newWorld(t)
	first := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, clip)
	second := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, clip)
	for _, id := range []string{first, second} {
		if s := w.asset(id).State(); s != domain.AssetStatePaymentRequired {
			t.Fatalf("%s: state %s, want payment_required", id, s)
		}
	}
	if res := w.credit("acc_alice", 4); len(res.Resumed) != 1 || res.Resumed[0] != first {
		t.Fatalf("a 4 s grant resumed %v, want only the first 3 s asset", res.Resumed)
	}
	if w.asset(first).State() != domain.AssetStateReady || w.asset(second).State() != domain.AssetStatePaymentRequired {
		t.Fatalf("states %s, %s", w.asset(first).State(), w.asset(second).State())
	}
	if res := w.credit("acc_alice", 2); len(res.Resumed) != 1 || res.Resumed[0] != second {
		t.Fatalf("the next grant resumed %v", res.Resumed)
	}
}

func TestProbe_of_an_unreadable_file_fails_the_asset_without_charging(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	ctx := t.Context()
	created, _ := w.create.Handle(ctx, alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
	if _, err := w.upload.Handle(ctx, alice, commands.UploadAssetPart{AssetID: created.StreamID, Part: domain.AssetPartSource, BlobKey: "garbage"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.probe.Handle(ctx, commands.Caller{}, commands.ProbeAsset{AssetID: created.StreamID, Part: domain.AssetPartSource}); err != nil {
		t.Fatal(err)
	}
	a := w.asset(created.StreamID)
	if a.State() != domain.AssetStateFailed || a.Failure().Code != "source_unreadable" || a.Charged() {
		t.Fatalf("state %s failure %+v charged %v", a.State(), a.Failure(), a.Charged())
	}
}

// A part the store cannot find (lost, or deleted behind renderd's back) is
// the worker's trouble, retried, not the file's: nothing is recorded.
func TestProbe_of_a_part_missing_from_the_store_records_nothing(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	ctx := t.Context()
	created, _ := w.create.Handle(ctx, alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
	if _, err := w.upload.Handle(ctx, alice, commands.UploadAssetPart{AssetID: created.StreamID, Part: domain.AssetPartSource, BlobKey: "lost"}); err != nil {
		t.Fatal(err)
	}
	w.lost["lost"] = true
	before := w.asset(created.StreamID).Version()
	_, err := w.probe.Handle(ctx, commands.Caller{}, commands.ProbeAsset{AssetID: created.StreamID, Part: domain.AssetPartSource})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("probe = %v, want an error matching fs.ErrNotExist", err)
	}
	if a := w.asset(created.StreamID); a.Version() != before || w.probes != 0 {
		t.Fatalf("version %d (was %d), probes %d", a.Version(), before, w.probes)
	}
}

func (w *world) reserve(c commands.Caller, asset string, part domain.AssetPart, key string, size int64) (commands.UploadReservation, error) {
	return w.upload.Reserve(w.t.Context(), c, asset, part, key, size, 1<<30, fakeMedia{w}.Delete)
}

func TestUpload_reserve_refuses_a_second_source_and_foreign_assets(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	id := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, clip)
	var ce *domain.ConflictError
	if _, err := w.reserve(alice, id, domain.AssetPartSource, "k", 10); !errors.As(err, &ce) || ce.Code != "source_already_uploaded" {
		t.Errorf("second source: %v", err)
	}
	bob := commands.Caller{AccountID: "acc_bob"}
	if _, err := w.reserve(bob, id, domain.AssetPartAudio, "k", 10); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another account's asset: %v, want not found", err)
	}
}

func TestUpload_reserve_holds_the_part_and_the_bytes_until_recorded_or_released(t *testing.T) {
	w := newWorld(t)
	const quota = 1 << 30
	created, _ := w.create.Handle(t.Context(), alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
	asset := created.StreamID
	first, err := w.reserve(alice, asset, domain.AssetPartSource, "src-1", 600<<20)
	if err != nil || first.Bytes != 600<<20 {
		t.Fatalf("first reservation: %+v %v", first, err)
	}
	var ce *domain.ConflictError
	if _, err := w.reserve(alice, asset, domain.AssetPartSource, "src-2", 10); !errors.As(err, &ce) || ce.Code != "upload_in_progress" {
		t.Errorf("a second upload of the part: %v, want upload_in_progress", err)
	}
	// Another part of another asset: the quota counts the first reservation.
	other, _ := w.create.Handle(t.Context(), alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
	var qe *domain.QuotaError
	if _, err := w.reserve(alice, other.StreamID, domain.AssetPartSource, "o-1", 500<<20); !errors.As(err, &qe) || qe.Code != "storage_quota_exceeded" {
		t.Errorf("600 MiB reserved + 500 MiB of a 1 GiB quota: %v, want storage_quota_exceeded", err)
	}
	// A body without a length gets what the quota leaves.
	unknown, err := w.reserve(alice, other.StreamID, domain.AssetPartAudio, "o-2", -1)
	if err != nil || unknown.Bytes != quota-600<<20 {
		t.Errorf("unknown length: %+v %v, want %d bytes", unknown, err, quota-600<<20)
	}
	if err := w.upload.Release(t.Context(), unknown); err != nil {
		t.Fatal(err)
	}
	// Recording the upload turns the reservation into stored bytes.
	if _, err := w.upload.Handle(t.Context(), alice, commands.UploadAssetPart{AssetID: asset, Part: domain.AssetPartSource, BlobKey: "src-1", Size: 300 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.reserve(alice, other.StreamID, domain.AssetPartSource, "o-3", 700<<20); err != nil {
		t.Errorf("300 MiB stored + 700 MiB of a 1 GiB quota: %v", err)
	}
	if _, err := w.reserve(alice, asset, domain.AssetPartAudio, "a-1", 30<<20); !errors.As(err, &qe) {
		t.Errorf("the quota is full: %v", err)
	}
}

func TestUpload_reservation_of_a_vanished_uploader_expires_and_its_blob_is_deleted(t *testing.T) {
	w := newWorld(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	w.d.Now = func() time.Time { return now }
	w.upload, _ = commands.NewUploadAssetPartHandler(w.d, commands.UploadLimits{StorageQuota: 1 << 30})
	created, _ := w.create.Handle(t.Context(), alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
	if _, err := w.reserve(alice, created.StreamID, domain.AssetPartSource, "vanished", 100); err != nil {
		t.Fatal(err)
	}
	now = now.Add(commands.UploadLease + time.Second)
	if _, err := w.reserve(alice, created.StreamID, domain.AssetPartSource, "again", 100); err != nil {
		t.Fatalf("after the lease: %v", err)
	}
	if len(w.gone) != 1 || w.gone[0] != "vanished" {
		t.Errorf("deleted %v, want the vanished upload's blob", w.gone)
	}
}

func TestStorage_counts_uploads_refused_parts_and_outputs_and_gates_new_renders(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 600)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartAudio, domain.MediaInfo{Duration: time.Second, HasAudio: true})
	// A refused source frees its bytes (uploaded via addPart with Size 1).
	w.addPart(asset, domain.AssetPartSource, "src-20s", domain.MediaInfo{Duration: 20 * time.Second, HasVideo: true, HasAudio: true, Width: 640, Height: 360})
	used := func() int64 {
		var n int64
		_ = w.store.Transact(t.Context(), []string{"x"}, func(ctx context.Context, tx commands.Tx) (err error) {
			n, err = tx.StorageUsed(ctx, "acc_alice", w.d.Now())
			return err
		})
		return n
	}
	if u := used(); u != 1 {
		t.Errorf("stored %d bytes, want 1 (the audio; the refused source freed)", u)
	}
	req, _ := commands.NewRequestRenderHandler(w.d, commands.RenderLimits{StorageQuota: 1})
	_, err := req.Handle(t.Context(), alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP3}})
	wantErr(t, err, "storage_quota_exceeded")
	req, _ = commands.NewRequestRenderHandler(w.d, commands.RenderLimits{StorageQuota: 2})
	res, err := req.Handle(t.Context(), alice, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP3}})
	wantErr(t, err, "")
	start, _ := commands.NewStartRenderHandler(w.d, 0)
	complete, _ := commands.NewCompleteRenderHandler(w.d)
	attempt, _, err := start.Handle(t.Context(), commands.Caller{}, commands.StartRender{RenderID: res.StreamID, WorkerID: "w", LeaseUntil: w.d.Now().Add(time.Minute)})
	wantErr(t, err, "")
	_, err = complete.Handle(t.Context(), commands.Caller{}, commands.CompleteRender{RenderID: res.StreamID, Result: domain.RenderCompleted{
		Attempt: attempt, BlobKey: "out", SizeBytes: 1000, Duration: time.Second}})
	wantErr(t, err, "")
	if u := used(); u != 1001 {
		t.Errorf("stored %d bytes, want 1001 with the output", u)
	}
}

func TestCut_with_explicit_segments_completes_at_once_on_a_cuttable_asset(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, clip)
	res, err := w.cut.Handle(t.Context(), alice, commands.RequestCut{AssetID: asset, Segments: []domain.Segment{{Start: 0, End: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := w.cutState(res.StreamID); c.State() != domain.CutStateCompleted || c.Duration() != time.Second {
		t.Fatalf("cut state %s duration %s", c.State(), c.Duration())
	}
}

func TestCut_requested_early_completes_once_the_asset_is_cuttable(t *testing.T) {
	w := newWorld(t)
	asset := w.uploaded(domain.AssetKindAudio, domain.AssetPartSource, domain.MediaInfo{Duration: 2 * time.Second, HasAudio: true})
	res, err := w.cut.Handle(t.Context(), alice, commands.RequestCut{AssetID: asset, Segments: []domain.Segment{{Start: 0, End: 3 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	auto, err := w.cut.Handle(t.Context(), alice, commands.RequestCut{AssetID: asset, Auto: &domain.SilenceRemoval{MinSilence: time.Second, ThresholdDB: -35}})
	if err != nil {
		t.Fatal(err)
	}
	// What the media worker does on asset.charged: complete the cuts in
	// flight without a media tool, then run the automatic cut's job.
	finishAll := func() {
		cuts, err := w.store.CutsInFlight(t.Context(), asset)
		if err != nil || len(cuts) != 2 {
			t.Fatalf("cuts of the asset in flight: %v %v", cuts, err)
		}
		for _, c := range cuts {
			if _, err := w.finish.Handle(t.Context(), commands.Caller{}, commands.CompleteCut{CutID: c}); err != nil {
				t.Fatal(err)
			}
		}
	}
	finishAll() // not cuttable yet: nothing happens
	if w.cutState(res.StreamID).State() != domain.CutStateProcessing {
		t.Fatal("a cut completed before its asset was paid for")
	}
	w.credit("acc_alice", 10)
	finishAll()
	if c := w.cutState(res.StreamID); c.State() != domain.CutStateFailed || c.Failure().Code != domain.FailureOutOfRange {
		t.Errorf("explicit cut past the end: %s %+v", c.State(), c.Failure())
	}
	if c := w.cutState(auto.StreamID); c.State() != domain.CutStateProcessing {
		t.Fatalf("an automatic cut was decided without its silence detection: %s", c.State())
	}
	w.runJob(commands.SilenceJobID(auto.StreamID))
	if c := w.cutState(auto.StreamID); c.State() != domain.CutStateCompleted || c.Duration() != time.Second {
		t.Errorf("auto cut: %s %s", c.State(), c.Duration())
	}
}

func TestCut_of_another_accounts_asset_is_not_found(t *testing.T) {
	w := newWorld(t)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, clip)
	_, err := w.cut.Handle(t.Context(), commands.Caller{AccountID: "acc_bob"}, commands.RequestCut{AssetID: asset, Segments: []domain.Segment{{Start: 0, End: time.Second}}})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("err = %v, want not found", err)
	}
}

func TestIds_of_another_stream_type_are_not_found(t *testing.T) {
	w := newWorld(t)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, clip)
	cut, err := w.cut.Handle(t.Context(), alice, commands.RequestCut{AssetID: asset, Segments: []domain.Segment{{Start: 0, End: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	// A cut's id where an asset id belongs: its events rebuild no asset.
	_, err = w.cut.Handle(t.Context(), alice, commands.RequestCut{AssetID: cut.StreamID, Segments: []domain.Segment{{Start: 0, End: time.Second}}})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a cut of a cut: err = %v, want not found", err)
	}
	cancel, err := commands.NewCancelRenderHandler(w.d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cancel.Handle(t.Context(), alice, commands.CancelRender{RenderID: asset}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("cancelling an asset: err = %v, want not found", err)
	}
}

func TestCut_with_empty_segments_next_to_auto_is_invalid(t *testing.T) {
	w := newWorld(t)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, clip)
	_, err := w.cut.Handle(t.Context(), alice, commands.RequestCut{AssetID: asset, Segments: []domain.Segment{},
		Auto: &domain.SilenceRemoval{MinSilence: time.Second, ThresholdDB: -35}})
	var invalid *domain.ValidationError
	if !errors.As(err, &invalid) || invalid.Field != "auto" {
		t.Errorf("err = %v, want a validation error on auto", err)
	}
}

func (w *world) balance(acc string) int64 {
	var b int64
	err := w.store.Transact(w.t.Context(), []string{commands.LedgerStream(acc)}, func(ctx context.Context, tx commands.Tx) (err error) {
		b, err = tx.CreditBalance(ctx, acc)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// addPart uploads and probes another part of an asset.
func (w *world) addPart(asset string, part domain.AssetPart, key string, media domain.MediaInfo) {
	ctx := w.t.Context()
	w.media["/blobs/"+key] = media
	if _, err := w.upload.Handle(ctx, alice, commands.UploadAssetPart{AssetID: asset, Part: part, BlobKey: key, Size: 1}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.probe.Handle(ctx, commands.Caller{}, commands.ProbeAsset{AssetID: asset, Part: part}); err != nil {
		w.t.Fatal(err)
	}
}

func TestBilling_a_long_source_after_short_audio_is_refused_deleted_and_not_charged(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartAudio, domain.MediaInfo{Duration: time.Second, HasAudio: true})
	w.addPart(asset, domain.AssetPartSource, "src-20s", domain.MediaInfo{Duration: 20 * time.Second, HasVideo: true, HasAudio: true, Width: 640, Height: 360})
	a := w.asset(asset)
	if r := a.Refusal(); r == nil || r.Code != domain.RefusalDurationMismatch || a.SourceUploaded() || !a.Cuttable() {
		t.Fatalf("refusal %+v, source uploaded %v, cuttable %v", r, a.SourceUploaded(), a.Cuttable())
	}
	if w.balance("acc_alice") != 59 || len(w.gone) != 1 || w.gone[0] != "src-20s" {
		t.Errorf("balance %d (want 60 − 1), deleted %v (want the refused source)", w.balance("acc_alice"), w.gone)
	}
	// The right source now makes the asset ready, and costs nothing more.
	w.addPart(asset, domain.AssetPartSource, "src-1s", domain.MediaInfo{Duration: 900 * time.Millisecond, HasVideo: true, HasAudio: true, Width: 640, Height: 360})
	if a := w.asset(asset); a.State() != domain.AssetStateReady || a.Refusal() != nil || w.balance("acc_alice") != 59 {
		t.Errorf("state %s refusal %+v balance %d", a.State(), a.Refusal(), w.balance("acc_alice"))
	}
}

func TestBilling_charges_the_longer_part_and_waits_for_credits_for_the_difference(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 10)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartAudio, domain.MediaInfo{Duration: 10 * time.Second, HasAudio: true})
	w.addPart(asset, domain.AssetPartSource, "src", domain.MediaInfo{Duration: 10400 * time.Millisecond, HasVideo: true, HasAudio: true, Width: 640, Height: 360})
	a := w.asset(asset)
	if a.State() != domain.AssetStatePaymentRequired || !a.Cuttable() || w.balance("acc_alice") != 0 {
		t.Fatalf("state %s cuttable %v balance %d: want payment_required for 1 s, audio still cuttable", a.State(), a.Cuttable(), w.balance("acc_alice"))
	}
	if res := w.credit("acc_alice", 5); len(res.Resumed) != 1 {
		t.Fatalf("the grant resumed %v", res.Resumed)
	}
	if a := w.asset(asset); a.State() != domain.AssetStateReady || a.ChargedSeconds() != 11 || w.balance("acc_alice") != 4 {
		t.Errorf("state %s charged %d balance %d", a.State(), a.ChargedSeconds(), w.balance("acc_alice"))
	}
}

func TestProbe_of_a_source_beyond_the_limits_fails_and_deletes_it(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60*24*60)
	asset := w.uploaded(domain.AssetKindVideo, domain.AssetPartSource, domain.MediaInfo{Duration: 5 * time.Hour, HasVideo: true, Width: 640, Height: 360})
	a := w.asset(asset)
	if a.State() != domain.AssetStateFailed || a.Failure().Code != domain.FailureSourceTooLarge || a.Charged() {
		t.Errorf("state %s failure %+v charged %v", a.State(), a.Failure(), a.Charged())
	}
	if len(w.gone) != 1 {
		t.Errorf("deleted %v, want the source", w.gone)
	}
}

// HoldFor moves only the upload's own reservation: a later upload's is
// left alone, and HoldFor(0) frees the part.
func TestUpload_HoldFor_keeps_and_ends_only_its_own_reservation(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	created, _ := w.create.Handle(ctx, alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
	res, err := w.reserve(alice, created.StreamID, domain.AssetPartSource, "tus-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := w.upload.HoldFor(ctx, res, 24*time.Hour); err != nil || !held {
		t.Fatalf("HoldFor a day: %v, %v", held, err)
	}
	other := res
	other.BlobKey = "someone-else"
	if held, err := w.upload.HoldFor(ctx, other, 0); err != nil || held {
		t.Fatalf("HoldFor with another blob key: %v, %v", held, err)
	}
	var ce *domain.ConflictError
	if _, err := w.reserve(alice, created.StreamID, domain.AssetPartSource, "put-1", 10); !errors.As(err, &ce) || ce.Code != "upload_in_progress" {
		t.Fatalf("a PUT while held: %v, want upload_in_progress", err)
	}
	if held, err := w.upload.HoldFor(ctx, res, 0); err != nil || !held {
		t.Fatalf("HoldFor(0): %v, %v", held, err)
	}
	if _, err := w.reserve(alice, created.StreamID, domain.AssetPartSource, "put-2", 10); err != nil {
		t.Fatalf("a PUT once released: %v", err)
	}
}
