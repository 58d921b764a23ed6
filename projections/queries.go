package projections

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/domain"
)

// ErrNotFound is domain.ErrNotFound, so that the API's one error mapping
// answers 404 for the read side without a case of its own. An id of another
// account is reported exactly like an unknown one.
var ErrNotFound = domain.ErrNotFound

// ErrBadCursor reports a page cursor this package did not hand out. The
// error also matches domain.ErrValidation and carries a
// *domain.ValidationError for the field "cursor".
var ErrBadCursor = errors.New("bad cursor")

// Page sizes.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Page selects one page of a list: at most Limit items (DefaultLimit when
// zero; validating the value is the caller's job, this only clamps it to
// 1..MaxLimit) after Cursor, the opaque "next" a previous page returned ("" for
// the first page).
type Page struct {
	Limit  int
	Cursor string
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return DefaultLimit
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

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
		func(v AssetView) cursor { return cursor{v.CreatedAt, v.ID} })
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
		func(v CutView) cursor { return cursor{v.CreatedAt, v.ID} })
	if err != nil {
		return nil, "", fmt.Errorf("list cuts of %s: %w", assetID, err)
	}
	return list, next, nil
}

// listPage runs base (a SELECT with a WHERE clause over args) one keyset page
// at a time: newest first by (created_at, id), after page's cursor.
func listPage[T any](ctx context.Context, pool *pgxpool.Pool, page Page, scan pgx.RowToFunc[T],
	base string, args []any, keyOf func(T) cursor) ([]T, string, error) {
	limit := page.limit()
	sql := base
	if page.Cursor != "" {
		after, err := decodeCursor(page.Cursor)
		if err != nil {
			return nil, "", err
		}
		n := len(args)
		sql += fmt.Sprintf(` AND (created_at, id) < ($%d, $%d)`, n+1, n+2)
		args = append(args, after.createdAt, after.id)
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
	return list, keyOf(list[limit-1]).encode(), nil
}

// bindCursor binds a keyset cursor to the filters of the list it pages,
// "<fingerprint>.<keyset>" ("" stays ""). The keyset alone would page any
// list, so a cursor reused with other filters would silently skip or repeat
// items; unbindCursor refuses it instead.
func bindCursor(filters, keyset string) string {
	if keyset == "" {
		return ""
	}
	return cursorFingerprint(filters) + "." + keyset
}

// unbindCursor returns the keyset of a cursor bindCursor made for the same
// filters, or ErrBadCursor; keep says which filters to keep.
func unbindCursor(filters, c, keep string) (string, error) {
	if c == "" {
		return "", nil
	}
	bad := func(reason string) error {
		return fmt.Errorf("%w: %w", ErrBadCursor, &domain.ValidationError{Field: "cursor", Message: reason})
	}
	fp, keyset, ok := strings.Cut(c, ".")
	if !ok || keyset == "" {
		return "", bad("is not a cursor this API returned")
	}
	if fp != cursorFingerprint(filters) {
		return "", bad("belongs to a list with other filters: " + keep + ", or start over without a cursor")
	}
	return keyset, nil
}

// cursorFingerprint is a short digest of a list's filters (base64url, no '.').
func cursorFingerprint(filters string) string {
	sum := sha256.Sum256([]byte(filters))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// The times a cursor may carry: years 1 to 9999, well inside Postgres'
// timestamptz range.
var (
	minCursorMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorMicros = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMicro()
)

// noRow reports a lookup that found nothing: no row, or parameters no row
// can hold (lookupError).
func noRow(err error) bool { return errors.Is(err, pgx.ErrNoRows) || refusedBytes(err) }

// lookupError reports parameters Postgres refused as text as not found.
func lookupError(err error) error {
	if refusedBytes(err) {
		return errors.Join(err, ErrNotFound)
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

// cursor is the keyset position of the last item of a page.
type cursor struct {
	createdAt time.Time
	id        string
}

// encode writes "<unix microseconds>:<id>" in unpadded base64url: opaque to
// clients, and exact, because Postgres keeps microseconds.
func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.createdAt.UnixMicro(), 10) + ":" + c.id))
}

func decodeCursor(s string) (cursor, error) {
	bad := func(reason string) error {
		return fmt.Errorf("%w: %w", ErrBadCursor, &domain.ValidationError{Field: "cursor", Message: reason})
	}
	if len(s) > 512 {
		return cursor{}, bad("is too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad("is not a cursor this API returned")
	}
	micros, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return cursor{}, bad("is not a cursor this API returned")
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	// Forged ones never reach Postgres: it refuses NUL and invalid UTF-8
	// in the id, and times outside its range.
	if err != nil || us < minCursorMicros || us > maxCursorMicros || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return cursor{}, bad("is not a cursor this API returned")
	}
	return cursor{createdAt: time.UnixMicro(us).UTC(), id: id}, nil
}
