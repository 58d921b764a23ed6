package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/postgres/readmodel"
	pt "github.com/renderd/renderd/adapters/postgres/readmodel/readmodeltest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// Secrets that the worker side writes into render events and that no
// client may ever read.
const (
	secretWorker = "worker-7f3a@encoder-host-12"
	secretBlob   = "renders/rnd_x/attempt-2/secret-output.mp4"
	secretStderr = "ffmpeg exited 1: /var/lib/renderd/blobs/assets/ast_1/source: Invalid data found when processing input"
	secretReason = "lease of worker-7f3a@encoder-host-12 expired"
)

// renderFixture is the projections fixture with the render projector, whose
// event loader counts the stream loads: the incremental path makes none.
type renderFixture struct {
	*fixture
	loads   *testenv.CountingLoader
	renders *projections.RenderProjector
}

func newRenderFixture(t *testing.T) *renderFixture {
	f := newFixture(t)
	loads := &testenv.CountingLoader{Next: f.store}
	return &renderFixture{fixture: f, loads: loads,
		renders: projections.NewRenderProjector(readmodel.NewStore(f.pool), loads, testenv.Logger(t))}
}

// in returns the fixture for a subtest: the same database, t's failures.
func (f *renderFixture) in(t *testing.T) *renderFixture {
	inner := *f.fixture
	inner.t = t
	return &renderFixture{fixture: &inner, loads: f.loads, renders: f.renders}
}

// renderHistory is a render driven through the domain, each event stamped
// with its own time, one second after the previous one.
type renderHistory struct {
	t      testing.TB
	r      *domain.Render
	at     time.Time
	events []timedEvent
}

type timedEvent struct {
	at time.Time
	e  domain.Event
}

// videoRequest is a 720p mp4 of pt.Video() with explicit segments.
func videoRequest(assetID string) domain.RenderRequested {
	return domain.RenderRequested{
		AssetID: assetID,
		Output:  domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p, AudioBitrate: 192},
		Plan: domain.RenderPlan{Width: 1280, Height: 720, VideoBitrate: 2_500_000, AudioBitrate: 128_000,
			Segments: []domain.Segment{{Start: 1500 * time.Millisecond, End: 4 * time.Second}}, Duration: 2500 * time.Millisecond},
		Signature: "sig_" + assetID,
	}
}

func newRenderHistory(t testing.TB, id, account string, req domain.RenderRequested, at time.Time) *renderHistory {
	t.Helper()
	r, err := domain.RequestRender(id, account, req, at)
	if err != nil {
		t.Fatal(err)
	}
	return &renderHistory{t: t, r: r, at: at, events: []timedEvent{{at, r.Changes()[0]}}}
}

// do runs one command a second later and keeps what it recorded.
func (h *renderHistory) do(act func(r *domain.Render, now time.Time) error) *renderHistory {
	h.t.Helper()
	h.at = h.at.Add(time.Second)
	before := len(h.r.Changes())
	if err := act(h.r, h.at); err != nil {
		h.t.Fatal(err)
	}
	for _, e := range h.r.Changes()[before:] {
		h.events = append(h.events, timedEvent{h.at, e})
	}
	return h
}

func (h *renderHistory) start(worker string) *renderHistory {
	return h.do(func(r *domain.Render, now time.Time) error {
		_, err := r.Start(worker, now.Add(time.Minute), now)
		return err
	})
}

// progress reports percent for the running attempt.
func (h *renderHistory) progress(percents ...int) *renderHistory {
	for _, p := range percents {
		h.do(func(r *domain.Render, now time.Time) error {
			return r.ReportProgress(r.Attempt(), p, time.Duration(100-p)*100*time.Millisecond, time.Duration(p)*25*time.Millisecond, now)
		})
	}
	return h
}

func (h *renderHistory) complete() *renderHistory {
	return h.do(func(r *domain.Render, now time.Time) error {
		return r.Complete(domain.RenderCompleted{Attempt: r.Attempt(), BlobKey: secretBlob, SizeBytes: 912_345,
			Duration: 2500 * time.Millisecond, Width: 1280, Height: 720, VideoBitrate: 2_400_000, AudioBitrate: 127_000,
			EncodeTime: 3250 * time.Millisecond}, now)
	})
}

func (h *renderHistory) fail(code string) *renderHistory {
	return h.do(func(r *domain.Render, now time.Time) error {
		return r.Fail(r.Attempt(), code, secretStderr, false, now)
	})
}

func (h *renderHistory) retry() *renderHistory {
	return h.do(func(r *domain.Render, now time.Time) error { return r.Retry(r.Attempt(), secretReason, now) })
}

func (h *renderHistory) cancel() *renderHistory {
	return h.do(func(r *domain.Render, now time.Time) error { return r.Cancel(now) })
}

