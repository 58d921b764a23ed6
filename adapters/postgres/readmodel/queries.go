package readmodel

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres/pgread"
	"github.com/renderd/renderd/projections"
)

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
func (q *Queries) Asset(ctx context.Context, accountID, id string) (projections.AssetView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+assetColumns+` FROM rm_assets WHERE id = $1 AND account_id = $2 AND NOT deleted`, id, accountID)
	if err != nil {
		return projections.AssetView{}, fmt.Errorf("asset %s: %w", id, pgread.LookupError(err))
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanAsset)
	if pgread.NoRow(err) {
		return projections.AssetView{}, fmt.Errorf("asset %s: %w", id, projections.ErrNotFound)
	}
	if err != nil {
		return projections.AssetView{}, fmt.Errorf("asset %s: %w", id, err)
	}
	return v, nil
}

// ListAssets returns a page of the account's assets, newest first, and the
// cursor of the next page ("" after the last). Paging is by keyset, so
// assets created while a client pages neither repeat nor shift items.
func (q *Queries) ListAssets(ctx context.Context, accountID string, page projections.Page) ([]projections.AssetView, string, error) {
	list, next, err := pgread.List(ctx, q.pool, page, scanAsset,
		`SELECT `+assetColumns+` FROM rm_assets WHERE account_id = $1 AND NOT deleted`, []any{accountID},
		func(v projections.AssetView) projections.Cursor {
			return projections.Cursor{CreatedAt: v.CreatedAt, ID: v.ID}
		})
	if err != nil {
		return nil, "", fmt.Errorf("list assets: %w", err)
	}
	return list, next, nil
}

// Cut returns one of the account's cuts.
func (q *Queries) Cut(ctx context.Context, accountID, id string) (projections.CutView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+cutColumns+` FROM rm_cuts WHERE id = $1 AND account_id = $2 AND NOT deleted`, id, accountID)
	if err != nil {
		return projections.CutView{}, fmt.Errorf("cut %s: %w", id, pgread.LookupError(err))
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanCut)
	if pgread.NoRow(err) {
		return projections.CutView{}, fmt.Errorf("cut %s: %w", id, projections.ErrNotFound)
	}
	if err != nil {
		return projections.CutView{}, fmt.Errorf("cut %s: %w", id, err)
	}
	return v, nil
}

// ListCuts returns a page of one of the account's assets' cuts, newest first,
// like ListAssets. An asset that is unknown or another account's is
// ErrNotFound (not an empty list), as GET /v1/assets/{id}/cuts needs.
func (q *Queries) ListCuts(ctx context.Context, accountID, assetID string, page projections.Page) ([]projections.CutView, string, error) {
	var exists bool
	err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM rm_assets WHERE id = $1 AND account_id = $2 AND NOT deleted)`, assetID, accountID).Scan(&exists)
	if err != nil {
		return nil, "", fmt.Errorf("list cuts of %s: %w", assetID, pgread.LookupError(err))
	}
	if !exists {
		return nil, "", fmt.Errorf("list cuts of %s: asset: %w", assetID, projections.ErrNotFound)
	}
	list, next, err := pgread.List(ctx, q.pool, page, scanCut,
		`SELECT `+cutColumns+` FROM rm_cuts WHERE account_id = $1 AND asset_id = $2 AND NOT deleted`, []any{accountID, assetID},
		func(v projections.CutView) projections.Cursor {
			return projections.Cursor{CreatedAt: v.CreatedAt, ID: v.ID}
		})
	if err != nil {
		return nil, "", fmt.Errorf("list cuts of %s: %w", assetID, err)
	}
	return list, next, nil
}
