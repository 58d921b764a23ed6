package ffmpeg

import (
	"fmt"
	"syscall"
)

// encodeProcAttr puts ffmpeg in its own process group, so a terminal's
// Ctrl-C reaches the worker (which then stops ffmpeg itself) and not ffmpeg
// first; and has the kernel kill ffmpeg when the worker dies, so a worker
// killed with SIGKILL leaves no encode running for an attempt that another
// worker takes over. (The kernel sends it when the thread that started
// ffmpeg exits; Go only ends threads of goroutines that locked one, which
// the worker never does.)
func encodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// addressSpaceHardLimit is this process's hard RLIMIT_AS, which a child's
// cap cannot exceed.
func addressSpaceHardLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		return 0, fmt.Errorf("reading the address-space limit: %w", err)
	}
	return lim.Max, nil
}
