package blob

import (
	"context"
	"io"
	"time"
)

// Store is where renderd keeps uploaded media and render outputs: Local (a
// folder on one host, the default) or S3 (any S3-compatible object store,
// shared by processes on many hosts). RENDERD_BLOB_URL picks one (Open).
//
// Keys are the server's own (ValidateKey). Every store passes the contract
// suite in blobtest: streamed puts that never hold a body in memory, atomic
// publish (an interrupted write leaves no visible object and a previous
// blob untouched), ranged reads, delete, list by prefix, and missing blobs
// reported as errors matching fs.ErrNotExist.
type Store interface {
	// Put streams r into key, replacing any previous blob, and returns its
	// size. A body longer than maxBytes (> 0) fails with ErrTooLarge and
	// stores nothing; so does any error of r's or ctx's.
	Put(ctx context.Context, key string, r io.Reader, maxBytes int64) (size int64, err error)
	// Stat describes a blob.
	Stat(ctx context.Context, key string) (Info, error)
	// Read opens length bytes of a blob from offset (length < 0: to the
	// end). Reading past the end yields what there is.
	Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Delete removes a blob; a missing one is not an error, so that a
	// retried clean-up succeeds.
	Delete(ctx context.Context, key string) error
	// List lists the blobs whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]Info, error)

	// Fetch makes a blob available as a local file, for programs that take
	// file names (ffmpeg, ffprobe): Local's own file, or a copy in the
	// process's scratch folder. release removes the copy (and is never
	// nil on success).
	Fetch(ctx context.Context, key string) (path string, release func(), err error)
	// CreateTemp makes a new, empty local file for a program that writes
	// the blob key by file name (ffmpeg) and returns its absolute path.
	// Commit publishes it whole as key and removes the file; Discard
	// removes it. A crash in between leaves a file a sweep finds (Temps).
	CreateTemp(key string) (path string, err error)
	Commit(ctx context.Context, tmpPath, key string) (size int64, err error)
	Discard(tmpPath string) error
	// Temps lists writes that were begun but neither committed nor
	// discarded (see Temp), and RemoveTemp removes one unless it was
	// written since.
	Temps(ctx context.Context) ([]Temp, error)
	RemoveTemp(t Temp) (removed bool, err error)

	// DownloadURL returns a URL that serves the blob key to anyone holding
	// it until about expires, as the attachment as describes; ok is false
	// when the store cannot hand out such URLs (Local: renderd serves the
	// bytes itself).
	DownloadURL(ctx context.Context, key string, as Attachment, expires time.Time) (url string, ok bool, err error)

	Close() error
}

// Attachment is how a download URL's answer presents a blob: as an
// attachment named Filename (made safe for the header), of ContentType
// ("" leaves the store's own), kept by private caches for no longer than
// the URL lives.
type Attachment struct {
	Filename    string
	ContentType string
}

// Info describes a stored blob.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}
