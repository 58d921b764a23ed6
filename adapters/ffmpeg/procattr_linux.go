package ffmpeg

import "syscall"

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
