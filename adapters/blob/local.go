// Package blob stores uploaded media and render outputs. Local keeps them on
// the local filesystem under one root directory.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

var _ Store = (*Local)(nil)

var (
	// ErrTooLarge reports a body longer than the limit given to Put. Nothing
	// is stored.
	ErrTooLarge = errors.New("blob too large")
	// ErrInvalidKey reports a key outside the allowed shape (see Local).
	ErrInvalidKey = errors.New("invalid blob key")
)

// maxKeyLen keeps keys well below any filesystem's path limit.
const maxKeyLen = 512

// Local is a blob store on the local filesystem.
//
// Keys are slash-separated paths of [a-z0-9_.-] segments, such as
// "assets/ast_123/source". The server makes them up, but they are validated
// anyway, and every access goes through an os.Root, so that no key (and no
// symbolic link planted under the root) can reach a file outside it.
// Segments may not start with a dot: such names are reserved for Put's
// temporary files.
//
// Writes are atomic: a reader sees either the previous blob or the whole new
// one, never a partial write, also across a crash.
type Local struct {
	dir  string
	root *os.Root
}

// NewLocal opens (and creates, if missing) the store's root directory.
func NewLocal(root string) (*Local, error) {
	dir, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob root %s: %w", root, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob root: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob root: %w", err)
	}
	return &Local{dir: dir, root: r}, nil
}

// Close releases the root directory.
func (l *Local) Close() error { return l.root.Close() }

// Put streams r into the blob key, replacing any previous blob, and returns
// its size. A body longer than maxBytes fails with ErrTooLarge. On an
// error, including r's and ctx's, nothing is left behind and a previous blob
// under key is untouched; the one exception is a failed sync of the directory
// after the rename, when the new blob is in place but may not survive a
// crash (a retried Put simply replaces it). Concurrent Puts of one key are
// safe: the last rename wins, whole.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (size int64, err error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	if maxBytes <= 0 {
		return 0, fmt.Errorf("put %s: a positive size limit is required", key)
	}
	dir := path.Dir(key)
	if err := l.root.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	// The temporary file lives in the target's directory so that the final
	// rename cannot cross filesystems (and stays atomic).
	tmp, f, err := l.createTemp(key)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = l.root.Remove(tmp)
		}
	}()

	// One byte past the limit tells an exact fit from an overflow without
	// reading (or buffering) the rest of an oversized body.
	n, err := io.Copy(f, io.LimitReader(ctxReader{ctx, r}, maxBytes+1))
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	if n > maxBytes {
		return 0, fmt.Errorf("put %s: %w (limit %d bytes)", key, ErrTooLarge, maxBytes)
	}
	// Data first, then the name: after a crash the key holds the old blob
	// or the complete new one.
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("put %s: sync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("put %s: close: %w", key, err)
	}
	if err := l.root.Rename(tmp, key); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	// The rename itself is durable only once its directory is synced. The
	// blob is in place now, so a failure here is reported but not undone.
	if err := l.syncDir(dir); err != nil {
		return n, fmt.Errorf("put %s: sync directory: %w", key, err)
	}
	return n, nil
}

// createTemp creates a new, empty hidden file next to key; hidden names
// are never valid keys, so it cannot clash with a blob. Its name records
// the key ("renders/rnd_1/.tmp-<random>-attempt-2.mp4"), so that a sweep
// can tell whose write it was (Temps).
func (l *Local) createTemp(key string) (string, *os.File, error) {
	dir, base := path.Split(key)
	if len(base) > maxTempBase {
		base = "" // the name would pass the filesystem's limit
	}
	for range 10 {
		b := make([]byte, tempRandLen/2)
		_, _ = rand.Read(b)
		name := dir + tempPrefix + hex.EncodeToString(b)
		if base != "" {
			name += "-" + base
		}
		f, err := l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, f, err
	}
	return "", nil, errors.New("no free temporary file name")
}

