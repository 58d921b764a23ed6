package commands

import (
	"context"

	"github.com/renderd/renderd/domain"
)

// RetryRender abandons the running attempt (lost lease, graceful hand-back):
// the render is pending again for its next attempt.
type RetryRender struct {
	RenderID string
	Attempt  int
	Reason   string
}

// RetryRenderHandler handles RetryRender.
type RetryRenderHandler struct{ d Deps }

// NewRetryRenderHandler checks its dependencies once.
func NewRetryRenderHandler(d Deps) (*RetryRenderHandler, error) {
	return &RetryRenderHandler{d: d}, d.Check()
}

// Handle re-queues the render; a stale attempt is refused.
func (h *RetryRenderHandler) Handle(ctx context.Context, c Caller, cmd RetryRender) (Written, error) {
	return updateRender(ctx, h.d, "command RetryRender", c, cmd.RenderID, func(r *domain.Render, _ Tx) error {
		return r.Retry(cmd.Attempt, cmd.Reason, h.d.Now())
	})
}
