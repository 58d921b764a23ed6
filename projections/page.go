package projections

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/renderd/renderd/domain"
)

// ErrNotFound is domain.ErrNotFound, so that the API's one error mapping
// answers 404 for the read side without a case of its own. An id of another
// account is reported exactly like an unknown one.
var ErrNotFound = domain.ErrNotFound

// ErrBadCursor reports a page cursor the read side did not hand out. The
// error also matches domain.ErrValidation and carries a
// *domain.ValidationError for the field "cursor".
var ErrBadCursor = errors.New("bad cursor")

// RenderFilter narrows a list of renders; empty fields do not filter.
type RenderFilter struct {
	AssetID string
	State   string // pending, running, completed, failed or cancelled
}

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

// Size is the page's item count: Limit clamped to 1..MaxLimit, DefaultLimit
// when zero.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultLimit
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

// BindCursor binds a keyset cursor to the filters of the list it pages,
// "<fingerprint>.<keyset>" ("" stays ""). The keyset alone would page any
// list, so a cursor reused with other filters would silently skip or repeat
// items; UnbindCursor refuses it instead.
func BindCursor(filters, keyset string) string {
	if keyset == "" {
		return ""
	}
	return cursorFingerprint(filters) + "." + keyset
}

// UnbindCursor returns the keyset of a cursor BindCursor made for the same
// filters, or ErrBadCursor; keep says which filters to keep.
func UnbindCursor(filters, c, keep string) (string, error) {
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

// Cursor is the keyset position of the last item of a page.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Encode writes "<unix microseconds>:<id>" in unpadded base64url: opaque to
// clients, and exact, because Postgres keeps microseconds.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" + c.ID))
}

// DecodeCursor reads a cursor Encode wrote, or returns ErrBadCursor.
func DecodeCursor(s string) (Cursor, error) {
	bad := func(reason string) error {
		return fmt.Errorf("%w: %w", ErrBadCursor, &domain.ValidationError{Field: "cursor", Message: reason})
	}
	if len(s) > 512 {
		return Cursor{}, bad("is too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad("is not a cursor this API returned")
	}
	micros, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return Cursor{}, bad("is not a cursor this API returned")
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	// Forged ones never reach Postgres: it refuses NUL and invalid UTF-8
	// in the id, and times outside its range.
	if err != nil || us < minCursorMicros || us > maxCursorMicros || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return Cursor{}, bad("is not a cursor this API returned")
	}
	return Cursor{CreatedAt: time.UnixMicro(us).UTC(), ID: id}, nil
}
