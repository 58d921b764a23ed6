//go:build !linux

package ffmpeg

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

var errLinuxOnly = errors.New("needs Linux")

func (sb *Sandbox) confine(attr *syscall.SysProcAttr) {
	if sb.uid >= 0 {
		attr.Credential = &syscall.Credential{Uid: uint32(sb.uid), Gid: uint32(sb.gid), Groups: []uint32{}}
	}
}

func tryNewNetwork() error { return errLinuxOnly }

func landlockABI() (int, error) { return 0, errLinuxOnly }

func seccompAvailable() error { return errLinuxOnly }

func (sb *Sandbox) selfTest(string, int64) error { return errLinuxOnly }

// SandboxExec is the Landlock helper, which needs Linux.
func SandboxExec([]string) int {
	fmt.Fprintln(os.Stderr, sandboxMarker+errLinuxOnly.Error())
	return sandboxExitCode
}

// reclaim gives an output back to renderd's user with mode.
func reclaim(f *os.File, mode os.FileMode) error {
	if err := f.Chown(os.Geteuid(), os.Getegid()); err != nil {
		return err
	}
	return f.Chmod(mode)
}
