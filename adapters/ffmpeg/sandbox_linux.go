package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// confine adds the layers the kernel applies at clone time.
func (sb *Sandbox) confine(attr *syscall.SysProcAttr) {
	if sb.noNetwork {
		attr.Cloneflags |= syscall.CLONE_NEWNET
	}
	if sb.uid >= 0 && sb.landlock == 0 {
		// Without the helper, the kernel switches the user at exec. An
		// empty Groups drops every supplementary group.
		attr.Credential = &syscall.Credential{Uid: uint32(sb.uid), Gid: uint32(sb.gid), Groups: []uint32{}}
	}
}

// tryNewNetwork starts a trivial process in a new network namespace: it
// needs CAP_SYS_ADMIN (or unprivileged user namespaces, which renderd does
// not use).
func tryNewNetwork() error {
	bin, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("a new network namespace: %w", err)
	}
	return nil
}

// landlockABI is the Landlock ABI the kernel offers. Debian 12's kernel
// has Landlock built in; a kernel that does not load it answers EOPNOTSUPP.
func landlockABI() (int, error) {
	abi, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, fmt.Errorf("landlock: %w", errno)
	}
	return int(abi), nil
}

// selfTest runs the helper once on `probe -version` under the memory cap,
// as every run will use it: the configured tool, wherever it lies, must
// start confined.
func (sb *Sandbox) selfTest(probe string, memory int64) error {
	bin, err := exec.LookPath(probe)
	if err != nil {
		return err
	}
	cmd, rf, err := sb.command(context.Background(), bin, []string{"-version"}, memory)
	if err != nil {
		return err
	}
	defer rf.close()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the helper %q failed: %w: %s", sb.helper, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// System files a tool reads to start: the loader, its cache and the
// libraries, the CPU and memory topology libraries ask about, and the
// devices libavutil reads (a random seed, an empty input).
var (
	systemExec = []string{"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"}
	systemRead = []string{"/etc/ld.so.cache", "/sys/devices/system", "/dev/urandom", "/dev/null"}
)

// SandboxExec is the helper: `renderd sandbox-exec [--uid N --gid N]
// [--memory BYTES] [--no-sockets] [--files ro,rw,…] -- /path/to/tool
// args…`. It restricts itself with Landlock to the system files, the tool
// and the inherited descriptors 3, 4, … (ro: read, rw: read and write),
// with --no-sockets denies itself sockets (seccompSelf), drops to the user,
// caps its address space (RLIMIT_AS) and execs the tool, which keeps all of
// it. It returns only on failure, with sandboxExitCode after one line on
// stderr.
func SandboxExec(args []string) int {
	// Landlock and no_new_privs bind the calling thread, which must be the
	// one that execs.
	runtime.LockOSThread()
	if err := sandboxExec(args); err != nil {
		fmt.Fprintln(os.Stderr, sandboxMarker+err.Error())
	}
	return sandboxExitCode
}

func sandboxExec(args []string) error {
	uid, gid := -1, -1
	var modes []string
	var memory uint64
	noSockets := false
	for len(args) > 0 && args[0] != "--" {
		if args[0] == "--no-sockets" {
			noSockets = true
			args = args[1:]
			continue
		}
		if len(args) < 2 {
			return fmt.Errorf("option %q without a value", args[0])
		}
		var err error
		switch args[0] {
		case "--uid":
			uid, err = strconv.Atoi(args[1])
		case "--gid":
			gid, err = strconv.Atoi(args[1])
		case "--memory":
			memory, err = strconv.ParseUint(args[1], 10, 64)
		case "--files":
			modes = strings.Split(args[1], ",")
		default:
			err = fmt.Errorf("unknown option %q", args[0])
		}
		if err != nil {
			return err
		}
		args = args[2:]
	}
	if len(args) < 2 || !strings.HasPrefix(args[1], "/") {
		return errors.New(`usage: sandbox-exec [--uid N --gid N] [--memory BYTES] [--no-sockets] [--files ro,rw,…] -- /path/to/tool args…`)
	}
	tool := args[1:]
	if err := os.Chdir("/"); err != nil {
		return err
	}
	parent := os.Getppid()
	if err := landlockSelf(tool[0], modes); err != nil {
		return err
	}
	if noSockets {
		// After landlockSelf, which sets no_new_privs.
		if err := seccompSelf(); err != nil {
			return err
		}
	}
	if uid >= 0 {
		if gid < 0 {
			return errors.New("--uid needs --gid")
		}
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setresgid(gid, gid, gid); err != nil {
			return fmt.Errorf("setresgid: %w", err)
		}
		if err := syscall.Setresuid(uid, uid, uid); err != nil {
			return fmt.Errorf("setresuid: %w", err)
		}
		// A change of user clears the parent-death signal renderd asked for.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
			return fmt.Errorf("parent-death signal: %w", err)
		}
		if os.Getppid() != parent {
			return errors.New("renderd ended before the tool started")
		}
	}
	if memory > 0 {
		// Last, so the helper itself never runs under the cap: the limit
		// holds from the tool's first instruction, as prlimit's would.
		if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: memory, Max: memory}); err != nil {
			return fmt.Errorf("memory cap: %w", err)
		}
	}
	return syscall.Exec(tool[0], tool, []string{})
}

