package commands

import (
	"context"
	"time"

	"github.com/renderd/renderd/domain"
)

// StartRender claims a pending render's next attempt for a worker.
type StartRender struct {
	RenderID   string
	WorkerID   string
	LeaseUntil time.Time
}

// StartRenderHandler handles StartRender.
type StartRenderHandler struct{ d Deps }

// NewStartRenderHandler checks its dependencies once.
func NewStartRenderHandler(d Deps) (*StartRenderHandler, error) {
	return &StartRenderHandler{d: d}, d.Check()
}

// Handle claims the attempt; only one claim can win (the render is no
// longer pending for the second).
func (h *StartRenderHandler) Handle(ctx context.Context, c Caller, cmd StartRender) (attempt int, w Written, err error) {
	w, err = updateRender(ctx, h.d, c, cmd.RenderID, func(r *domain.Render, _ Tx) error {
		attempt, err = r.Start(cmd.WorkerID, cmd.LeaseUntil, h.d.Now())
		return err
	})
	return attempt, w, err
}
