package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
)

// StartRender claims a pending render's next attempt for a worker.
type StartRender struct {
	RenderID string
	// AccountID is the render's account, as the queue row names it; a
	// claim that counts the account's running renders locks it up front.
	// Empty: the handler reads it from the render first.
	AccountID  string
	WorkerID   string
	LeaseUntil time.Time
}

// StartRenderHandler handles StartRender.
type StartRenderHandler struct {
	d          Deps
	maxRunning int
}

// NewStartRenderHandler checks its dependencies once. maxRunning is how
// many renders of one account may run at once (0: no limit); a claim
// beyond it is refused (account_running_limit) and the render waits in the
// queue.
func NewStartRenderHandler(d Deps, maxRunning int) (*StartRenderHandler, error) {
	if maxRunning < 0 {
		return nil, errors.New("start render: maxRunning must not be negative")
	}
	return &StartRenderHandler{d: d, maxRunning: maxRunning}, d.Check()
}

// Handle claims the attempt; only one claim can win (the render is no
// longer pending for the second), and with a limit on running renders the
// account's lock makes the count and the claim one step.
func (h *StartRenderHandler) Handle(ctx context.Context, c Caller, cmd StartRender) (attempt int, w Written, err error) {
	decide := func(r *domain.Render, _ Tx) error {
		attempt, err = r.Start(cmd.WorkerID, cmd.LeaseUntil, h.d.Now())
		return err
	}
	if h.maxRunning == 0 {
		w, err = updateRender(ctx, h.d, "command StartRender", c, cmd.RenderID, decide)
		return attempt, w, err
	}
	account := cmd.AccountID
	if account == "" {
		r, err := loadRender(ctx, h.d.Store, c, cmd.RenderID)
		if err != nil {
			return 0, Written{}, err
		}
		account = r.AccountID()
	}
	w, err = updateRender(ctx, h.d, "command StartRender", c, cmd.RenderID, func(r *domain.Render, tx Tx) error {
		if r.AccountID() != account {
			return fmt.Errorf("start render %s: it belongs to %s, not %s", r.ID(), r.AccountID(), account)
		}
		if r.State() == domain.RenderStatePending {
			running, err := tx.RunningRenders(ctx, account)
			if err != nil {
				return err
			}
			if running >= h.maxRunning {
				return domain.Conflict("account_running_limit", "the account runs %d renders, its limit", running)
			}
		}
		return decide(r, tx)
	}, RunningStream(account))
	return attempt, w, err
}
