package readmodel

import (
	"sync"

	"github.com/renderd/renderd/projections"
)

// renderCacheSize bounds the render views Queries keeps: about 1 KiB each.
const renderCacheSize = 10_000

// renderCache keeps the render views Queries.Render read, each with the
// tuple version (xmin) of the row it was read from. When full, it forgets
// an arbitrary view to make room.
type renderCache struct {
	mu    sync.Mutex
	max   int
	views map[string]cachedRender // by render id
}

type cachedRender struct {
	tuple uint32
	view  projections.RenderView
}

func newRenderCache(max int) *renderCache {
	return &renderCache{max: max, views: make(map[string]cachedRender)}
}

func (c *renderCache) get(id string) (cachedRender, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.views[id]
	return v, ok
}

func (c *renderCache) put(id string, v cachedRender) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.views[id]; !ok && len(c.views) >= c.max {
		for old := range c.views { // Go's map order: an arbitrary one
			delete(c.views, old)
			break
		}
	}
	c.views[id] = v
}

func (c *renderCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.views, id)
}