// store appends the history one event per transaction, as commands do, and
// returns it as the event store holds it (decoded, as a consumer gets it).
func (f *renderFixture) store(h *renderHistory) []domain.Recorded {
	f.t.Helper()
	for _, e := range h.events {
		f.append(h.r.ID(), h.r.AccountID(), e.at, e.e)
	}
	recs, err := f.fixture.store.Load(f.t.Context(), h.r.ID())
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

func (f *renderFixture) handle(recs ...domain.Recorded) {
	f.t.Helper()
	for _, r := range recs {
		if err := f.renders.Handle(f.t.Context(), r); err != nil {
			f.t.Fatalf("project %s v%d: %v", r.StreamID, r.StreamVersion, err)
		}
	}
}

func (f *renderFixture) render(account, id string) projections.RenderView {
	f.t.Helper()
	v, err := f.queries.Render(f.t.Context(), account, id)
	if err != nil {
		f.t.Fatalf("render %s: %v", id, err)
	}
	return v
}

// row is the render's row as JSON, every column; "" when there is none.
func (f *renderFixture) row(id string) string {
	f.t.Helper()
	var row string
	err := f.pool.QueryRow(f.t.Context(), `SELECT coalesce((SELECT to_jsonb(t)::text FROM rm_renders t WHERE id = $1), '')`, id).Scan(&row)
	if err != nil {
		f.t.Fatal(err)
	}
	return row
}

// The rule the incremental path lives by: after every event, the row it
// wrote is exactly the row a rebuild from the event store writes, and it
// wrote it without loading the stream. Both paths take their rules from
// domain.RenderLifecycle.Next; this checks the row they make of it, read
// back from rm_renders and folded onto.
func TestRenderProjection_the_incremental_row_equals_the_rebuilt_row_after_every_event(t *testing.T) {
	percents := make([]int, 50)
	for i := range percents {
		percents[i] = 1 + i*2 // 1, 3, ..., 99
	}
	cases := map[string]func(h *renderHistory){
		"requested_started_50_progress_completed": func(h *renderHistory) {
			h.start(secretWorker).progress(percents...).complete()
		},
		"a_retry_resets_progress_and_the_next_attempt_completes": func(h *renderHistory) {
			h.start(secretWorker).progress(10, 40, 70).retry().start("worker-2").progress(5, 50).complete()
		},
		"failed_while_running": func(h *renderHistory) {
			h.start(secretWorker).progress(20, 30).fail("encode_failed")
		},
		"cancelled_while_running": func(h *renderHistory) {
			h.start(secretWorker).progress(15).cancel()
		},
		"cancelled_while_pending": func(h *renderHistory) { h.cancel() },
	}
	shared := newRenderFixture(t)
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			f := shared.in(t)
			h := newRenderHistory(t, "rnd_"+name, "acc_1", videoRequest("ast_1"), t0)
			build(h)
			recs := f.store(h)

			f.handle(recs[0]) // no row yet: built from the store
			for _, rec := range recs[1:] {
				loads := f.loads.N.Load()
				f.handle(rec)
				if n := f.loads.N.Load() - loads; n != 0 {
					t.Fatalf("v%d (%T) loaded the stream %d times; the next event applies to the row", rec.StreamVersion, rec.Event, n)
				}
				incremental := f.row(rec.StreamID)
				if _, err := f.pool.Exec(t.Context(), `DELETE FROM rm_renders WHERE id = $1`, rec.StreamID); err != nil {
					t.Fatal(err)
				}
				f.handle(rec) // no row: rebuilt through domain.RebuildRender
				if rebuilt := f.row(rec.StreamID); rebuilt != incremental {
					t.Fatalf("v%d (%T):\nincremental %s\n    rebuilt %s", rec.StreamVersion, rec.Event, incremental, rebuilt)
				}
			}
			if v := f.render("acc_1", h.r.ID()); v.Version != int64(len(recs)) || v.State != h.r.State() {
				t.Fatalf("final row v%d %s, want v%d %s", v.Version, v.State, len(recs), h.r.State())
			}
		})
	}
}

func TestRenderProjection_a_completed_render_shows_its_plan_result_and_times(t *testing.T) {
	f := newRenderFixture(t)
	req := videoRequest("ast_1")
	req.CutID, req.Replaces = "cut_1", "rnd_old"
	h := newRenderHistory(t, "rnd_done", "acc_1", req, t0).start(secretWorker).progress(40, 90).complete()
	f.handle(f.store(h)...)

	want := projections.RenderView{
		ID: "rnd_done", AccountID: "acc_1", AssetID: "ast_1", CutID: "cut_1", State: domain.RenderStateCompleted,
		Output: domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p, AudioBitrate: 192},
		Plan: domain.RenderPlan{Width: 1280, Height: 720, VideoBitrate: 2_500_000, AudioBitrate: 128_000,
			Segments: []domain.Segment{{Start: 1500 * time.Millisecond, End: 4 * time.Second}}, Duration: 2500 * time.Millisecond},
		Attempt: 1, Progress: 100, Replaces: "rnd_old",
		Result: &projections.RenderResultView{BlobKey: secretBlob, SizeBytes: 912_345, Duration: 2500 * time.Millisecond,
			Width: 1280, Height: 720, VideoBitrate: 2_400_000, AudioBitrate: 127_000, EncodeTime: 3250 * time.Millisecond},
		CreatedAt: t0, StartedAt: t0.Add(time.Second), CompletedAt: t0.Add(4 * time.Second), UpdatedAt: t0.Add(4 * time.Second),
		Version: 5,
	}
	if got := f.render("acc_1", "rnd_done"); !reflect.DeepEqual(got, want) {
		t.Fatalf("row\n got %+v\nwant %+v", got, want)
	}
}

