package commands

import (
	"context"

	"github.com/renderd/renderd/domain"
)

// LoseRenderLease abandons a running attempt whose worker stopped renewing
// its lease (killed, machine gone). The encoders' reaper issues it.
type LoseRenderLease struct {
	RenderID string
	Attempt  int
}

// LoseRenderLeaseHandler handles LoseRenderLease.
type LoseRenderLeaseHandler struct{ d Deps }

// NewLoseRenderLeaseHandler checks its dependencies once.
func NewLoseRenderLeaseHandler(d Deps) (*LoseRenderLeaseHandler, error) {
	return &LoseRenderLeaseHandler{d: d}, d.Check()
}

// Handle re-queues the render, or fails it as encoder_crashed after too many
// lost leases (domain.Render.LoseLease). The lease is checked again under
// the row's lock: a renewal that landed after the reaper looked wins, and
// the command is refused with lease_held.
func (h *LoseRenderLeaseHandler) Handle(ctx context.Context, c Caller, cmd LoseRenderLease) (failed bool, w Written, err error) {
	w, err = updateRender(ctx, h.d, "command LoseRenderLease", c, cmd.RenderID, func(r *domain.Render, tx Tx) error {
		job, ok, err := tx.RenderJob(ctx, cmd.RenderID)
		if err != nil {
			return err
		}
		if ok && job.State == domain.RenderStateRunning && job.Attempt == cmd.Attempt && h.d.Now().Before(job.LeaseUntil) {
			return domain.Conflict("lease_held", "attempt %d renewed its lease until %s", cmd.Attempt, job.LeaseUntil.Format("15:04:05.000"))
		}
		if failed, err = r.LoseLease(cmd.Attempt, h.d.Now()); err != nil || !failed {
			return err
		}
		return tx.ReleaseSignature(ctx, r.ID())
	})
	return failed, w, err
}
