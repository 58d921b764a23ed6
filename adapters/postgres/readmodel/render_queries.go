package readmodel

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/renderd/renderd/adapters/postgres/pgread"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// Render returns one of the account's renders.
//
// Clients poll a render until it finishes, so Render keeps the views it read
// (renderCache) and, for one it has, asks Postgres only for the row's
// current tuple version (tupleChecker, one query for the GETs asking at
// once): the view is served when the row is unchanged
// (every write of a row, a projector's, a rebuild's or a swap's, makes a
// new tuple), and read again when not. A GET never sees an older state than
// the table holds. The view returned is shared: callers must not modify it.
func (q *Queries) Render(ctx context.Context, accountID, id string) (projections.RenderView, error) {
	if c, ok := q.renders.get(id); ok && c.view.AccountID == accountID {
		tuple, found, err := q.tuples.check(ctx, accountID, id)
		switch {
		case err != nil:
			return projections.RenderView{}, fmt.Errorf("render %s: %w", id, err)
		case !found:
			q.renders.drop(id)
			return projections.RenderView{}, fmt.Errorf("render %s: %w", id, projections.ErrNotFound)
		case tuple == c.tuple:
			return c.view, nil
		}
	}
	var tuple uint32
	rows, err := q.pool.Query(ctx, `SELECT xmin, `+renderColumns+` FROM rm_renders WHERE id = $1 AND account_id = $2 AND NOT deleted`, id, accountID)
	if err != nil {
		return projections.RenderView{}, fmt.Errorf("render %s: %w", id, pgread.LookupError(err))
	}
	v, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (projections.RenderView, error) {
		return scanRenderRow(row, &tuple)
	})
	if pgread.NoRow(err) {
		return projections.RenderView{}, fmt.Errorf("render %s: %w", id, projections.ErrNotFound)
	}
	if err != nil {
		return projections.RenderView{}, fmt.Errorf("render %s: %w", id, err)
	}
	q.renders.put(id, cachedRender{tuple: tuple, view: v})
	return v, nil
}

// ListRenders returns a page of the account's renders, newest first, and the
// cursor of the next page ("" after the last), like ListAssets. A state
// filter that is not a render state is a *domain.ValidationError for the
// field "state"; an asset filter naming an asset that is unknown or another
// account's is ErrNotFound (as for ListCuts). A cursor is bound to the
// filters it was returned for: reused with others, it is ErrBadCursor
// rather than a page of a different list.
func (q *Queries) ListRenders(ctx context.Context, accountID string, f projections.RenderFilter, page projections.Page) ([]projections.RenderView, string, error) {
	switch domain.RenderState(f.State) {
	case "", domain.RenderStatePending, domain.RenderStateRunning, domain.RenderStateCompleted,
		domain.RenderStateFailed, domain.RenderStateCancelled:
	default:
		return nil, "", fmt.Errorf("list renders: %w", &domain.ValidationError{Field: "state",
			Message: fmt.Sprintf("%q is not a render state: use pending, running, completed, failed or cancelled", f.State)})
	}
	inner, err := unwrapCursor(f, page.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("list renders: %w", err)
	}
	page.Cursor = inner
	base, args := `SELECT `+renderColumns+` FROM rm_renders WHERE account_id = $1 AND NOT deleted`, []any{accountID}
	if f.AssetID != "" {
		var exists bool
		err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM rm_assets WHERE id = $1 AND account_id = $2 AND NOT deleted)`, f.AssetID, accountID).Scan(&exists)
		if err != nil {
			return nil, "", fmt.Errorf("list renders of %s: %w", f.AssetID, pgread.LookupError(err))
		}
		if !exists {
			return nil, "", fmt.Errorf("list renders of %s: asset: %w", f.AssetID, projections.ErrNotFound)
		}
		args = append(args, f.AssetID)
		base += fmt.Sprintf(` AND asset_id = $%d`, len(args))
	}
	if f.State != "" {
		args = append(args, f.State)
		base += fmt.Sprintf(` AND state = $%d`, len(args))
	}
	list, next, err := pgread.List(ctx, q.pool, page, scanRender, base, args,
		func(v projections.RenderView) projections.Cursor {
			return projections.Cursor{CreatedAt: v.CreatedAt, ID: v.ID}
		})
	if err != nil {
		return nil, "", fmt.Errorf("list renders: %w", err)
	}
	return list, wrapCursor(f, next), nil
}

// wrapCursor binds a keyset cursor to the filters (BindCursor).
func wrapCursor(f projections.RenderFilter, keyset string) string {
	return projections.BindCursor("asset_id="+f.AssetID+"\x00state="+f.State, keyset)
}

func unwrapCursor(f projections.RenderFilter, c string) (string, error) {
	return projections.UnbindCursor("asset_id="+f.AssetID+"\x00state="+f.State, c, "keep asset_id and state")
}