func TestRenderProjection_lifecycle_rules_show_in_the_row(t *testing.T) {
	cases := []struct {
		name  string
		build func(h *renderHistory)
		check func(v projections.RenderView) bool
	}{
		{"pending_render_has_no_attempt_progress_or_start",
			func(h *renderHistory) {},
			func(v projections.RenderView) bool {
				return v.State == domain.RenderStatePending && v.Attempt == 0 && v.Progress == 0 && v.StartedAt.IsZero() && v.Result == nil
			}},
		{"running_render_shows_progress_and_eta",
			func(h *renderHistory) { h.start(secretWorker).progress(10, 42) },
			func(v projections.RenderView) bool {
				return v.State == domain.RenderStateRunning && v.Attempt == 1 && v.Progress == 42 && v.ETA == 5800*time.Millisecond
			}},
		{"retry_resets_progress_and_the_next_start_bumps_the_attempt",
			func(h *renderHistory) { h.start(secretWorker).progress(10, 60).retry() },
			func(v projections.RenderView) bool {
				return v.State == domain.RenderStatePending && v.Attempt == 1 && v.Progress == 0 && v.ETA == 0
			}},
		{"the_retried_attempt_starts_again_at_zero",
			func(h *renderHistory) { h.start(secretWorker).progress(10, 60).retry().start("worker-2") },
			func(v projections.RenderView) bool {
				return v.State == domain.RenderStateRunning && v.Attempt == 2 && v.Progress == 0 && v.StartedAt.Equal(t0.Add(5*time.Second))
			}},
		{"failed_render_shows_a_public_failure_and_when",
			func(h *renderHistory) { h.start(secretWorker).progress(30).fail("encode_failed") },
			func(v projections.RenderView) bool {
				return v.State == domain.RenderStateFailed && v.Progress == 30 && v.FailedAt.Equal(t0.Add(3*time.Second)) &&
					v.Failure != nil && v.Failure.Code == "encode_failed" && v.Failure.Message == "the render failed: ffmpeg could not encode the source; a retry may succeed" &&
					v.Result == nil && v.CompletedAt.IsZero()
			}},
		{"cancelled_render_shows_when",
			func(h *renderHistory) { h.start(secretWorker).cancel() },
			func(v projections.RenderView) bool {
				return v.State == domain.RenderStateCancelled && v.CancelledAt.Equal(t0.Add(2*time.Second)) && v.Failure == nil
			}},
		{"audio_render_has_no_video_plan",
			nil,
			func(v projections.RenderView) bool {
				return v.Output == domain.OutputSpec{Format: domain.FormatM4A} && v.Plan.Width == 0 && v.Plan.Segments == nil &&
					v.CutID == "" && v.Replaces == ""
			}},
	}
	shared := newRenderFixture(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := shared.in(t)
			req := videoRequest("ast_1")
			if c.build == nil {
				req = domain.RenderRequested{AssetID: "ast_1", Output: domain.OutputSpec{Format: domain.FormatM4A},
					Plan: domain.RenderPlan{AudioBitrate: 128_000, Duration: 12500 * time.Millisecond}, Signature: "sig_audio"}
			}
			h := newRenderHistory(t, "rnd_"+c.name, "acc_1", req, t0)
			if c.build != nil {
				c.build(h)
			}
			f.handle(f.store(h)...)
			if v := f.render("acc_1", h.r.ID()); !c.check(v) {
				t.Fatalf("row %+v (failure %+v)", v, v.Failure)
			}
		})
	}
}

func TestRenderProjection_a_redelivered_or_older_event_changes_nothing(t *testing.T) {
	f := newRenderFixture(t)
	recs := f.store(newRenderHistory(t, "rnd_1", "acc_1", videoRequest("ast_1"), t0).start(secretWorker).progress(10, 20, 30))
	f.handle(recs...)
	before := pt.Rows(t, f.pool, "rm_renders")
	for i := len(recs) - 1; i >= 0; i-- {
		f.handle(recs[i])
	}
	f.handle(recs...)
	if after := pt.Rows(t, f.pool, "rm_renders"); !reflect.DeepEqual(before, after) {
		t.Fatalf("redelivery changed the row:\n%v\n%v", before, after)
	}
}

