//go:build unix

package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// deadScratch makes a folder as a process killed -9 leaves it: its lock
// file, no lock held, a fetched copy, made born ago.
func deadScratch(t *testing.T, root, name string, born time.Duration, lock bool) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dir, "fetch"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fetch", "source"), []byte("a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-born)
	if lock {
		if err := os.WriteFile(filepath.Join(dir, scratchLock), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, scratchLock), at, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(dir, at, at); err != nil {
		t.Fatal(err)
	}
	return dir
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Stat(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestClaimScratch_removes_what_dead_processes_left_and_nothing_a_live_one_holds(t *testing.T) {
	root := t.TempDir()
	live, releaseLive, err := claimScratch(root, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseLive()
	// The live process's folder, as old as a dead one's: its lock is held.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(live, scratchLock), old, old); err != nil {
		t.Fatal(err)
	}
	dead := deadScratch(t, root, "proc-1-dead", time.Hour, true)
	// Killed seconds after its start and restarted at once: its folder's
	// time moved with its jobs, its lock file's did not.
	deadSoon := deadScratch(t, root, "proc-2-soon", 15*time.Second, true)
	unlocked := deadScratch(t, root, "proc-3-nolock", time.Hour, false)
	newborn := deadScratch(t, root, "proc-4-newborn", time.Second, true)
	other := deadScratch(t, root, "not-ours", time.Hour, false)

	own, release, err := claimScratch(root, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(own), scratchPrefix) || filepath.Dir(own) != root {
		t.Errorf("own folder %s: want %s<pid>-<random> in %s", own, scratchPrefix, root)
	}
	for _, gone := range []string{dead, deadSoon, unlocked} {
		if exists(t, gone) {
			t.Errorf("%s: a dead process's folder is still there", filepath.Base(gone))
		}
	}
	for _, kept := range []string{live, newborn, other, own} {
		if !exists(t, kept) {
			t.Errorf("%s: removed", filepath.Base(kept))
		}
	}
	release()
	if exists(t, own) {
		t.Error("release left the folder")
	}
	if !exists(t, live) {
		t.Error("release removed another process's folder")
	}
}

func TestClaimScratch_fails_on_a_root_it_cannot_make(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := claimScratch(filepath.Join(file, "scratch"), quiet); err == nil || !strings.Contains(err.Error(), "scratch folder") {
		t.Fatalf("a root under a file: %v, want a scratch folder error", err)
	}
}
