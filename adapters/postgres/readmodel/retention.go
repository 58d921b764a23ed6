package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutputsDue lists up to n renders whose output is due to expire, oldest
// first: completed before completedBefore, neither expired nor deleted
// (encoders.OutputsDue; the index rm_renders_outputs_held serves it).
func (q *Queries) OutputsDue(ctx context.Context, completedBefore time.Time, n int) ([]string, error) {
	rows, err := q.pool.Query(ctx, `SELECT id FROM rm_renders
		WHERE state = 'completed' AND NOT output_expired AND NOT deleted AND completed_at < $1
		ORDER BY completed_at, id LIMIT $2`, completedBefore, n)
	if err != nil {
		return nil, fmt.Errorf("outputs due: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("outputs due: %w", err)
	}
	return ids, nil
}