func TestRenderProjection_a_gap_is_filled_from_the_event_store(t *testing.T) {
	f := newRenderFixture(t)
	recs := f.store(newRenderHistory(t, "rnd_gap", "acc_1", videoRequest("ast_1"), t0).
		start(secretWorker).progress(10, 20, 30, 40, 50).retry().start("worker-2").progress(5))
	f.handle(recs[0], recs[1])
	// v3..v9 were lost on the way; v10 (the retried attempt's progress) arrives.
	f.handle(recs[9])
	v := f.render("acc_1", "rnd_gap")
	if v.Version != 10 || v.State != domain.RenderStateRunning || v.Attempt != 2 || v.Progress != 5 {
		t.Fatalf("after the gap: %+v", v)
	}
	filled := f.row("rnd_gap")
	if _, err := readmodel.Rebuild(t.Context(), f.pool, f.codec, testenv.Logger(t), f.renders); err != nil {
		t.Fatal(err)
	}
	if rebuilt := f.row("rnd_gap"); rebuilt != filled {
		t.Fatalf("gap filled\n%s\nrebuilt\n%s", filled, rebuilt)
	}
	// A lost event turning up late changes nothing.
	f.handle(recs[4])
	if after := f.row("rnd_gap"); after != filled {
		t.Fatal("a late older event changed the row")
	}
}

func TestRenderProjection_an_event_the_store_does_not_hold_is_unprojectable(t *testing.T) {
	f := newRenderFixture(t)
	recs := f.store(newRenderHistory(t, "rnd_1", "acc_1", videoRequest("ast_1"), t0).start(secretWorker))
	f.handle(recs[0])
	f.append("rnd_orphan", "acc_1", t0, domain.RenderCancelled{})
	orphan, err := f.fixture.store.Load(t.Context(), "rnd_orphan")
	if err != nil {
		t.Fatal(err)
	}
	next := recs[1]
	next.ID = "0190c1d2-0000-7000-8000-000000000009"
	beyond := recs[1]
	beyond.StreamVersion = 3
	// Opening events of streams with no row yet, which take the one-round-
	// trip path: another event than the store's first, and a stream the
	// store does not have.
	opening := f.store(newRenderHistory(t, "rnd_2", "acc_1", videoRequest("ast_1"), t0))[0]
	opening.ID = "0190c1d2-0000-7000-8000-00000000000a"
	unstored := opening
	unstored.StreamID = "rnd_unstored"
	cases := map[string]domain.Recorded{
		"another_event_at_the_next_version":     next,
		"a_version_beyond_the_stream":           beyond,
		"a_stream_that_opens_without_a_request": orphan[0],
		"another_opening_event_than_the_stores": opening,
		"an_opening_event_the_store_lacks":      unstored,
		"an_asset_event": {ID: recs[1].ID, StreamID: "rnd_1", StreamType: domain.AggregateAsset, StreamVersion: 2,
			Event: recs[1].Event},
	}
	before := pt.Rows(t, f.pool, "rm_renders")
	for name, rec := range cases {
		if err := f.renders.Handle(t.Context(), rec); !errors.Is(err, projections.ErrUnprojectable) {
			t.Errorf("%s: err = %v, want ErrUnprojectable", name, err)
		}
	}
	if after := pt.Rows(t, f.pool, "rm_renders"); !reflect.DeepEqual(before, after) {
		t.Fatalf("rows changed:\n%v\n%v", before, after)
	}
	f.handle(recs[1]) // the real v2 still applies
}

// seedRender appends and projects a render of an asset, created at at.
func (f *renderFixture) seedRender(id, account, assetID string, at time.Time, build func(h *renderHistory)) {
	f.t.Helper()
	h := newRenderHistory(f.t, id, account, videoRequest(assetID), at)
	if build != nil {
		build(h)
	}
	f.handle(f.store(h)...)
}

// Render serves a view it read before only while the row is the same
// tuple: a projected event, a rewrite of the row at the same version (a
// swap repairing it) and its removal all show at once, and another account
// never gets it.
func TestRender_a_view_read_before_is_served_only_while_the_row_is_unchanged(t *testing.T) {
	f := newRenderFixture(t)
	recs := f.store(newRenderHistory(t, "rnd_c", "acc_1", videoRequest("ast_1"), t0).start(secretWorker).progress(10))
	f.handle(recs[0])
	if v := f.render("acc_1", "rnd_c"); v.State != domain.RenderStatePending {
		t.Fatalf("first read: %+v", v)
	}
	if v := f.render("acc_1", "rnd_c"); v.State != domain.RenderStatePending || v.Version != 1 {
		t.Fatalf("second read: %+v", v)
	}
	f.handle(recs[1], recs[2])
	if v := f.render("acc_1", "rnd_c"); v.State != domain.RenderStateRunning || v.Progress != 10 || v.Version != 3 {
		t.Fatalf("after two more events: %+v", v)
	}
	if _, err := f.pool.Exec(t.Context(), `UPDATE rm_renders SET progress = 11 WHERE id = 'rnd_c'`); err != nil {
		t.Fatal(err)
	}
	if v := f.render("acc_1", "rnd_c"); v.Progress != 11 || v.Version != 3 {
		t.Fatalf("after the row was rewritten at the same version: %+v", v)
	}
	if _, err := f.queries.Render(t.Context(), "acc_2", "rnd_c"); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("another account: err = %v, want ErrNotFound", err)
	}
	if _, err := f.pool.Exec(t.Context(), `DELETE FROM rm_renders WHERE id = 'rnd_c'`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.queries.Render(t.Context(), "acc_1", "rnd_c"); !errors.Is(err, projections.ErrNotFound) {
			t.Fatalf("after the row went: err = %v, want ErrNotFound", err)
		}
	}
}

