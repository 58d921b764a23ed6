package main

import (
	"cmp"
	"context"
	"fmt"
	"os"

	"github.com/renderd/renderd/adapters/blob"
)

// defaultBlobURL is the local folder make run uses, where every renderd
// before RENDERD_BLOB_URL kept its blobs (RENDERD_BLOB_DIR's default).
const defaultBlobURL = "file:.data/blobs"

// checkBlobURL refuses a RENDERD_BLOB_URL no store takes, before anything
// starts: a local folder (file:, or a bare path) or an s3:// bucket.
func checkBlobURL(raw string) error {
	if err := blob.CheckURL(raw); err != nil {
		return fmt.Errorf("RENDERD_BLOB_URL: %w", err)
	}
	return nil
}

// openBlobs opens the process's one blob store, the one RENDERD_BLOB_URL
// names, and makes its scratch folder (RENDERD_SCRATCH_DIR).
func openBlobs(ctx context.Context, cfg Config) (blob.Store, error) {
	if err := os.MkdirAll(cfg.ScratchDir, 0o750); err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	store, err := blob.Open(ctx, cfg.BlobURL, cfg.ScratchDir)
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return store, nil
}

// privateFolders are the folders the media sandbox keeps the media user
// out of: the local blob store's, and the scratch folder, which holds
// copies of sources and outputs in the making (all of it, every process's
// folder in it).
func privateFolders(cfg Config) []string {
	folders := []string{cmp.Or(cfg.scratchRoot, cfg.ScratchDir)}
	if dir, local := blob.LocalDir(cfg.BlobURL); local {
		folders = append(folders, dir)
	}
	return folders
}
