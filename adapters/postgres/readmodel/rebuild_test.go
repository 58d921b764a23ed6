package readmodel_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/postgres/readmodel"
	pt "github.com/renderd/renderd/adapters/postgres/readmodel/readmodeltest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
)

func TestRebuild_from_empty_reproduces_the_live_tables_exactly(t *testing.T) {
	f := newFixture(t)
	var recs []domain.Recorded
	for i := range 30 {
		id, acc, at := fmt.Sprintf("ast_%02d", i), fmt.Sprintf("acc_%d", i%3), t0.Add(time.Duration(i)*time.Second)
		var evs []domain.Event
		if i%7 == 0 {
			evs = pt.FailedAsset(t, id, acc, at)
		} else {
			evs = pt.VideoAsset(t, id, acc, at, i%4)
		}
		// One event per transaction, as commands write them.
		for _, e := range evs {
			recs = append(recs, f.append(id, acc, at, e)...)
			at = at.Add(time.Millisecond)
		}
		cut := "cut_" + id
		recs = append(recs, f.append(cut, acc, at, pt.CutRequested(id))...)
		if i%2 == 0 {
			recs = append(recs, f.append(cut, acc, at.Add(time.Second), domain.CutCompleted{
				Segments: []domain.Segment{{Start: time.Second, End: 3 * time.Second}}, Duration: 2 * time.Second})...)
		}
	}
	// Other aggregates' events share the log and are passed over.
	recs = append(recs, f.append("rnd_1", "acc_0", t0, domain.RenderCancelled{})...)

	f.project(recs...)
	liveAssets, liveCuts := pt.Rows(t, f.pool, "rm_assets"), pt.Rows(t, f.pool, "rm_cuts")
	if len(liveAssets) != 30 || len(liveCuts) != 30 {
		t.Fatalf("live: %d assets, %d cuts", len(liveAssets), len(liveCuts))
	}

	n, err := readmodel.Rebuild(t.Context(), f.pool, f.codec, testenv.Logger(t), f.assets, f.cuts)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(recs) - 1; n != want {
		t.Errorf("replayed %d events, want %d", n, want)
	}
	if got := pt.Rows(t, f.pool, "rm_assets"); !reflect.DeepEqual(got, liveAssets) {
		t.Errorf("rebuilt assets differ:\n got %v\nwant %v", got, liveAssets)
	}
	if got := pt.Rows(t, f.pool, "rm_cuts"); !reflect.DeepEqual(got, liveCuts) {
		t.Errorf("rebuilt cuts differ:\n got %v\nwant %v", got, liveCuts)
	}
}

func TestRebuild_of_an_empty_log_leaves_empty_tables(t *testing.T) {
	f := newFixture(t)
	n, err := readmodel.Rebuild(t.Context(), f.pool, f.codec, testenv.Logger(t), f.assets, f.cuts)
	if err != nil || n != 0 {
		t.Fatalf("Rebuild = %d, %v", n, err)
	}
}

// 600 events: more than one rebuild batch, with a stream's events split
// across the boundary.
func TestRebuild_spanning_several_batches_reproduces_the_live_tables(t *testing.T) {
	f := newFixture(t)
	for i := range 200 {
		id := fmt.Sprintf("ast_%03d", i)
		f.project(f.append(id, "acc_1", t0, pt.VideoAsset(t, id, "acc_1", t0.Add(time.Duration(i)*time.Second), pt.Probed)...)...)
	}
	live := pt.Rows(t, f.pool, "rm_assets")
	n, err := readmodel.Rebuild(t.Context(), f.pool, f.codec, testenv.Logger(t), f.assets, f.cuts)
	if err != nil || n != 600 {
		t.Fatalf("Rebuild = %d, %v; want 600 events", n, err)
	}
	if got := pt.Rows(t, f.pool, "rm_assets"); !reflect.DeepEqual(got, live) {
		t.Fatal("rebuilt assets differ from the live ones")
	}
}