func (l *Local) syncDir(dir string) error {
	d, err := l.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CreateTemp creates a new, empty hidden file next to key for a program
// that writes a blob by file name (ffmpeg), and returns its absolute path.
// Commit moves it into place whole; Discard removes it. A crash in between
// leaves a hidden file that is never a blob, for a sweep to find (Temps).
func (l *Local) CreateTemp(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	dir := path.Dir(key)
	if err := l.root.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("temp for %s: %w", key, err)
	}
	tmp, f, err := l.createTemp(key)
	if err != nil {
		return "", fmt.Errorf("temp for %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		_ = l.root.Remove(tmp)
		return "", fmt.Errorf("temp for %s: %w", key, err)
	}
	return filepath.Join(l.dir, filepath.FromSlash(tmp)), nil
}

// Commit makes the finished temporary file at tmpPath (from CreateTemp for
// the same key) the blob key, durably, as Put does, and returns its size.
// The rename is atomic, so there is nothing for ctx to interrupt.
func (l *Local) Commit(_ context.Context, tmpPath, key string) (int64, error) {
	tmp, err := l.tempName(tmpPath, key)
	if err != nil {
		return 0, err
	}
	f, err := l.root.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", key, err)
	}
	st, err := f.Stat()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", key, err)
	}
	if err := l.root.Rename(tmp, key); err != nil {
		return 0, fmt.Errorf("commit %s: %w", key, err)
	}
	if err := l.syncDir(path.Dir(key)); err != nil {
		return st.Size(), fmt.Errorf("commit %s: sync directory: %w", key, err)
	}
	return st.Size(), nil
}

// Discard removes a temporary file from CreateTemp; a missing one is fine.
func (l *Local) Discard(tmpPath string) error {
	rel, err := filepath.Rel(l.dir, tmpPath)
	if err != nil || !strings.HasPrefix(path.Base(filepath.ToSlash(rel)), tempPrefix) {
		return fmt.Errorf("discard %s: not a temporary file of this store", tmpPath)
	}
	if err := l.root.Remove(filepath.ToSlash(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("discard: %w", err)
	}
	return nil
}

// tempPrefix starts the name of every temporary file (Put's and
// CreateTemp's); no valid key has a segment starting with a dot. The random
// part that follows has tempRandLen hex digits; a key's last segment longer
// than maxTempBase is left out of the name (255 bytes is the usual limit).
const (
	tempPrefix  = ".tmp-"
	tempRandLen = 16
	maxTempBase = 200
)

// Temp is a temporary file of the store: a write in progress, or what a
// crash between creating it and committing or discarding it left behind.
type Temp struct {
	// Key is the blob the file is written for; "" when its name does not
	// say (a file of an older renderd, or a key too long to name it by).
	Key     string
	Size    int64
	ModTime time.Time // its last write
	name    string    // its name under the root
}

// Temps lists the temporary files anywhere under the root, for a sweep to
// decide which of them are orphaned (RemoveTemp). Only regular files named
// .tmp-* are listed, never a blob, a directory or a symbolic link, and the
// walk stays inside the root. A file that vanishes during the walk
// (committed, discarded, swept by another process) is skipped; other
// failures are returned, joined, with what the rest of the tree held.
//
// This is the local store's side of a sweep; a store on S3 lists its
// unfinished multipart uploads instead (Key the upload's key, ModTime its
// last part's), and RemoveTemp aborts one.
func (l *Local) Temps(ctx context.Context) ([]Temp, error) {
	var (
		out  []Temp
		errs []error
	)
	walkErr := fs.WalkDir(l.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if name == "." {
				return err
			}
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return nil // WalkDir skips a directory it cannot read
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		info, err := d.Info()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			errs = append(errs, err)
			return nil
		}
		out = append(out, Temp{Key: tempKey(name), Size: info.Size(), ModTime: info.ModTime(), name: name})
		return nil
	})
	if walkErr != nil {
		errs = append(errs, fmt.Errorf("temporary files: %w", walkErr))
	}
	return out, errors.Join(errs...)
}

// RemoveTemp removes a temporary file Temps listed, unless it was written
// since (its writer is alive after all) or is gone already (committed,
// discarded, or removed by another process's sweep): removed says whether
// this call removed it. Processes may sweep one store at once.
func (l *Local) RemoveTemp(t Temp) (removed bool, err error) {
	if !strings.HasPrefix(path.Base(t.name), tempPrefix) {
		return false, fmt.Errorf("remove %q: not a temporary file of this store", t.name)
	}
	info, err := l.root.Lstat(t.name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("remove temporary file: %w", err)
	case !info.Mode().IsRegular() || !info.ModTime().Equal(t.ModTime):
		return false, nil
	}
	switch err := l.root.Remove(t.name); {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("remove temporary file: %w", err)
	}
}

// tempKey is the key a temporary file's name records (see createTemp), or
// "".
func tempKey(name string) string {
	rest := strings.TrimPrefix(path.Base(name), tempPrefix)
	if len(rest) < tempRandLen+2 || rest[tempRandLen] != '-' {
		return ""
	}
	key := path.Join(path.Dir(name), rest[tempRandLen+1:])
	if ValidateKey(key) != nil {
		return ""
	}
	return key
}

