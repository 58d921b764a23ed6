//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

// scratchSweeps: flock tells a live process's folder from a dead one's.
const scratchSweeps = true

// tryLock takes an exclusive lock on f without waiting: false when another
// open file holds it. The kernel drops the lock when its holder's last
// descriptor closes, a kill -9 included.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) //nolint:gosec // a descriptor fits an int
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
