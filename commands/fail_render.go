package commands

import (
	"context"

	"github.com/renderd/renderd/domain"
)

// FailRender records the running attempt's terminal failure.
type FailRender struct {
	RenderID  string
	Attempt   int
	Code      string
	Message   string
	Retryable bool
}

// FailRenderHandler handles FailRender.
type FailRenderHandler struct{ d Deps }

// NewFailRenderHandler checks its dependencies once.
func NewFailRenderHandler(d Deps) (*FailRenderHandler, error) {
	return &FailRenderHandler{d: d}, d.Check()
}

// Handle fails the render and releases its signature, so a retry by the
// client replaces it.
func (h *FailRenderHandler) Handle(ctx context.Context, c Caller, cmd FailRender) (Written, error) {
	return updateRender(ctx, h.d, "command FailRender", c, cmd.RenderID, func(r *domain.Render, tx Tx) error {
		if err := r.Fail(cmd.Attempt, cmd.Code, cmd.Message, cmd.Retryable, h.d.Now()); err != nil {
			return err
		}
		return tx.ReleaseSignature(ctx, r.ID())
	})
}
