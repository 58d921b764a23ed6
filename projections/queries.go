package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
)

// ErrNotFound is domain.ErrNotFound, so that the API's one error mapping
// answers 404 for the read side without a case of its own. An id of another
// account is reported exactly like an unknown one.
var ErrNotFound = domain.ErrNotFound

// Queries reads the read models behind the GET endpoints.
type Queries struct {
	pool    *pgxpool.Pool
	renders *renderCache
	tuples  *tupleChecker
}

// NewQueries returns the queries over pool.
func NewQueries(pool *pgxpool.Pool) *Queries {
	return &Queries{pool: pool, renders: newRenderCache(renderCacheSize), tuples: newTupleChecker(pool)}
}

// Asset returns one of the account's assets.
func (q *Queries) Asset(ctx context.Context, accountID, id string) (AssetView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+assetColumns+` FROM rm_assets WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return AssetView{}, fmt.Errorf("asset %s: %w", id, lookupError(err))
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanAsset)
	if noRow(err) {
		return AssetView{}, fmt.Errorf("asset %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return AssetView{}, fmt.Errorf("asset %s: %w", id, err)
	}
	return v, nil
}

// ListAssets returns a page of the account's assets, newest first, and the
// cursor of the next page ("" after the last). Paging is by keyset, so
// assets created while a client pages neither repeat nor shift items.
func (q *Queries) ListAssets(ctx context.Context, accountID string, page Page) ([]AssetView, string, error) {
	list, next, err := listPage(ctx, q.pool, page, scanAsset,
		`SELECT `+assetColumns+` FROM rm_assets WHERE account_id = $1`, []any{accountID},
		func(v AssetView) Cursor { return Cursor{CreatedAt: v.CreatedAt, ID: v.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	return list, next, nil
}

// Cut returns one of the account's cuts.
func (q *Queries) Cut(ctx context.Context, accountID, id string) (CutView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+cutColumns+` FROM rm_cuts WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return CutView{}, fmt.Errorf("cut %s: %w", id, lookupError(err))
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanCut)
	if noRow(err) {
		return CutView{}, fmt.Errorf("cut %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return CutView{}, fmt.Errorf("cut %s: %w", id, err)
	}
	return v, nil
}

// ListCuts returns a page of one of the account's assets' cuts, newest first,
// like ListAssets. An asset that is unknown or another account's is
// ErrNotFound (not an empty list), as GET /v1/assets/{id}/cuts needs.
func (q *Queries) ListCuts(ctx context.Context, accountID, assetID string, page Page) ([]CutView, string, error) {
	var exists bool
	err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM rm_assets WHERE id = $1 AND account_id = $2)`, assetID, accountID).Scan(&exists)
	if err != nil {
		return nil, "", fmt.Errorf("list cuts of %s: %w", assetID, lookupError(err))
	}
	if !exists {
		return nil, "", fmt.Errorf("list cuts of %s: asset: %w", assetID, ErrNotFound)
	}
	list, next, err := listPage(ctx, q.pool, page, scanCut,
		`SELECT `+cutColumns+` FROM rm_cuts WHERE account_id = $1 AND asset_id = $2`, []any{accountID, assetID},
		func(v CutView) Cursor { return Cursor{CreatedAt: v.CreatedAt, ID: v.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("list cuts of %s: %w", assetID, err)
	}
	return list, next, nil
}
