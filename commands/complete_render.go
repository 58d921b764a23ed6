package commands

import (
	"context"

	"github.com/renderd/renderd/domain"
)

// CompleteRender records the verified, committed deliverable of the
// running attempt.
type CompleteRender struct {
	RenderID string
	Result   domain.RenderCompleted
}

// CompleteRenderHandler handles CompleteRender.
type CompleteRenderHandler struct{ d Deps }

// NewCompleteRenderHandler checks its dependencies once.
func NewCompleteRenderHandler(d Deps) (*CompleteRenderHandler, error) {
	return &CompleteRenderHandler{d: d}, d.Check()
}

// Handle completes; a cancelled render or a stale attempt is refused (the
// caller then deletes the output).
func (h *CompleteRenderHandler) Handle(ctx context.Context, c Caller, cmd CompleteRender) (Written, error) {
	return updateRender(ctx, h.d, c, cmd.RenderID, func(r *domain.Render, _ Tx) error {
		return r.Complete(cmd.Result, h.d.Now())
	})
}
