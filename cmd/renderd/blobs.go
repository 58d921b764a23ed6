package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/renderd/renderd/adapters/blob"
)

// defaultBlobURL is the local folder make run uses, where every renderd
// before RENDERD_BLOB_URL kept its blobs (RENDERD_BLOB_DIR's default).
const defaultBlobURL = "file:.data/blobs"

// checkBlobURL refuses a RENDERD_BLOB_URL no store takes, before anything
// starts: a local folder (file:, or a bare path) or an s3:// bucket.
func checkBlobURL(raw string) error {
	if raw == "" {
		return errors.New("RENDERD_BLOB_URL must not be empty")
	}
	if _, local, err := localBlobDir(raw); err != nil || local {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return errors.New("RENDERD_BLOB_URL must be file:<folder>, a folder, or s3://bucket[/prefix]?endpoint=…&region=…")
	}
	return nil
}

// localBlobDir is the folder of a RENDERD_BLOB_URL naming a local one:
// file:///abs, file:/abs, file:rel, or a bare path; local is false for any
// other scheme.
func localBlobDir(raw string) (dir string, local bool, err error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "":
		return raw, true, nil // a bare path (one url.Parse refuses too: "a%zz")
	case u.Scheme != "file":
		return "", false, nil
	case u.Host != "" && u.Host != "localhost":
		return "", true, fmt.Errorf("RENDERD_BLOB_URL %q names a folder on host %q: a file: URL is this host's (file:///abs or file:rel)", raw, u.Host)
	case u.Opaque != "": // file:rel
		dir, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return "", true, fmt.Errorf("RENDERD_BLOB_URL %q: %w", raw, err)
		}
		return dir, true, nil
	case u.Path == "":
		return "", true, errors.New("RENDERD_BLOB_URL file: names no folder")
	}
	return u.Path, true, nil
}

// errNoS3Store refuses an s3:// RENDERD_BLOB_URL in a build whose
// openBlobs opens local folders only.
var errNoS3Store = errors.New("RENDERD_BLOB_URL: this renderd has no S3 store yet; use a local folder (file:<folder>)")

// openBlobs opens the process's one blob store, the one RENDERD_BLOB_URL
// names, and makes its scratch folder (RENDERD_SCRATCH_DIR).
//
// This build opens local folders only; blob.Open takes its place to add
// S3 (an s3:// URL is refused here with a configuration error).
func openBlobs(_ context.Context, cfg Config) (blob.Store, error) {
	if err := os.MkdirAll(cfg.ScratchDir, 0o750); err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	dir, local, err := localBlobDir(cfg.BlobURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	case !local:
		return nil, fmt.Errorf("%w: %w", errUsage, errNoS3Store)
	}
	store, err := blob.NewLocal(dir)
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return store, nil
}

// privateFolders are the folders the media sandbox keeps the media user
// out of: the local blob store's, and the scratch folder, which holds
// copies of sources and outputs in the making.
func privateFolders(cfg Config) []string {
	folders := []string{cfg.ScratchDir}
	if dir, local, err := localBlobDir(cfg.BlobURL); err == nil && local {
		folders = append(folders, dir)
	}
	return folders
}
