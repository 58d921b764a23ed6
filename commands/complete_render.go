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

// Handle completes, and counts the output against the account's storage;
// a cancelled render or a stale attempt is refused (the caller then deletes
// the output). Repeating a completion that went through changes nothing
// and succeeds (domain.Render.Complete), so a worker that lost the answer
// can ask again.
func (h *CompleteRenderHandler) Handle(ctx context.Context, c Caller, cmd CompleteRender) (Written, error) {
	return updateRender(ctx, h.d, "command CompleteRender", c, cmd.RenderID, func(r *domain.Render, tx Tx) error {
		if err := r.Complete(cmd.Result, h.d.Now()); err != nil || len(r.Changes()) == 0 {
			return err
		}
		return tx.AddStorage(ctx, r.AccountID(), cmd.Result.SizeBytes)
	})
}
