package commands

import (
	"context"

	"github.com/renderd/renderd/domain"
)

// updateRender loads a render in its own transaction, lets decide change
// it, and appends what it recorded. The render commands of the encoder
// (start, progress, complete, fail, retry) are thin wrappers around it;
// each names its rule in domain.Render. A change of state or attempt moves
// the render in the RenderQueue, in the same transaction.
//
// name is the command's span (Deps.transact); locks are further streams
// the transaction locks with the render's.
func updateRender(ctx context.Context, d Deps, name string, c Caller, id string, decide func(r *domain.Render, tx Tx) error, locks ...string) (Written, error) {
	var w Written
	err := d.transact(ctx, name, append([]string{id}, locks...), func(ctx context.Context, tx Tx) error {
		r, err := loadRender(ctx, tx, c, id)
		if err != nil {
			return err
		}
		loaded, state, attempt := r.Version(), r.State(), r.Attempt()
		if err := decide(r, tx); err != nil {
			return err
		}
		meta := d.meta(ctx, c, r.AccountID())
		w, err = appendChanges(ctx, tx, r.ID(), loaded, meta, r.Changes())
		if err != nil || (r.State() == state && r.Attempt() == attempt) {
			return err // progress leaves the queue's row as it is
		}
		return tx.SetRenderJob(ctx, renderJob(r, d.Now(), meta))
	})
	return w, err
}
