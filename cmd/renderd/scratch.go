package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A process's scratch folder is a folder of its own under
// RENDERD_SCRATCH_DIR, "proc-<pid>-<random>", holding a lock file the
// process keeps locked for its whole life. A process killed -9 (or by the
// OOM killer, or with its node) removes nothing: its copies of sources, as
// large as the largest upload, would stay on the disk forever. The kernel
// releases a dead process's lock, so the next process to start on that
// root (in Kubernetes the restarted container, on the same emptyDir) finds
// the folders nobody holds and removes them.
const (
	scratchPrefix = "proc-"
	scratchLock   = ".lock"
	// scratchNewborn is how long after its lock file was made (its
	// process's start) a folder without a held lock is left alone: between
	// making its folder and locking the file a process holds nothing yet.
	// Short, so that a process killed soon after its start has its folder
	// removed by its restart.
	scratchNewborn = 10 * time.Second
)

// claimScratch makes this process's scratch folder under root, locks it,
// and removes the folders of processes that died holding theirs. release
// removes the folder and drops the lock; call it once nothing uses the
// folder.
func claimScratch(root string, log *slog.Logger) (dir string, release func(), err error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return "", nil, fmt.Errorf("scratch folder: %w", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	dir = filepath.Join(root, fmt.Sprintf("%s%d-%s", scratchPrefix, os.Getpid(), hex.EncodeToString(b)))
	if err := os.Mkdir(dir, 0o750); err != nil {
		return "", nil, fmt.Errorf("scratch folder: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, scratchLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		var held bool
		if held, err = tryLock(lock); err == nil && !held {
			err = errors.New("locked by another process")
		}
	}
	if err != nil {
		if lock != nil {
			_ = lock.Close()
		}
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("scratch folder %s: lock: %w", dir, err)
	}
	if scratchSweeps {
		sweepScratch(root, dir, time.Now(), log)
	}
	return dir, func() {
		_ = os.RemoveAll(dir)
		_ = lock.Close()
	}, nil
}

// sweepScratch removes the folders under root, but own, that no live
// process holds: their lock can be taken, and they are older than a
// newborn's. It never fails the start: a folder it cannot remove is
// logged and tried again at the next start.
func sweepScratch(root, own string, now time.Time, log *slog.Logger) {
	entries, err := os.ReadDir(root)
	if err != nil {
		log.Warn("scratch folder: cannot list the folders of earlier processes", "folder", root, "error", err)
		return
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() || !strings.HasPrefix(e.Name(), scratchPrefix) || dir == own {
			continue
		}
		if born, err := scratchBorn(dir); err != nil || now.Sub(born) < scratchNewborn {
			continue
		}
		removed, err := removeUnheld(dir)
		switch {
		case err != nil:
			log.Warn("scratch folder of an earlier process not removed", "folder", dir, "error", err)
		case removed:
			log.Info("scratch folder of a process that ended without removing it removed", "folder", dir)
		}
	}
}

// scratchBorn is when dir's process made it: its lock file's time, which
// no write changes (the folder's own time moves with every job's folder
// made in it); the folder's for a folder without one.
func scratchBorn(dir string) (time.Time, error) {
	info, err := os.Stat(filepath.Join(dir, scratchLock))
	if errors.Is(err, fs.ErrNotExist) {
		info, err = os.Stat(dir)
	}
	if err != nil {
		return time.Time{}, err
	}
	return info.ModTime(), nil
}

// removeUnheld removes dir if no process holds its lock (or it has none),
// holding the lock itself while it does.
func removeUnheld(dir string) (bool, error) {
	lock, err := os.OpenFile(filepath.Join(dir, scratchLock), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// Old, and never locked: its process died before it locked.
		return true, os.RemoveAll(dir)
	}
	if err != nil {
		return false, err
	}
	defer lock.Close()
	held, err := tryLock(lock)
	if err != nil || !held {
		return false, err
	}
	return true, os.RemoveAll(dir)
}
