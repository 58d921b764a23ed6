//go:build !linux

package ffmpeg

import (
	"errors"
	"syscall"
)

// encodeProcAttr puts ffmpeg in its own process group (see the Linux
// version; elsewhere an orphaned ffmpeg runs to its end or its time limit).
func encodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// bytesRead is unknown outside Linux: only ffmpeg's output position tells
// an encode's progress.
func bytesRead(int) (int64, bool) { return 0, false }

func addressSpaceHardLimit() (uint64, error) {
	return 0, errors.New("capping ffmpeg's memory needs Linux (util-linux's prlimit)")
}
