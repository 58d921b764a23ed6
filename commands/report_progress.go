package commands

import (
	"context"
	"time"

	"github.com/renderd/renderd/domain"
)

// ReportProgress records the running attempt's progress.
type ReportProgress struct {
	RenderID string
	Attempt  int
	Percent  int
	ETA      time.Duration
	Position time.Duration
}

// ReportProgressHandler handles ReportProgress.
type ReportProgressHandler struct{ d Deps }

// NewReportProgressHandler checks its dependencies once.
func NewReportProgressHandler(d Deps) (*ReportProgressHandler, error) {
	return &ReportProgressHandler{d: d}, d.Check()
}

// Handle records progress; a stale attempt is refused.
func (h *ReportProgressHandler) Handle(ctx context.Context, c Caller, cmd ReportProgress) (Written, error) {
	return updateRender(ctx, h.d, "command ReportProgress", c, cmd.RenderID, func(r *domain.Render, _ Tx) error {
		return r.ReportProgress(cmd.Attempt, cmd.Percent, cmd.ETA, cmd.Position, h.d.Now())
	})
}
