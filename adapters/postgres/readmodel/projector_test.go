package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/postgres/readmodel"
	pt "github.com/renderd/renderd/adapters/postgres/readmodel/readmodeltest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/projections"
)

type fixture struct {
	t       *testing.T
	pool    *pgxpool.Pool
	store   *postgres.EventStore
	codec   *eventschema.Codec
	assets  *projections.AssetProjector
	cuts    *projections.CutProjector
	queries *readmodel.Queries
}

func newFixture(t *testing.T) *fixture {
	pool := testenv.Postgres(t)
	codec := eventschema.NewCodec()
	store := postgres.NewEventStore(pool, codec, nil)
	log := testenv.Logger(t)
	rows := readmodel.NewStore(pool)
	return &fixture{t: t, pool: pool, store: store, codec: codec,
		assets:  projections.NewAssetProjector(rows, store, log),
		cuts:    projections.NewCutProjector(rows, store, log),
		queries: readmodel.NewQueries(pool)}
}

// append writes events to stream as account at time at.
func (f *fixture) append(stream, account string, at time.Time, events ...domain.Event) []domain.Recorded {
	f.t.Helper()
	recs, err := pt.Append(f.t.Context(), f.store, stream, account, at, events...)
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

// project hands recs to the projector of their stream type, in order.
func (f *fixture) project(recs ...domain.Recorded) {
	f.t.Helper()
	for _, r := range recs {
		var err error
		switch r.StreamType {
		case domain.AggregateAsset:
			err = f.assets.Handle(f.t.Context(), r)
		case domain.AggregateCut:
			err = f.cuts.Handle(f.t.Context(), r)
		}
		if err != nil {
			f.t.Fatalf("project %s v%d: %v", r.StreamID, r.StreamVersion, err)
		}
	}
}

func (f *fixture) asset(account, id string) projections.AssetView {
	f.t.Helper()
	v, err := f.queries.Asset(f.t.Context(), account, id)
	if err != nil {
		f.t.Fatalf("asset %s: %v", id, err)
	}
	return v
}

func (f *fixture) cut(account, id string) projections.CutView {
	f.t.Helper()
	v, err := f.queries.Cut(f.t.Context(), account, id)
	if err != nil {
		f.t.Fatalf("cut %s: %v", id, err)
	}
	return v
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

func TestAssetProjection_the_row_follows_the_aggregate_through_its_lifecycle(t *testing.T) {
	f := newFixture(t)
	const id = "ast_life"
	a, err := domain.CreateAsset(id, "acc_1", domain.AssetKindVideo, "holiday.mov", t0)
	if err != nil {
		t.Fatal(err)
	}
	first := f.append(id, "acc_1", t0, a.Changes()...)
	f.project(first...)
	if v := f.asset("acc_1", id); v.State != domain.AssetStateUploading || v.Name != "holiday.mov" || v.Kind != domain.AssetKindVideo {
		t.Fatalf("created: %+v", v)
	}
	mark := len(a.Changes())
	next := func(at time.Time, wantState domain.AssetState, wantCuttable bool, act func() error) {
		t.Helper()
		if err := act(); err != nil {
			t.Fatal(err)
		}
		recs := f.append(id, "acc_1", at, a.Changes()[mark:]...)
		mark = len(a.Changes())
		f.project(recs...)
		v := f.asset("acc_1", id)
		last := recs[len(recs)-1].StreamVersion
		if v.State != wantState || v.Cuttable != wantCuttable || v.Version != last {
			t.Fatalf("after v%d: state %s cuttable %v version %d; want %s %v", last, v.State, v.Cuttable, v.Version, wantState, wantCuttable)
		}
	}
	at := t0
	tick := func() time.Time { at = at.Add(time.Second); return at }
	next(tick(), domain.AssetStateUploading, false, func() error { return a.UploadAudio("assets/ast_life/audio", 200_000, at) })
	next(tick(), domain.AssetStateUploading, false, func() error { return a.RecordProbe(domain.AssetPartAudio, pt.Audio(), domain.SourceLimits{}, at) })
	next(tick(), domain.AssetStateUploading, true, func() error { return a.Charge(13, "led_1", at) })
	next(tick(), domain.AssetStateProcessing, true, func() error { return a.UploadSource("assets/ast_life/source", 4_200_000, at) })
	next(tick(), domain.AssetStateReady, true, func() error { return a.RecordProbe(domain.AssetPartSource, pt.Video(), domain.SourceLimits{}, at) })

	got := f.asset("acc_1", id)
	want := projections.AssetView{
		ID: id, AccountID: "acc_1", Kind: domain.AssetKindVideo, Name: "holiday.mov",
		State: domain.AssetStateReady, Cuttable: true,
		Source: ptr(pt.Video()), Audio: ptr(pt.Audio()),
		ChargedSeconds: 13, CreatedAt: t0, UpdatedAt: at, Version: a.Version(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("row\n got %+v\nwant %+v", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAssetProjection_a_failed_asset_shows_its_failure(t *testing.T) {
	f := newFixture(t)
	f.project(f.append("ast_bad", "acc_1", t0, pt.FailedAsset(t, "ast_bad", "acc_1", t0)...)...)
	v := f.asset("acc_1", "ast_bad")
	if v.State != domain.AssetStateFailed || v.Cuttable || v.Source != nil ||
		v.Failure == nil || *v.Failure != (domain.Failure{Code: domain.FailureSourceUnreadable, Message: "ffprobe found no streams"}) {
		t.Fatalf("row %+v (failure %+v)", v, v.Failure)
	}
}

func TestCutProjection_an_explicit_plan_shows_requested_then_kept_segments(t *testing.T) {
	f := newFixture(t)
	req := pt.CutRequested("ast_1")
	requested := f.append("cut_1", "acc_1", t0, req)
	f.project(requested...)
	v := f.cut("acc_1", "cut_1")
	wantPlan := []domain.Segment{{Start: 1500 * time.Millisecond, End: 4 * time.Second}, {Start: 6 * time.Second, End: 9 * time.Second}}
	if v.State != domain.CutStateProcessing || v.AssetID != "ast_1" || !reflect.DeepEqual(v.Requested, wantPlan) ||
		v.Auto != nil || v.Segments != nil || v.Duration != 0 || v.Version != 1 {
		t.Fatalf("requested: %+v", v)
	}
	c, err := domain.RebuildCut(requested)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Complete(12500*time.Millisecond, nil, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.project(f.append("cut_1", "acc_1", t0.Add(time.Minute), c.Changes()...)...)
	v = f.cut("acc_1", "cut_1")
	if v.State != domain.CutStateCompleted || !reflect.DeepEqual(v.Segments, wantPlan) || v.Duration != 5500*time.Millisecond ||
		!v.CreatedAt.Equal(t0) || !v.UpdatedAt.Equal(t0.Add(time.Minute)) || v.Version != 2 {
		t.Fatalf("completed: %+v", v)
	}
}

func TestCutProjection_an_auto_plan_has_no_requested_segments_and_a_failure_shows(t *testing.T) {
	f := newFixture(t)
	auto := &domain.SilenceRemoval{MinSilence: 800 * time.Millisecond, ThresholdDB: -35}
	f.project(f.append("cut_auto", "acc_1", t0, domain.CutRequested{AssetID: "ast_1", Auto: auto},
		domain.CutFailed{Code: domain.FailureNothingKept, Message: "silence detection kept nothing of the asset"})...)
	v := f.cut("acc_1", "cut_auto")
	if v.State != domain.CutStateFailed || v.Requested != nil || v.Auto == nil ||
		*v.Auto != (domain.SilenceRemoval{MinSilence: 800 * time.Millisecond, ThresholdDB: -35}) ||
		v.Failure == nil || v.Failure.Code != domain.FailureNothingKept {
		t.Fatalf("row %+v", v)
	}
}

func TestProjector_a_redelivered_or_older_event_changes_nothing(t *testing.T) {
	f := newFixture(t)
	recs := f.append("ast_1", "acc_1", t0, pt.VideoAsset(t, "ast_1", "acc_1", t0, pt.Probed)...)
	f.project(recs...)
	before := pt.Rows(t, f.pool, "rm_assets")

	// Redeliver everything, newest first and then in order, as a consumer
	// group rebalance or a renamed group would.
	for i := len(recs) - 1; i >= 0; i-- {
		f.project(recs[i])
	}
	f.project(recs...)
	if after := pt.Rows(t, f.pool, "rm_assets"); !reflect.DeepEqual(before, after) {
		t.Fatalf("redelivery changed the row:\n%v\n%v", before, after)
	}
	if v := f.asset("acc_1", "ast_1"); v.Version != 3 {
		t.Fatalf("version %d, want 3", v.Version)
	}
}

func TestProjector_a_gap_is_filled_from_the_event_store(t *testing.T) {
	f := newFixture(t)
	recs := f.append("ast_gap", "acc_1", t0, pt.VideoAsset(t, "ast_gap", "acc_1", t0, pt.Probed)...)
	f.project(recs[0])
	if v := f.asset("acc_1", "ast_gap"); v.Version != 1 || v.State != domain.AssetStateUploading {
		t.Fatalf("v1: %+v", v)
	}
	// v2 (source uploaded) was lost on the way; v3 (probed) arrives.
	f.project(recs[2])
	v := f.asset("acc_1", "ast_gap")
	if v.Version != 3 || v.State != domain.AssetStateProcessing || v.Source == nil || v.Source.Width != 1920 {
		t.Fatalf("after the gap: %+v", v)
	}
	// The lost v2 turning up late changes nothing.
	before := pt.Rows(t, f.pool, "rm_assets")
	f.project(recs[1])
	if after := pt.Rows(t, f.pool, "rm_assets"); !reflect.DeepEqual(before, after) {
		t.Fatal("a late older event changed the row")
	}
}

func TestProjector_a_row_reflects_exactly_the_projected_version_even_when_the_store_is_ahead(t *testing.T) {
	f := newFixture(t)
	recs := f.append("ast_ahead", "acc_1", t0, pt.VideoAsset(t, "ast_ahead", "acc_1", t0, pt.Ready)...)
	f.project(recs[1])
	if v := f.asset("acc_1", "ast_ahead"); v.Version != 2 || v.State != domain.AssetStateProcessing {
		t.Fatalf("row %+v, want v2 processing", v)
	}
}

func TestProjector_an_event_the_store_does_not_hold_is_unprojectable(t *testing.T) {
	f := newFixture(t)
	recs := f.append("ast_1", "acc_1", t0, pt.VideoAsset(t, "ast_1", "acc_1", t0, pt.Created)...)
	cases := map[string]domain.Recorded{
		"a version beyond the stream": {ID: "0190c1d2-0000-7000-8000-000000000000", StreamID: "ast_1", StreamType: domain.AggregateAsset, StreamVersion: 4},
		"an unknown stream":           {ID: "0190c1d2-0000-7000-8000-000000000001", StreamID: "ast_nope", StreamType: domain.AggregateAsset, StreamVersion: 1},
		"another event at v1":         {ID: "0190c1d2-0000-7000-8000-000000000002", StreamID: "ast_1", StreamType: domain.AggregateAsset, StreamVersion: 1},
		"a cut event":                 {ID: recs[0].ID, StreamID: "ast_1", StreamType: domain.AggregateCut, StreamVersion: 1},
	}
	for name, rec := range cases {
		if err := f.assets.Handle(t.Context(), rec); !errors.Is(err, projections.ErrUnprojectable) {
			t.Errorf("%s: err = %v, want ErrUnprojectable", name, err)
		}
	}
	if rows := pt.Rows(t, f.pool, "rm_assets"); len(rows) != 0 {
		t.Fatalf("rows written: %v", rows)
	}
}

// As many handlers as the pool has connections, all at once (every partition
// redelivered after an outage): none may hold a connection while it waits
// for another, or they wait on each other until their deadlines.
func TestProjector_handlers_filling_the_pool_do_not_wait_on_each_other(t *testing.T) {
	f := newFixture(t)
	conf := f.pool.Config()
	conf.MaxConns = 2
	small, err := pgxpool.NewWithConfig(t.Context(), conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(small.Close)
	store := postgres.NewEventStore(small, f.codec, nil)
	assets := projections.NewAssetProjector(readmodel.NewStore(small), store, testenv.Logger(t))

	const streams = 8
	var recs []domain.Recorded
	for i := range streams {
		id := fmt.Sprintf("ast_%d", i)
		recs = append(recs, f.append(id, "acc_1", t0, pt.VideoAsset(t, id, "acc_1", t0, pt.Probed)...)...)
	}
	for round := range 5 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		errs := make(chan error, len(recs))
		var wg sync.WaitGroup
		for _, r := range recs {
			wg.Go(func() { errs <- assets.Handle(ctx, r) })
		}
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	for i := range streams {
		if v := f.asset("acc_1", fmt.Sprintf("ast_%d", i)); v.Version != 3 {
			t.Fatalf("ast_%d at version %d, want 3", i, v.Version)
		}
	}
}