// tempName maps a CreateTemp path for key back to its name under the root.
func (l *Local) tempName(tmpPath, key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	rel, err := filepath.Rel(l.dir, tmpPath)
	rel = filepath.ToSlash(rel)
	if err != nil || path.Dir(rel) != path.Dir(key) || !strings.HasPrefix(path.Base(rel), tempPrefix) {
		return "", fmt.Errorf("commit %s: %s is not a temporary file for it", key, tmpPath)
	}
	return rel, nil
}

// Stat describes a blob. A missing blob, or a name that is not a blob (a
// folder of keys), is an error matching fs.ErrNotExist.
func (l *Local) Stat(_ context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	info, err := l.root.Stat(key)
	if err != nil {
		return Info{}, fmt.Errorf("stat blob: %w", err)
	}
	if !info.Mode().IsRegular() {
		return Info{}, fmt.Errorf("stat blob %s: %w", key, fs.ErrNotExist)
	}
	return Info{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Read opens length bytes of a blob from offset (length < 0: to the end);
// past the end there is nothing more to read. A missing blob is an error
// matching fs.ErrNotExist.
func (l *Local) Read(_ context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("read blob %s: negative offset %d", key, offset)
	}
	f, err := l.root.Open(key)
	if err != nil {
		return nil, fmt.Errorf("read blob: %w", err)
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("read blob %s: %w", key, err)
	}
	n := length
	if n < 0 {
		n = math.MaxInt64 - offset
	}
	return section{Reader: io.NewSectionReader(f, offset, n), Closer: f}, nil
}

// section is a part of an open file, closed with it.
type section struct {
	io.Reader
	io.Closer
}

// List lists the blobs whose keys start with prefix ("" lists every blob),
// in key order. Temporary files are never listed. Only the folder the
// prefix names is walked, not the whole root.
func (l *Local) List(ctx context.Context, prefix string) ([]Info, error) {
	dir := "."
	if prefix != "" {
		if err := ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
			return nil, err
		}
		if strings.HasSuffix(prefix, "/") {
			dir = strings.TrimSuffix(prefix, "/")
		} else {
			dir = path.Dir(prefix)
		}
	}
	var out []Info
	err := fs.WalkDir(l.root.FS(), dir, func(name string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // nothing under the prefix, or removed during the walk
		case err != nil:
			return err
		case d.IsDir() && name != dir && (strings.HasPrefix(d.Name(), ".") ||
			!strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/")):
			return fs.SkipDir // a folder no key with the prefix lies in
		case !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") || !strings.HasPrefix(name, prefix):
			return nil
		}
		info, err := d.Info()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		}
		out = append(out, Info{Key: name, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs %q: %w", prefix, err)
	}
	// A walk goes folder by folder ("a/b" before "a-c"); keys sort bytewise.
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Fetch returns the blob's own file: a local store needs no copy, so
// release does nothing. A missing blob is an error matching fs.ErrNotExist.
func (l *Local) Fetch(ctx context.Context, key string) (string, func(), error) {
	if _, err := l.Stat(ctx, key); err != nil {
		return "", nil, fmt.Errorf("fetch: %w", err)
	}
	return filepath.Join(l.dir, filepath.FromSlash(key)), func() {}, nil
}

// DownloadURL is never available: the blobs of a local folder are served
// by renderd itself.
func (l *Local) DownloadURL(context.Context, string, Attachment, time.Time) (string, bool, error) {
	return "", false, nil
}

// Delete removes a blob. Deleting a missing blob is not an error, so that a
// retried clean-up succeeds.
func (l *Local) Delete(_ context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := l.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob: %w", err)
	}
	return nil
}

// ValidateKey reports whether key is a valid blob key (see Local).
func ValidateKey(key string) error {
	bad := func(reason string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, reason) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > maxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", maxKeyLen))
	case strings.Contains(key, ".."):
		return bad(`contains ".."`)
	}
	for _, c := range []byte(key) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '/' || c == '-') {
			return bad("only a-z, 0-9, '_', '.', '/' and '-' are allowed")
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return bad("empty path segment (leading, trailing or double '/')")
		case seg[0] == '.':
			return bad("a path segment starts with '.'")
		}
	}
	return nil
}

// ctxReader stops a copy once ctx ends: an upload whose client went away
// must not keep writing.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
