package webhooks

import (
	"sync"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// maxFoldedViews bounds the renders whose views the delivery projection
// keeps folded: one per render in flight in this process's partitions (a
// few hundred bytes each).
const maxFoldedViews = 20_000

// foldedViews is the view of each render seen from its stream's start,
// folded one event at a time (the Kafka consumer hands one stream's events
// in order). A render that ends leaves it; one that never ends is dropped
// at the bound, like any view it lost: its end is then built from the
// event store.
type foldedViews struct {
	mu    sync.Mutex
	max   int
	views map[string]projections.RenderView
}

func newFoldedViews(limit int) *foldedViews {
	return &foldedViews{max: limit, views: map[string]projections.RenderView{}}
}

// fold folds rec onto its render's view and returns the view as of rec, or
// false when it holds no view to fold onto (a gap, a restart) or rec does
// not fold. A repeat of an event already folded changes nothing.
func (f *foldedViews) fold(rec domain.Recorded) (projections.RenderView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, held := f.views[rec.StreamID]
	if held && rec.StreamVersion <= cur.Version {
		return projections.RenderView{}, false // a redelivery: the view stays
	}
	next, ok := projections.FoldRenderView(cur, rec)
	switch {
	case !ok:
		delete(f.views, rec.StreamID)
		return projections.RenderView{}, false
	case ended(rec.Event):
		delete(f.views, rec.StreamID)
	default:
		if !held && len(f.views) >= f.max {
			for id := range f.views { // any one
				delete(f.views, id)
				break
			}
		}
		f.views[rec.StreamID] = next
	}
	return next, true
}

// ended: after rec the render has no delivery to make.
func ended(e domain.Event) bool {
	switch e.(type) {
	case domain.RenderCompleted, domain.RenderFailed, domain.RenderCancelled:
		return true
	}
	return false
}

// size is how many views f holds.
func (f *foldedViews) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.views)
}
