package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/filelocker"
	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/s3store"
)

// resumableDir is the folder of a local store where resumable uploads in
// progress live, and resumablePrefix the prefix of an S3 store's, each
// under the store's own root: neither is a key (no key has a segment
// starting with a dot, or an upper-case letter), so List never shows them
// and Temps (a sweep) never takes them for abandoned writes. Their lifetime
// is the tus expiration's, not a temporary file's (docs/architecture.md,
// "Resumable uploads"). On S3 no dot: SeaweedFS leaves objects under a dot
// folder out of its listings, and expiry lists them.
const (
	resumableDir    = ".uploads"
	resumablePrefix = "Uploads"
)

// Resumable is where tus uploads in progress (the API's /v1/uploads) keep
// their bytes until the last one arrives, in tusd's own store for the blob
// store RENDERD_BLOB_URL names: tusd's filestore in a folder of a local
// store, tusd's s3store (a multipart upload, the parts under 5 MiB as
// objects of their own) under an S3 store's prefix. The finished upload is
// then copied into the blob store by the API, which records it.
type Resumable struct {
	// Compose puts the store, its terminater and a locker into a tusd
	// composer.
	Compose func(*handler.StoreComposer)
	// Store is the store Compose adds, for the API's own look-ups.
	Store handler.DataStore
	// List lists the ids of the uploads in the store, for expiry.
	List func(ctx context.Context) ([]string, error)
}

// OpenResumable opens the resumable uploads' store next to the blob store
// rawURL names (see Open). A local store's uploads are locked with lock
// files, so that processes sharing the folder take turns; an S3 store's
// with a lock in this process's memory: one upload's PATCH requests must
// reach one API process (docs/architecture.md, "Resumable uploads").
func OpenResumable(ctx context.Context, rawURL string) (*Resumable, error) {
	loc, err := parseStoreURL(rawURL)
	if err != nil {
		return nil, err
	}
	if loc.s3 == nil {
		return newLocalResumable(filepath.Join(loc.dir, resumableDir))
	}
	client, err := newS3Client(ctx, *loc.s3)
	if err != nil {
		return nil, err
	}
	prefix := resumablePrefix + "/"
	if loc.s3.Prefix != "" {
		prefix = loc.s3.Prefix + "/" + prefix
	}
	return newS3Resumable(client, loc.s3.Bucket, prefix), nil
}

func newLocalResumable(dir string) (*Resumable, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("resumable uploads: %w", err)
	}
	store, locker := filestore.New(dir), filelocker.New(dir)
	return &Resumable{
		Compose: func(c *handler.StoreComposer) { store.UseIn(c); c.UseLocker(patientLocker{locker}) },
		Store:   store,
		List: func(ctx context.Context) ([]string, error) {
			entries, err := os.ReadDir(dir)
			if err != nil {
				return nil, fmt.Errorf("resumable uploads: %w", err)
			}
			var ids []string
			for _, e := range entries {
				if id, ok := strings.CutSuffix(e.Name(), ".info"); ok && e.Type().IsRegular() {
					ids = append(ids, id)
				}
			}
			return ids, ctx.Err()
		},
	}, nil
}

func newS3Resumable(client *s3.Client, bucket, prefix string) *Resumable {
	store := s3store.New(bucket, client)
	store.ObjectPrefix = prefix
	locker := memorylocker.New()
	return &Resumable{
		Compose: func(c *handler.StoreComposer) { store.UseIn(c); c.UseLocker(patientLocker{locker}) },
		Store:   store,
		List: func(ctx context.Context) ([]string, error) {
			// An upload's .info object holds its id (s3store: the
			// object's id and the multipart upload's, joined by "+").
			var ids []string
			pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix)})
			for pages.HasMorePages() {
				page, err := pages.NextPage(ctx)
				if err != nil {
					return nil, fmt.Errorf("resumable uploads: %w", err)
				}
				for _, o := range page.Contents {
					name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
					if objectID, ok := strings.CutSuffix(name, ".info"); ok && !strings.Contains(objectID, "/") {
						id, err := s3UploadID(ctx, client, bucket, aws.ToString(o.Key))
						switch {
						case errors.Is(err, fs.ErrNotExist):
							continue
						case err != nil:
							return nil, err
						}
						ids = append(ids, id)
					}
				}
			}
			return ids, nil
		},
	}
}

// s3UploadID reads an upload's full id from its .info object (tusd's
// FileInfo as JSON).
func s3UploadID(ctx context.Context, client *s3.Client, bucket, objectKey string) (string, error) {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &objectKey})
	if isNotFound(err) {
		return "", fs.ErrNotExist
	}
	if err != nil {
		return "", fmt.Errorf("resumable upload %s: %w", objectKey, err)
	}
	defer func() { _ = out.Body.Close() }()
	var info handler.FileInfo
	if err := json.NewDecoder(out.Body).Decode(&info); err != nil {
		return "", fmt.Errorf("resumable upload %s: %w", objectKey, err)
	}
	return info.ID, nil
}

// patientLocker is a tusd locker whose holders are never asked to let go:
// a request on an upload whose lock is held waits for the holder to end
// (tusd's AcquireLockTimeout) instead. When asked, tusd v2.9.1 ends the
// holder's request from another goroutine that reads the request's body
// reader without synchronisation (a data race the race detector reports).
// A holder ends on its own soon after its client has gone: its body's read
// fails once the connection is closed, or at renderd's transfer deadlines
// (ports/httpapi/timeouts.go) when it merely stalls.
type patientLocker struct{ handler.Locker }

func (l patientLocker) NewLock(id string) (handler.Lock, error) {
	lock, err := l.Locker.NewLock(id)
	if err != nil {
		return nil, err
	}
	return patientLock{lock}, nil
}

type patientLock struct{ inner handler.Lock }

func (l patientLock) Lock(ctx context.Context, _ func()) error { return l.inner.Lock(ctx, func() {}) }

func (l patientLock) Unlock() error { return l.inner.Unlock() }
