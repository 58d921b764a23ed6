package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/renderd/renderd/adapters/blob"
)

func blobConfig(t *testing.T, kv map[string]string) (Config, error) {
	t.Helper()
	base := map[string]string{"DATABASE_URL": "postgres://u@localhost:5432/db", "KAFKA_BROKERS": "a:1", "RENDERD_SECRETS_KEY": testSecretsKey}
	for k, v := range kv {
		base[k] = v
	}
	cfg, _, err := loadConfig("serve", nil, env(base), &bytes.Buffer{}, nil)
	return cfg, err
}

func TestConfig_blob_store_defaults_to_the_folder_renderd_always_used(t *testing.T) {
	cfg, err := blobConfig(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BlobURL != "file:.data/blobs" || cfg.ScratchDir != ".data/scratch" || cfg.BlobDirAlias != "" {
		t.Fatalf("blob url %q, scratch %q, alias %q", cfg.BlobURL, cfg.ScratchDir, cfg.BlobDirAlias)
	}
	if dir, local := blob.LocalDir(cfg.BlobURL); !local || dir != ".data/blobs" {
		t.Fatalf("default folder %q, %v", dir, local)
	}
}

// RENDERD_BLOB_DIR stays an alias: a deployment that set it keeps its
// folder after an upgrade, instead of starting on an empty default one.
func TestConfig_the_deprecated_blob_dir_still_chooses_the_folder_but_not_next_to_a_blob_url(t *testing.T) {
	cfg, err := blobConfig(t, map[string]string{"RENDERD_BLOB_DIR": "/srv/renderd/blobs"})
	if err != nil {
		t.Fatal(err)
	}
	if dir, local := blob.LocalDir(cfg.BlobURL); !local || dir != "/srv/renderd/blobs" || cfg.BlobDirAlias != "/srv/renderd/blobs" {
		t.Fatalf("blob url %q (folder %q), alias %q", cfg.BlobURL, dir, cfg.BlobDirAlias)
	}
	_, err = blobConfig(t, map[string]string{"RENDERD_BLOB_DIR": "/srv/a", "RENDERD_BLOB_URL": "s3://bucket/renderd"})
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_BLOB_URL alone") {
		t.Fatalf("both set: %v, want a usage error naming RENDERD_BLOB_URL", err)
	}
}

func TestConfig_blob_url_names_a_folder_or_a_bucket(t *testing.T) {
	for raw, want := range map[string]string{
		"file:///srv/blobs":            "/srv/blobs",
		"file://localhost/srv/blobs":   "/srv/blobs",
		"file:/srv/blobs":              "/srv/blobs",
		"file:.data/blobs":             ".data/blobs",
		"/srv/blobs":                   "/srv/blobs",
		"blobs":                        "blobs",
		"s3://bucket/renderd?region=x": "",
	} {
		cfg, err := blobConfig(t, map[string]string{"RENDERD_BLOB_URL": raw})
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		if dir, local := blob.LocalDir(cfg.BlobURL); dir != want || local != (want != "") {
			t.Errorf("%s: folder %q local %v, want %q", raw, dir, local, want)
		}
	}
	for _, raw := range []string{"s3://", "s3:///prefix", "http://bucket.example/x", "gs://bucket", "file://otherhost/srv", "file:", "file:a%zz"} {
		if _, err := blobConfig(t, map[string]string{"RENDERD_BLOB_URL": raw}); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_BLOB_URL") {
			t.Errorf("%s: %v, want a usage error naming RENDERD_BLOB_URL", raw, err)
		}
	}
	if _, err := blobConfig(t, map[string]string{"RENDERD_SCRATCH_DIR": " "}); err != nil {
		t.Errorf("a scratch folder named by a space: %v", err)
	}
}

func TestOpenBlobs_opens_the_folder_and_makes_the_scratch_folder(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{BlobURL: "file://" + filepath.Join(dir, "blobs"), ScratchDir: filepath.Join(dir, "scratch", "renderd")}
	store, err := openBlobs(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Put(t.Context(), "assets/ast_1/source", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "assets", "ast_1", "source")); err != nil {
		t.Errorf("the blob is not in the folder: %v", err)
	}
	if st, err := os.Stat(cfg.ScratchDir); err != nil || !st.IsDir() {
		t.Errorf("scratch folder: %v", err)
	}
	if got := privateFolders(cfg); !slices.Equal(got, []string{cfg.ScratchDir, filepath.Join(dir, "blobs")}) {
		t.Errorf("private folders %v", got)
	}
}

func TestPrivateFolders_of_an_s3_store_are_the_scratch_folder_alone(t *testing.T) {
	cfg := Config{BlobURL: "s3://bucket/renderd?region=us-east-1", ScratchDir: t.TempDir()}
	if got := privateFolders(cfg); !slices.Equal(got, []string{cfg.ScratchDir}) {
		t.Errorf("private folders %v, want the scratch folder alone", got)
	}
}
