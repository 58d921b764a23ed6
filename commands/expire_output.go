package commands

import (
	"context"
	"time"

	"github.com/renderd/renderd/domain"
)

// ExpireOutput removes the output of a render that completed before
// CompletedBefore: now less the retention period (RENDERD_OUTPUT_RETENTION).
type ExpireOutput struct {
	RenderID        string
	CompletedBefore time.Time
}

// ExpireOutputHandler handles ExpireOutput.
type ExpireOutputHandler struct{ d Deps }

// NewExpireOutputHandler checks its dependencies once.
func NewExpireOutputHandler(d Deps) (*ExpireOutputHandler, error) {
	return &ExpireOutputHandler{d: d}, d.Check()
}

// Handle records render.output_expired and, in the same transaction,
// releases the render's signature (the next request with it renders
// again, replacing this one), gives the account its storage back and
// queues the output's removal from the blob store. A render with no output
// to expire changes nothing, so several encoders may expire at once: the
// render's stream lock and expected version let one of them record it.
func (h *ExpireOutputHandler) Handle(ctx context.Context, c Caller, cmd ExpireOutput) (Written, error) {
	return updateRender(ctx, h.d, "command ExpireOutput", c, cmd.RenderID, func(r *domain.Render, tx Tx) error {
		if err := r.ExpireOutput(cmd.CompletedBefore, h.d.Now()); err != nil || len(r.Changes()) == 0 {
			return err
		}
		res := r.Result()
		if err := tx.ReleaseSignature(ctx, r.ID()); err != nil {
			return err
		}
		if err := tx.AddStorage(ctx, r.AccountID(), -res.SizeBytes); err != nil {
			return err
		}
		return tx.QueueBlobRemovals(ctx, r.AccountID(), res.BlobKey)
	})
}