// landlockSelf restricts the calling thread: files only from the system
// paths, the tool, and the descriptors 3, 4, … with modes; no TCP; (ABI 6)
// no signals or abstract unix sockets outside its own domain.
func landlockSelf(tool string, modes []string) error {
	abi, err := landlockABI()
	if err != nil {
		return err
	}
	fs := uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG |
		unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM)
	truncate := uint64(0)
	if abi >= 2 {
		fs |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		truncate = unix.LANDLOCK_ACCESS_FS_TRUNCATE
		fs |= truncate
	}
	if abi >= 5 {
		fs |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	// The kernel takes the attribute as long as the ABI knows it.
	attr := unix.LandlockRulesetAttr{Handled_access_fs: fs}
	size := unsafe.Sizeof(attr.Handled_access_fs)
	if abi >= 4 {
		attr.Handled_access_net = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
		size += unsafe.Sizeof(attr.Handled_access_net)
	}
	if abi >= 6 {
		attr.Scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
		size += unsafe.Sizeof(attr.Scoped)
	}
	rfd, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return fmt.Errorf("landlock ruleset: %w", errno)
	}
	ruleset := int(rfd)
	defer syscall.Close(ruleset)

	readFile := uint64(unix.LANDLOCK_ACCESS_FS_READ_FILE)
	allowPath := func(path string, access uint64) error {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if errors.Is(err, syscall.ENOENT) {
			return nil // a layout without it (no /lib32, /lib64)
		}
		if err != nil {
			return fmt.Errorf("landlock: %s: %w", path, err)
		}
		defer unix.Close(fd)
		return allowFD(ruleset, fd, access, path)
	}
	dirRead := readFile | unix.LANDLOCK_ACCESS_FS_READ_DIR
	for _, p := range systemExec {
		if err := allowPath(p, dirRead|unix.LANDLOCK_ACCESS_FS_EXECUTE); err != nil {
			return err
		}
	}
	for _, p := range systemRead {
		access := readFile
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			access = dirRead
		}
		if err := allowPath(p, access); err != nil {
			return err
		}
	}
	if err := allowPath(tool, readFile|unix.LANDLOCK_ACCESS_FS_EXECUTE); err != nil {
		return err
	}
	for i, mode := range modes {
		access := readFile
		switch mode {
		case "ro":
		case "rw":
			access |= unix.LANDLOCK_ACCESS_FS_WRITE_FILE | truncate
		default:
			return fmt.Errorf("file mode %q (ro, rw)", mode)
		}
		if err := allowFD(ruleset, 3+i, access, "descriptor "+strconv.Itoa(3+i)); err != nil {
			return err
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0); errno != 0 {
		return fmt.Errorf("landlock restrict: %w", errno)
	}
	return nil
}

// allowFD adds a path-beneath rule for the file or folder fd refers to. A
// file takes only file rights.
func allowFD(ruleset, fd int, access uint64, what string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("landlock: %s: %w", what, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		access &= unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
			unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	rule := unix.LandlockPathBeneathAttr{Allowed_access: access, Parent_fd: int32(fd)}
	if _, _, errno := syscall.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&rule)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("landlock rule for %s: %w", what, errno)
	}
	return nil
}

// reclaim gives an output back to renderd's user with mode and no ACL, and
// fails when the media user gave it another name (a hard link).
func reclaim(f *os.File, mode os.FileMode) error {
	if err := f.Chown(os.Geteuid(), os.Getegid()); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	err := unix.Fremovexattr(int(f.Fd()), "system.posix_acl_access")
	if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("removing the output's ACL: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Nlink != 1 {
		return fmt.Errorf("the output has %d names after the run, want 1", st.Nlink)
	}
	return nil
}
