// Package pgread holds what the Postgres read models
// (adapters/postgres/readmodel) share with the webhook feature's tables
// (webhooks): keyset pages of a list, and lookups of ids Postgres refuses as
// text. The webhook feature keeps its own SQL on its own tables, and this
// is the one adapter package it may import (scripts/check-imports).
package pgread

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// List runs base (a SELECT with a WHERE clause over args) one keyset page
// at a time: newest first by (created_at, id), after page's cursor.
func List[T any](ctx context.Context, pool *pgxpool.Pool, page projections.Page, scan pgx.RowToFunc[T],
	base string, args []any, keyOf func(T) projections.Cursor) ([]T, string, error) {
	limit := page.Size()
	sql := base
	if page.Cursor != "" {
		after, err := projections.DecodeCursor(page.Cursor)
		if err != nil {
			return nil, "", err
		}
		n := len(args)
		sql += fmt.Sprintf(` AND (created_at, id) < ($%d, $%d)`, n+1, n+2)
		args = append(args, after.CreatedAt, after.ID)
	}
	// One row more than the page tells whether another page follows.
	sql += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args)+1)
	args = append(args, limit+1)
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, "", err
	}
	if len(list) <= limit {
		return list, "", nil
	}
	list = list[:limit]
	return list, keyOf(list[limit-1]).Encode(), nil
}

// NoRow reports a lookup that found nothing: no row, or parameters no row
// can hold (LookupError).
func NoRow(err error) bool { return errors.Is(err, pgx.ErrNoRows) || refusedBytes(err) }

// LookupError reports parameters Postgres refused as text as not found
// (domain.ErrNotFound).
func LookupError(err error) error {
	if refusedBytes(err) {
		return errors.Join(err, domain.ErrNotFound)
	}
	return err
}

// refusedBytes reports Postgres refusing a text parameter's bytes: NUL
// (SQLSTATE 22021) or an escape it cannot store (22P05). No row holds such
// a value. The API refuses them at its boundary (ports/httpapi/input.go);
// this keeps a read from answering 500 should one slip through.
func refusedBytes(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "22021" || pg.Code == "22P05")
}
