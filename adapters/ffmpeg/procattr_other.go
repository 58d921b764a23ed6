//go:build !linux

package ffmpeg

import "syscall"

// encodeProcAttr puts ffmpeg in its own process group (see the Linux
// version; elsewhere an orphaned ffmpeg runs to its end or its timeout).
func encodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