// Many GETs at once share tuple queries (tupleChecker); each still gets
// its own render as the table holds it when it asks, and nobody else's.
func TestRender_concurrent_reads_each_get_their_own_render_as_it_is_now(t *testing.T) {
	f := newRenderFixture(t)
	f.seedAsset("ast_1", "acc_1", t0)
	var ids []string
	for i := range 8 {
		id := fmt.Sprint("rnd_p", i)
		f.seedRender(id, "acc_1", "ast_1", t0.Add(time.Duration(i)*time.Second), nil)
		ids = append(ids, id)
	}
	f.seedRender("rnd_theirs", "acc_2", "ast_1", t0, nil)
	readAll := func(wantProgress int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 400)
		for g := range 40 {
			wg.Go(func() {
				for i := range 10 {
					id := ids[(g+i)%len(ids)]
					v, err := f.queries.Render(t.Context(), "acc_1", id)
					if err != nil || v.ID != id || v.Progress != wantProgress {
						errs <- fmt.Errorf("%s: %s progress %d, %v; want progress %d", id, v.ID, v.Progress, err, wantProgress)
					}
					if _, err := f.queries.Render(t.Context(), "acc_1", "rnd_theirs"); !errors.Is(err, projections.ErrNotFound) {
						errs <- fmt.Errorf("another account's render: %v, want ErrNotFound", err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	readAll(0)
	readAll(0) // from the cache, checked
	if _, err := f.pool.Exec(t.Context(), `UPDATE rm_renders SET progress = 42 WHERE account_id = 'acc_1'`); err != nil {
		t.Fatal(err)
	}
	readAll(42)
}

func TestRenderQueries_another_accounts_renders_are_not_found_like_unknown_ones(t *testing.T) {
	f := newRenderFixture(t)
	f.seedAsset("ast_mine", "acc_a", t0)
	f.seedRender("rnd_mine", "acc_a", "ast_mine", t0, nil)
	ctx := t.Context()

	checks := map[string]error{}
	_, checks["foreign_render"] = f.queries.Render(ctx, "acc_b", "rnd_mine")
	_, checks["unknown_render"] = f.queries.Render(ctx, "acc_a", "rnd_nope")
	_, _, checks["renders_of_a_foreign_asset"] = f.queries.ListRenders(ctx, "acc_b", projections.RenderFilter{AssetID: "ast_mine"}, projections.Page{})
	_, _, checks["renders_of_an_unknown_asset"] = f.queries.ListRenders(ctx, "acc_a", projections.RenderFilter{AssetID: "ast_nope"}, projections.Page{})
	_, checks["history_of_a_foreign_render"] = f.queries.RenderHistory(ctx, "acc_b", "rnd_mine")
	_, checks["history_of_an_unknown_render"] = f.queries.RenderHistory(ctx, "acc_a", "rnd_nope")
	_, checks["history_of_an_asset"] = f.queries.RenderHistory(ctx, "acc_a", "ast_mine")
	for name, err := range checks {
		if !errors.Is(err, projections.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	if list, next, err := f.queries.ListRenders(ctx, "acc_b", projections.RenderFilter{}, projections.Page{}); err != nil || len(list) != 0 || next != "" {
		t.Errorf("another account's list = %v, %q, %v; want empty", list, next, err)
	}
}

func TestListRenders_filters_by_asset_and_state(t *testing.T) {
	f := newRenderFixture(t)
	f.seedAsset("ast_1", "acc_1", t0)
	f.seedAsset("ast_2", "acc_1", t0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	f.seedRender("rnd_1_pending", "acc_1", "ast_1", at(1), nil)
	f.seedRender("rnd_1_running", "acc_1", "ast_1", at(2), func(h *renderHistory) { h.start(secretWorker).progress(50) })
	f.seedRender("rnd_1_done", "acc_1", "ast_1", at(3), func(h *renderHistory) { h.start(secretWorker).complete() })
	f.seedRender("rnd_2_done", "acc_1", "ast_2", at(4), func(h *renderHistory) { h.start(secretWorker).complete() })
	f.seedRender("rnd_2_failed", "acc_1", "ast_2", at(5), func(h *renderHistory) { h.start(secretWorker).fail("encode_failed") })
	f.seedRender("rnd_2_cancelled", "acc_1", "ast_2", at(6), func(h *renderHistory) { h.cancel() })
	f.seedRender("rnd_other", "acc_2", "ast_x", at(7), nil)

	cases := []struct {
		name   string
		filter projections.RenderFilter
		want   []string
	}{
		{"no_filter_lists_the_accounts_renders_newest_first", projections.RenderFilter{},
			[]string{"rnd_2_cancelled", "rnd_2_failed", "rnd_2_done", "rnd_1_done", "rnd_1_running", "rnd_1_pending"}},
		{"asset_filter", projections.RenderFilter{AssetID: "ast_1"}, []string{"rnd_1_done", "rnd_1_running", "rnd_1_pending"}},
		{"state_filter", projections.RenderFilter{State: "completed"}, []string{"rnd_2_done", "rnd_1_done"}},
		{"both_filters", projections.RenderFilter{AssetID: "ast_2", State: "failed"}, []string{"rnd_2_failed"}},
		{"a_state_with_no_renders", projections.RenderFilter{AssetID: "ast_1", State: "cancelled"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pageAll(t, 2, func(p projections.Page) ([]projections.RenderView, string, error) {
				return f.queries.ListRenders(t.Context(), "acc_1", c.filter, p)
			})
			var ids []string
			for _, v := range got {
				ids = append(ids, v.ID)
			}
			if !slices.Equal(ids, c.want) {
				t.Fatalf("renders %v, want %v", ids, c.want)
			}
		})
	}
}

func TestListRenders_rejects_a_bad_state_and_a_cursor_of_other_filters(t *testing.T) {
	f := newRenderFixture(t)
	f.seedAsset("ast_1", "acc_1", t0)
	f.seedAsset("ast_2", "acc_1", t0)
	for i := range 3 {
		f.seedRender(fmt.Sprintf("rnd_%d", i), "acc_1", "ast_1", t0.Add(time.Duration(i)*time.Second), nil)
	}
	ctx := t.Context()
	for _, state := range []string{"Pending", "done", "uploading", " running"} {
		_, _, err := f.queries.ListRenders(ctx, "acc_1", projections.RenderFilter{State: state}, projections.Page{})
		var invalid *domain.ValidationError
		if !errors.As(err, &invalid) || invalid.Field != "state" || !errors.Is(err, domain.ErrValidation) {
			t.Errorf("state %q: err = %v, want a validation error on state", state, err)
		}
	}

	_, next, err := f.queries.ListRenders(ctx, "acc_1", projections.RenderFilter{AssetID: "ast_1"}, projections.Page{Limit: 1})
	if err != nil || next == "" {
		t.Fatalf("first page: next %q, %v", next, err)
	}
	_, assetNext, err := f.queries.ListAssets(ctx, "acc_1", projections.Page{Limit: 1})
	if err != nil || assetNext == "" {
		t.Fatalf("assets: next %q, %v", assetNext, err)
	}
	bad := map[string]struct {
		filter projections.RenderFilter
		cursor string
	}{
		"an_asset_list_cursor":                 {projections.RenderFilter{}, assetNext},
		"same_cursor_without_the_asset_filter": {projections.RenderFilter{}, next},
		"same_cursor_with_a_state_added":       {projections.RenderFilter{AssetID: "ast_1", State: "pending"}, next},
		"a_cursor_with_a_forged_keyset":        {projections.RenderFilter{AssetID: "ast_1"}, strings.SplitN(next, ".", 2)[0] + ".!!"},
		"a_bare_keyset_cursor":                 {projections.RenderFilter{AssetID: "ast_1"}, strings.SplitN(next, ".", 2)[1]},
		"garbage":                              {projections.RenderFilter{}, "%%%"},
	}
	for name, c := range bad {
		_, _, err := f.queries.ListRenders(ctx, "acc_1", c.filter, projections.Page{Limit: 1, Cursor: c.cursor})
		var invalid *domain.ValidationError
		if !errors.Is(err, projections.ErrBadCursor) || !errors.As(err, &invalid) || invalid.Field != "cursor" {
			t.Errorf("%s: err = %v, want ErrBadCursor on field cursor", name, err)
		}
	}
	if list, _, err := f.queries.ListRenders(ctx, "acc_1", projections.RenderFilter{AssetID: "ast_1"}, projections.Page{Limit: 1, Cursor: next}); err != nil || len(list) != 1 || list[0].ID != "rnd_1" {
		t.Fatalf("the cursor with its own filters: %v, %v", list, err)
	}
}

func TestListRenders_pages_newest_first_without_duplicates_or_gaps_under_concurrent_inserts(t *testing.T) {
	f := newRenderFixture(t)
	f.seedAsset("ast_1", "acc_1", t0)
	// 23 renders, in groups of three created in the same microsecond, so the
	// id breaks ties on page boundaries.
	var seeded []string
	for i := range 23 {
		id := fmt.Sprintf("rnd_%02d", i)
		f.seedRender(id, "acc_1", "ast_1", t0.Add(time.Duration(i/3)*time.Second), nil)
		seeded = append(seeded, id)
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			h := newRenderHistory(t, fmt.Sprintf("rnd_new_%03d", i), "acc_1", videoRequest("ast_1"), time.Now())
			recs, err := pt.Append(ctx, f.fixture.store, h.r.ID(), "acc_1", h.at, h.r.Changes()...)
			if err == nil {
				err = f.renders.Handle(ctx, recs[0])
			}
			if err != nil && ctx.Err() == nil {
				t.Error(err)
				return
			}
		}
	})
	var got []projections.RenderView
	for range 3 {
		got = pageAll(t, 4, func(p projections.Page) ([]projections.RenderView, string, error) {
			time.Sleep(5 * time.Millisecond)
			return f.queries.ListRenders(t.Context(), "acc_1", projections.RenderFilter{AssetID: "ast_1", State: "pending"}, p)
		})
	}
	stop()
	wg.Wait()

	seen := map[string]bool{}
	for i, v := range got {
		if seen[v.ID] {
			t.Fatalf("%s listed twice", v.ID)
		}
		seen[v.ID] = true
		if i > 0 {
			prev := got[i-1]
			if v.CreatedAt.After(prev.CreatedAt) || (v.CreatedAt.Equal(prev.CreatedAt) && v.ID > prev.ID) {
				t.Fatalf("not newest first: %s (%s) after %s (%s)", v.ID, v.CreatedAt, prev.ID, prev.CreatedAt)
			}
		}
	}
	tail := got[len(got)-len(seeded):]
	want := slices.Clone(seeded)
	slices.SortFunc(want, func(a, b string) int {
		var na, nb int
		_, _ = fmt.Sscanf(a, "rnd_%d", &na)
		_, _ = fmt.Sscanf(b, "rnd_%d", &nb)
		if na/3 != nb/3 {
			return nb/3 - na/3
		}
		return strings.Compare(b, a)
	})
	for i := range tail {
		if tail[i].ID != want[i] {
			t.Fatalf("position %d: %s, want %s", i, tail[i].ID, want[i])
		}
	}
	t.Logf("%d renders listed, %d of them inserted while paging", len(got), len(got)-len(seeded))
}

func TestRenderHistory_shows_every_event_in_order_with_public_data_only(t *testing.T) {
	f := newRenderFixture(t)
	req := videoRequest("ast_1")
	req.Signature = "sig_secret_5b1e"
	h := newRenderHistory(t, "rnd_audit", "acc_1", req, t0).
		start(secretWorker).progress(30).retry().start(secretWorker).progress(60).fail("encode_failed")
	recs := f.store(h)
	// A completed one, for the blob key.
	f.store(newRenderHistory(t, "rnd_done", "acc_1", videoRequest("ast_1"), t0).start(secretWorker).complete())

	got, err := f.queries.RenderHistory(t.Context(), "acc_1", "rnd_audit")
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"render.requested", "render.started", "render.progressed", "render.retried",
		"render.started", "render.progressed", "render.failed"}
	if len(got) != len(wantTypes) {
		t.Fatalf("%d entries, want %d", len(got), len(wantTypes))
	}
	for i, e := range got {
		if e.Type != wantTypes[i] || e.Version != int64(i+1) || e.ID != recs[i].ID || !e.OccurredAt.Equal(recs[i].OccurredAt) {
			t.Errorf("entry %d: %s v%d %s at %s; want %s v%d %s at %s", i, e.Type, e.Version, e.ID, e.OccurredAt,
				wantTypes[i], i+1, recs[i].ID, recs[i].OccurredAt)
		}
	}
	wantData := []projections.HistoryData{
		projections.RenderRequestedData{AssetID: "ast_1",
			Output: projections.RenderOutputData{Format: "mp4", Resolution: "720p", AudioBitrate: 192},
			Plan: projections.RenderPlanData{Width: 1280, Height: 720, VideoBitrateBPS: 2_500_000, AudioBitrateBPS: 128_000,
				Segments: []projections.SegmentData{{Start: 1.5, End: 4}}, DurationSeconds: 2.5}},
		projections.RenderStartedData{Attempt: 1},
		projections.RenderProgressedData{Attempt: 1, Percent: 30, ETASeconds: 7, PositionSeconds: 0.75},
		projections.RenderRetriedData{Attempt: 2},
		projections.RenderStartedData{Attempt: 2},
		projections.RenderProgressedData{Attempt: 2, Percent: 60, ETASeconds: 4, PositionSeconds: 1.5},
		projections.RenderFailedData{Attempt: 2, Code: "encode_failed", Message: "the render failed: ffmpeg could not encode the source; a retry may succeed"},
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].Data, wantData[i]) {
			t.Errorf("entry %d data\n got %#v\nwant %#v", i, got[i].Data, wantData[i])
		}
	}

	done, err := f.queries.RenderHistory(t.Context(), "acc_1", "rnd_done")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := done[len(done)-1].Data.(projections.RenderCompletedData); !ok || c.SizeBytes != 912_345 || c.EncodeSeconds != 3.25 {
		t.Fatalf("completed entry %#v", done[len(done)-1].Data)
	}
	// What a client receives, serialised: none of the worker side's secrets.
	for name, entries := range map[string][]projections.HistoryEntry{"failed": got, "completed": done} {
		body, err := json.Marshal(entries)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{secretWorker, secretBlob, secretStderr, secretReason, "sig_", "worker", "blob_key",
			"lease", "signature", "/var/lib", "reason"} {
			if strings.Contains(string(body), secret) {
				t.Errorf("%s history leaks %q:\n%s", name, secret, body)
			}
		}
	}
}

// liveReadModels projects a varied log (assets, cuts, and renders
// completed, failed, retried, cancelled and pending) through the live
// projectors, and returns the rows of every read model.
func liveReadModels(t *testing.T, f *renderFixture) map[string][]string {
	var live []domain.Recorded
	for i := range 12 {
		asset, acc, at := fmt.Sprintf("ast_%02d", i), fmt.Sprintf("acc_%d", i%3), t0.Add(time.Duration(i)*time.Minute)
		live = append(live, f.append(asset, acc, at, pt.VideoAsset(t, asset, acc, at, pt.Ready)...)...)
		live = append(live, f.append("cut_"+asset, acc, at, pt.CutRequested(asset))...)
		h := newRenderHistory(t, "rnd_"+asset, acc, videoRequest(asset), at)
		switch i % 5 {
		case 0:
			h.start(secretWorker).progress(10, 20, 30, 40, 50, 60, 70, 80, 90).complete()
		case 1:
			h.start(secretWorker).progress(25).fail("encode_failed")
		case 2:
			h.start(secretWorker).progress(25, 50).retry().start("w2").progress(5)
		case 3:
			h.cancel()
		}
		recs := f.store(h)
		live = append(live, recs...)
	}
	f.project(live...) // assets and cuts; render records are passed over there
	for _, r := range live {
		if r.StreamType == domain.AggregateRender {
			f.handle(r)
		}
	}
	rows := map[string][]string{}
	for _, table := range readmodel.ReplayTables {
		rows[table] = pt.Rows(t, f.pool, table)
	}
	if len(rows["rm_renders"]) != 12 {
		t.Fatalf("%d live renders", len(rows["rm_renders"]))
	}
	return rows
}

func TestRebuild_reproduces_the_live_render_asset_and_cut_tables_exactly(t *testing.T) {
	f := newRenderFixture(t)
	before := liveReadModels(t, f)
	if _, err := readmodel.Rebuild(t.Context(), f.pool, f.codec, testenv.Logger(t), f.assets, f.cuts, f.renders); err != nil {
		t.Fatal(err)
	}
	for _, table := range readmodel.ReplayTables {
		if got := pt.Rows(t, f.pool, table); !reflect.DeepEqual(got, before[table]) {
			t.Errorf("rebuilt %s differ:\n got %v\nwant %v", table, got, before[table])
		}
	}
}

func TestReplayAll_builds_exactly_the_live_tables_in_a_schema_of_its_own(t *testing.T) {
	f := newRenderFixture(t)
	live := liveReadModels(t, f)
	// What a replay cannot read is passed over, as the live projectors pass
	// it over: an event of a newer build at the end of a stream, and a
	// stream the domain rejects (it opens with a cancel).
	if _, err := f.pool.Exec(t.Context(), `INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, account_id, occurred_at, data)
		SELECT gen_random_uuid(), 'rnd_ast_00', 'render', max(stream_version) + 1, 'render.rewound.v9', 'acc_0', now(), '{}'
		FROM events WHERE stream_id = 'rnd_ast_00'`); err != nil {
		t.Fatal(err)
	}
	f.append("rnd_orphan", "acc_0", t0, domain.RenderCancelled{})
	// Small batches, so that streams meet batch boundaries.
	defer readmodel.SetReplayBatchEvents(7)()

	rpool, err := readmodel.PrepareReplay(t.Context(), f.pool, "renderd_replay_test")
	if err != nil {
		t.Fatal(err)
	}
	defer rpool.Close()
	for run := range 2 {
		res, err := readmodel.ReplayAll(t.Context(), rpool, f.codec, testenv.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		var events int
		if err := f.pool.QueryRow(t.Context(), `SELECT count(*) FROM events`).Scan(&events); err != nil || res.Events != events {
			t.Errorf("run %d: read %d events of %d (%v)", run+1, res.Events, events, err)
		}
		for _, table := range readmodel.ReplayTables {
			if got := pt.Rows(t, rpool, table); !reflect.DeepEqual(got, live[table]) {
				t.Errorf("run %d: replayed %s differ:\n got %v\nwant %v", run+1, table, got, live[table])
			}
			if _, n, err := readmodel.Differences(t.Context(), f.pool, "renderd_replay_test", table, 10); err != nil || n != 0 {
				t.Errorf("run %d: Differences(%s) = %d, %v; want none", run+1, table, n, err)
			}
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := readmodel.ReplayAll(ctx, rpool, f.codec, testenv.Logger(t), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled replay: %v", err)
	}
}

func TestWaitFor_sees_render_rows(t *testing.T) {
	f := newRenderFixture(t)
	recs := f.store(newRenderHistory(t, "rnd_wait", "acc_1", videoRequest("ast_1"), t0).start(secretWorker).progress(10))
	f.handle(recs...)
	w := readmodel.NewWaiter(f.pool, testenv.Logger(t))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if ok, err := w.WaitFor(ctx, "rnd_wait", 3); !ok || err != nil {
		t.Fatalf("WaitFor = %v, %v; want the rm_versions view to cover renders", ok, err)
	}
}
