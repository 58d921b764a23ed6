package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/renderd/renderd/domain"
)

// RenderFilter narrows a list of renders; empty fields do not filter.
type RenderFilter struct {
	AssetID string
	State   string // pending, running, completed, failed or cancelled
}

// Render returns one of the account's renders.
//
// Clients poll a render until it finishes, so Render keeps the views it read
// (renderCache) and, for one it has, asks Postgres only for the row's
// current tuple version (tupleChecker, one query for the GETs asking at
// once): the view is served when the row is unchanged
// (every write of a row, a projector's, a rebuild's or a swap's, makes a
// new tuple), and read again when not. A GET never sees an older state than
// the table holds. The view returned is shared: callers must not modify it.
func (q *Queries) Render(ctx context.Context, accountID, id string) (RenderView, error) {
	if c, ok := q.renders.get(id); ok && c.view.AccountID == accountID {
		tuple, found, err := q.tuples.check(ctx, accountID, id)
		switch {
		case err != nil:
			return RenderView{}, fmt.Errorf("render %s: %w", id, err)
		case !found:
			q.renders.drop(id)
			return RenderView{}, fmt.Errorf("render %s: %w", id, ErrNotFound)
		case tuple == c.tuple:
			return c.view, nil
		}
	}
	var tuple uint32
	rows, err := q.pool.Query(ctx, `SELECT xmin, `+renderColumns+` FROM rm_renders WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return RenderView{}, fmt.Errorf("render %s: %w", id, lookupError(err))
	}
	v, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (RenderView, error) {
		return scanRenderRow(row, &tuple)
	})
	if noRow(err) {
		return RenderView{}, fmt.Errorf("render %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return RenderView{}, fmt.Errorf("render %s: %w", id, err)
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
func (q *Queries) ListRenders(ctx context.Context, accountID string, f RenderFilter, page Page) ([]RenderView, string, error) {
	switch domain.RenderState(f.State) {
	case "", domain.RenderStatePending, domain.RenderStateRunning, domain.RenderStateCompleted,
		domain.RenderStateFailed, domain.RenderStateCancelled:
	default:
		return nil, "", fmt.Errorf("list renders: %w", &domain.ValidationError{Field: "state",
			Message: fmt.Sprintf("%q is not a render state: use pending, running, completed, failed or cancelled", f.State)})
	}
	inner, err := f.unwrapCursor(page.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("list renders: %w", err)
	}
	page.Cursor = inner
	base, args := `SELECT `+renderColumns+` FROM rm_renders WHERE account_id = $1`, []any{accountID}
	if f.AssetID != "" {
		var exists bool
		err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM rm_assets WHERE id = $1 AND account_id = $2)`, f.AssetID, accountID).Scan(&exists)
		if err != nil {
			return nil, "", fmt.Errorf("list renders of %s: %w", f.AssetID, lookupError(err))
		}
		if !exists {
			return nil, "", fmt.Errorf("list renders of %s: asset: %w", f.AssetID, ErrNotFound)
		}
		args = append(args, f.AssetID)
		base += fmt.Sprintf(` AND asset_id = $%d`, len(args))
	}
	if f.State != "" {
		args = append(args, f.State)
		base += fmt.Sprintf(` AND state = $%d`, len(args))
	}
	list, next, err := listPage(ctx, q.pool, page, scanRender, base, args,
		func(v RenderView) Cursor { return Cursor{CreatedAt: v.CreatedAt, ID: v.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("list renders: %w", err)
	}
	return list, f.wrapCursor(next), nil
}

// wrapCursor binds a keyset cursor to the filters (BindCursor).
func (f RenderFilter) wrapCursor(keyset string) string {
	return BindCursor("asset_id="+f.AssetID+"\x00state="+f.State, keyset)
}

func (f RenderFilter) unwrapCursor(c string) (string, error) {
	return UnbindCursor("asset_id="+f.AssetID+"\x00state="+f.State, c, "keep asset_id and state")
}
