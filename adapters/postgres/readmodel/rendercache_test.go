package readmodel

import (
	"fmt"
	"testing"

	"github.com/renderd/renderd/projections"
)

func TestRenderCache_stays_within_its_bound(t *testing.T) {
	c := newRenderCache(3)
	for i := range 10 {
		id := fmt.Sprint("rnd_", i)
		c.put(id, cachedRender{tuple: uint32(i), view: projections.RenderView{ID: id}})
		if got, ok := c.get(id); !ok || got.tuple != uint32(i) {
			t.Fatalf("%s just put: %+v, %v", id, got, ok)
		}
		if len(c.views) > 3 {
			t.Fatalf("%d views kept, bound 3", len(c.views))
		}
	}
	c.put("rnd_9", cachedRender{tuple: 99}) // a newer read of a view it has
	if got, _ := c.get("rnd_9"); got.tuple != 99 || len(c.views) != 3 {
		t.Fatalf("replaced view: %+v, %d kept", got, len(c.views))
	}
	c.drop("rnd_9")
	if _, ok := c.get("rnd_9"); ok {
		t.Fatal("a dropped view is still served")
	}
}
