package ffmpeg

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompArch is the audit architecture of the syscalls the filter
// expects, by GOARCH; 0 for an architecture the filter does not know.
func seccompArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// seccompAvailable says whether the helper can install the filter here.
func seccompAvailable() error {
	if seccompArch() == 0 {
		return fmt.Errorf("no seccomp filter for %s", runtime.GOARCH)
	}
	return nil
}

// x32 syscalls on x86_64 carry this bit in their number.
const x32SyscallBit = 0x40000000

// seccompSelf installs on the calling thread, which must have no_new_privs,
// a filter that makes socket, socketpair and io_uring_setup fail with
// EACCES and lets every other syscall through. Landlock and the empty
// network namespace leave unix sockets reached by path (a database's, a
// daemon's): with no socket at all there is nothing to connect. io_uring
// goes too, since its operations (IORING_OP_SOCKET) bypass seccomp. A
// syscall of another ABI (i386's int 0x80, x32) kills the process: the
// filter could not read its number.
func seccompSelf() error {
	arch := seccompArch()
	if arch == 0 {
		return errors.New("seccomp: unknown architecture " + runtime.GOARCH)
	}
	const (
		archOffset = 4 // struct seccomp_data: int nr; __u32 arch; …
		nrOffset   = 0
	)
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
	}
	deny := uint32(unix.SECCOMP_RET_ERRNO) | uint32(unix.EACCES)
	filter := []unix.SockFilter{
		/* 0 */ stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, archOffset),
		/* 1 */ jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, arch, 0, 7), // → 9 kill
		/* 2 */ stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, nrOffset),
		/* 3 */ jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, x32SyscallBit, 5, 0), // → 9 kill
		/* 4 */ jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, unix.SYS_SOCKET, 3, 0), // → 8 deny
		/* 5 */ jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, unix.SYS_SOCKETPAIR, 2, 0),
		/* 6 */ jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, unix.SYS_IO_URING_SETUP, 1, 0),
		/* 7 */ stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW),
		/* 8 */ stmt(unix.BPF_RET|unix.BPF_K, deny),
		/* 9 */ stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS),
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	runtime.KeepAlive(filter)
	return nil
}
