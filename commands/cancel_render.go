package commands

import (
	"context"

	"github.com/renderd/renderd/domain"
)

// CancelRender stops a pending or running render; the encoder running it
// learns of the cancel itself.
type CancelRender struct {
	RenderID string
}

// CancelRenderHandler handles CancelRender.
type CancelRenderHandler struct{ d Deps }

// NewCancelRenderHandler checks its dependencies once.
func NewCancelRenderHandler(d Deps) (*CancelRenderHandler, error) {
	return &CancelRenderHandler{d: d}, d.Check()
}

// Handle cancels. A cancelled render releases its signature, so the next
// request with it makes a new render (which names this one as replaced).
func (h *CancelRenderHandler) Handle(ctx context.Context, c Caller, cmd CancelRender) (Written, error) {
	return updateRender(ctx, h.d, "command CancelRender", c, cmd.RenderID, func(r *domain.Render, tx Tx) error {
		if err := r.Cancel(h.d.Now()); err != nil || len(r.Changes()) == 0 {
			return err // cancelled already: nothing to release
		}
		return tx.ReleaseSignature(ctx, r.ID())
	})
}
