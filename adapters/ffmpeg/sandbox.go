package ffmpeg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// SandboxMode says how hard NewSandbox insists on its layers.
type SandboxMode string

const (
	// SandboxAuto uses every layer this host allows and logs one warning
	// per layer it does not.
	SandboxAuto SandboxMode = "auto"
	// SandboxStrict refuses to start without every layer.
	SandboxStrict SandboxMode = "strict"
	// SandboxOff runs the tools as before: renderd's user, its network.
	SandboxOff SandboxMode = "off"
)

// SandboxConfig is what the operator chose (docs/renders.md, "The media sandbox").
type SandboxConfig struct {
	Mode SandboxMode
	// User is the account the tools run as when renderd runs as root: a
	// name or a numeric uid. Ignored when renderd is not root.
	User string
	// Helper is the command that re-executes this binary as the sandbox
	// helper (SandboxExec): {"/usr/bin/renderd", "sandbox-exec"}. Without
	// it there is no Landlock layer.
	Helper []string
	// Probe is the ffprobe the self-test runs (`-version`) through the
	// helper, as every probe will: "" is "ffprobe" on PATH.
	Probe string
	// Memory is the address-space cap (bytes, 0: none) the tools run
	// under; the self-test runs under it too.
	Memory int64
	// Private are folders the media user must not reach by path: the blob
	// store, whose inputs the sandbox makes readable to the user's group
	// for good (see grantRead). Checked at start when the tools run as
	// another user: a folder the user can enter is a warning (auto) or a
	// refusal (strict).
	Private []string
}

// Sandbox confines every ffmpeg and ffprobe this package starts, in layers
// (docs/renders.md, "The media sandbox"):
//
//   - user: when renderd runs as root, the tools run as an unprivileged
//     account with no supplementary groups, so they can read neither the
//     blob store (renderd's own, mode 0750) nor renderd's environment in
//     /proc; the files a run needs are opened by renderd and handed over
//     as descriptors (read as file:/proc/self/fd/N), the inputs made
//     readable to the account's group and the output owned by it for the
//     run only;
//   - network: a new, empty network namespace (CLONE_NEWNET): no
//     interface but a loopback that is down;
//   - landlock: the tool can open only the system files it needs to load
//     (/usr, /lib*, /etc/ld.so.cache, /sys/devices/system, /dev/urandom,
//     /dev/null) and the run's own descriptors, cannot connect or bind TCP, signal or ptrace
//     anything outside its own run, or reach an abstract unix socket.
//     Landlock restricts the calling thread, so a small helper
//     (SandboxExec) sets it up and then execs the tool;
//   - seccomp: the helper also installs a filter under which socket,
//     socketpair and io_uring_setup fail (EACCES), so the tool cannot reach
//     a unix socket by path either (a database's, a daemon's), which
//     neither Landlock nor the network namespace stops.
//
// A nil *Sandbox runs the tools unconfined, as renderd's user.
type Sandbox struct {
	uid, gid  int  // -1 when the tools keep renderd's user
	noNetwork bool // start the tool in a new network namespace
	landlock  int  // the Landlock ABI in use, 0 for none
	seccomp   bool // the helper denies the tool sockets (seccompSelf)
	helper    []string
}

// NewSandbox works out which layers this host allows, logging one warning
// per layer it lacks (or failing under SandboxStrict). SandboxOff returns a
// nil Sandbox.
func NewSandbox(cfg SandboxConfig, log *slog.Logger) (*Sandbox, error) {
	switch cfg.Mode {
	case SandboxOff:
		return nil, nil
	case SandboxAuto, SandboxStrict, "":
	default:
		return nil, fmt.Errorf("media sandbox: unknown mode %q (auto, strict, off)", cfg.Mode)
	}
	strict := cfg.Mode == SandboxStrict
	sb := &Sandbox{uid: -1, gid: -1}
	var missing []error
	lack := func(layer string, why error) {
		missing = append(missing, fmt.Errorf("%s: %w", layer, why))
		log.Warn("media sandbox: a layer is unavailable; the tools run without it", "layer", layer, "reason", why.Error())
	}

	if os.Geteuid() == 0 {
		uid, gid, err := lookupUser(cfg.User)
		if err != nil {
			return nil, fmt.Errorf("media sandbox: RENDERD_MEDIA_USER: %w", err)
		}
		sb.uid, sb.gid = uid, gid
	} else {
		log.Info("media sandbox: renderd does not run as root; the media tools run as its own user", "uid", os.Geteuid())
	}
	if sb.uid >= 0 {
		for _, dir := range cfg.Private {
			switch reachable, err := reachableBy(dir, sb.uid, sb.gid); {
			case err != nil:
				return nil, fmt.Errorf("media sandbox: %w", err)
			case reachable:
				why := fmt.Errorf("%s can be entered by the media user (uid %d, gid %d), and the inputs the tools read are readable to its group for good: make it (or a folder above it) 0750 or 0700 (docs/renders.md, \"The media sandbox\")", dir, sb.uid, sb.gid)
				missing = append(missing, fmt.Errorf("user: %w", why))
				log.Warn("media sandbox: a private folder is reachable by the media user", "folder", dir, "reason", why.Error())
			}
		}
	}
	if err := tryNewNetwork(); err != nil {
		lack("network", err)
	} else {
		sb.noNetwork = true
	}
	switch abi, err := landlockABI(); {
	case err != nil:
		lack("landlock", err)
	case len(cfg.Helper) == 0:
		lack("landlock", errors.New("no helper command to apply it"))
	default:
		sb.landlock, sb.helper = abi, cfg.Helper
		sb.seccomp = seccompAvailable() == nil
		// The helper must work before any upload depends on it.
		if err := sb.selfTest(cmp.Or(cfg.Probe, "ffprobe"), cfg.Memory); err != nil {
			sb.landlock, sb.helper, sb.seccomp = 0, nil, false
			lack("landlock", err)
		}
	}
	switch err := seccompAvailable(); {
	case sb.seccomp:
	case err != nil:
		lack("seccomp", err)
	default:
		lack("seccomp", errors.New("the seccomp filter is installed by the Landlock helper, which is not in use"))
	}
	if strict && len(missing) > 0 {
		return nil, fmt.Errorf("media sandbox is strict: %w", errors.Join(missing...))
	}
	log.Info("media sandbox", "user", sb.uid >= 0, "uid", sb.uid, "network_namespace", sb.noNetwork, "landlock_abi", sb.landlock,
		"seccomp", sb.seccomp)
	return sb, nil
}

// LandlockABI is the Landlock ABI this kernel offers, or why there is none.
func LandlockABI() (int, error) { return landlockABI() }

// Layers names the layers in force, for logs and tests.
func (sb *Sandbox) Layers() []string {
	if sb == nil {
		return nil
	}
	var l []string
	if sb.uid >= 0 {
		l = append(l, "user")
	}
	if sb.noNetwork {
		l = append(l, "network")
	}
	if sb.landlock > 0 {
		l = append(l, "landlock")
	}
	if sb.seccomp {
		l = append(l, "seccomp")
	}
	return l
}

// reachableBy says whether uid, with gid as its only group, can enter dir
// by path: every folder from / down to dir lets it search.
func reachableBy(dir string, uid, gid int) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	for p := abs; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return false, err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return false, fmt.Errorf("%s: no owner to check", p)
		}
		mode := st.Mode().Perm()
		var search bool
		switch {
		case int(sys.Uid) == uid:
			search = mode&0o100 != 0
		case int(sys.Gid) == gid:
			search = mode&0o010 != 0
		default:
			search = mode&0o001 != 0
		}
		if !search {
			return false, nil
		}
		if p == filepath.Dir(p) {
			return true, nil
		}
	}
}

// lookupUser resolves a name or a numeric uid to an unprivileged account.
func lookupUser(name string) (uid, gid int, err error) {
	if name == "" {
		return 0, 0, errors.New("renderd runs as root and no media user is set")
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.Atoi(name); numErr != nil {
			return 0, 0, err
		}
		if u, err = user.LookupId(name); err != nil {
			return 0, 0, err
		}
	}
	uid, errU := strconv.Atoi(u.Uid)
	gid, errG := strconv.Atoi(u.Gid)
	if errU != nil || errG != nil {
		return 0, 0, fmt.Errorf("user %q has no numeric ids", name)
	}
	if uid == 0 || gid == 0 {
		return 0, 0, fmt.Errorf("user %q is root or in root's group", name)
	}
	return uid, gid, nil
}

// A sandboxed run's files. Every file the arguments name is opened here and
// handed to the tool as a descriptor: the tool needs no path into the blob
// store or the scratch folders, and Landlock allows exactly these files.
type runFiles struct {
	files   []*os.File
	outputs []*os.File // owned by the media user during the run
	modes   []os.FileMode
	names   []string // "input", "output", "filter script", per file
	args    []string // args with the paths replaced by /proc/self/fd/N
}

// fileArgs finds the files args name: every "-i file:<path>", a
// "-filter_complex_script <path>", and the output, a last argument
// "file:<path>" that is not an input.
func fileArgs(args []string) (reads map[int]string, output int) {
	reads, output = map[int]string{}, -1
	for i := 0; i+1 < len(args); i++ {
		switch {
		case args[i] == "-i" && strings.HasPrefix(args[i+1], "file:"):
			reads[i+1] = "input"
		case args[i] == "-filter_complex_script":
			reads[i+1] = "filter script"
		}
	}
	if n := len(args); n > 1 && strings.HasPrefix(args[n-1], "file:") && args[n-2] != "-i" {
		output = n - 1
	}
	return reads, output
}

// openRunFiles opens the files of args and rewrites args to read them
// through the descriptors the tool inherits (3, 4, …). Under a media user,
// inputs become readable to its group and the output its own; close puts
// the output back.
func (sb *Sandbox) openRunFiles(args []string) (*runFiles, error) {
	rf := &runFiles{args: append([]string(nil), args...)}
	reads, output := fileArgs(args)
	add := func(i int, name string, f *os.File) {
		fd := 3 + len(rf.files)
		rf.files = append(rf.files, f)
		rf.names = append(rf.names, name)
		ref := "/proc/self/fd/" + strconv.Itoa(fd)
		if strings.HasPrefix(args[i], "file:") {
			ref = "file:" + ref
		}
		rf.args[i] = ref
	}
	for i := range args {
		name, ok := reads[i]
		if !ok {
			continue
		}
		f, err := os.Open(strings.TrimPrefix(args[i], "file:"))
		if err != nil {
			rf.close()
			return nil, err
		}
		if err := sb.grantRead(f); err != nil {
			f.Close()
			rf.close()
			return nil, err
		}
		add(i, name, f)
	}
	if output >= 0 {
		f, err := os.OpenFile(strings.TrimPrefix(args[output], "file:"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			rf.close()
			return nil, err
		}
		if sb.uid >= 0 {
			st, err := f.Stat()
			if err != nil {
				f.Close()
				rf.close()
				return nil, err
			}
			if err := f.Chown(sb.uid, sb.gid); err != nil {
				f.Close()
				rf.close()
				return nil, fmt.Errorf("handing the output to the media user: %w", err)
			}
			rf.outputs = append(rf.outputs, f)
			rf.modes = append(rf.modes, st.Mode().Perm())
		}
		add(output, "output", f)
	}
	return rf, nil
}

// grantRead makes f readable to the media user's group (it runs with no
// other group). The file stays unreachable by path: the folders above it
// are renderd's own.
func (sb *Sandbox) grantRead(f *os.File) error {
	if sb.uid < 0 {
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := f.Chown(-1, sb.gid); err != nil {
		return fmt.Errorf("granting the media user read access: %w", err)
	}
	if mode := st.Mode().Perm(); mode&0o040 == 0 {
		return f.Chmod(mode | 0o040)
	}
	return nil
}

// close takes the outputs back from the media user and closes every file.
// During the run the media user owned each output and could have changed
// its mode (setuid, world-writable), given it an ACL, or hard-linked it
// somewhere it can reach: close restores renderd's owner, the mode the file
// had and no ACL, and fails when the file has another name. An error means
// the output must not be used.
func (rf *runFiles) close() error {
	if rf == nil {
		return nil
	}
	var errs []error
	for i, f := range rf.outputs {
		errs = append(errs, reclaim(f, rf.modes[i]))
	}
	for _, f := range rf.files {
		errs = append(errs, f.Close())
	}
	rf.outputs, rf.files = nil, nil
	return errors.Join(errs...)
}

// replacements are the stable names of the run's descriptors, for messages.
func (rf *runFiles) replacements() []string {
	if rf == nil {
		return nil
	}
	var oldnew []string
	for i, name := range rf.names {
		ref := "/proc/self/fd/" + strconv.Itoa(3+i)
		oldnew = append(oldnew, "file:"+ref, name, ref, name)
	}
	return oldnew
}

// command is the exec.Cmd that runs bin with args under the memory cap
// (see toolCommand) and the sandbox, with an empty environment (FFREPORT
// and AV_LOG_FORCE_* would otherwise let renderd's environment change what
// ffmpeg writes, and nothing of renderd's environment is the tools'
// business). Its files, when the sandbox hands them over, must be closed
// once the tool has exited.
func (sb *Sandbox) command(ctx context.Context, bin string, args []string, memory int64) (*exec.Cmd, *runFiles, error) {
	var rf *runFiles
	if sb != nil && (sb.uid >= 0 || sb.landlock > 0) {
		var err error
		if rf, err = sb.openRunFiles(args); err != nil {
			return nil, nil, err
		}
		args = rf.args
	}
	argv := append([]string{bin}, args...)
	if memory > 0 || (sb != nil && sb.landlock > 0) {
		// prlimit and the helper exec with an empty environment: they get
		// full paths rather than search a PATH they do not have.
		path, err := exec.LookPath(bin)
		if err != nil {
			rf.close()
			return nil, nil, err
		}
		argv[0] = path
	}
	if sb != nil && sb.landlock > 0 {
		// The helper sets the memory cap on itself just before it execs
		// the tool: a prlimit in between would be the program Landlock
		// lets run, and a tool outside the system folders could not start.
		helper := append([]string(nil), sb.helper...)
		if sb.uid >= 0 {
			helper = append(helper, "--uid", strconv.Itoa(sb.uid), "--gid", strconv.Itoa(sb.gid))
		}
		if memory > 0 {
			helper = append(helper, "--memory", strconv.FormatInt(memory, 10))
		}
		if sb.seccomp {
			helper = append(helper, "--no-sockets")
		}
		if rf != nil && len(rf.files) > 0 {
			modes := make([]string, len(rf.files))
			for i, name := range rf.names {
				modes[i] = "ro"
				if name == "output" {
					modes[i] = "rw"
				}
			}
			helper = append(helper, "--files", strings.Join(modes, ","))
		}
		argv = append(append(helper, "--"), argv...)
	} else if memory > 0 {
		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			rf.close()
			return nil, nil, err
		}
		argv = append([]string{prlimit, "--as=" + strconv.FormatInt(memory, 10), "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{}
	cmd.SysProcAttr = sb.procAttr()
	if rf != nil {
		cmd.ExtraFiles = rf.files
	}
	return cmd, rf, nil
}

// sandboxExitCode is the helper's exit status when it could not set the
// sandbox up: the tool never ran, so the failure is the worker's, never the
// file's.
const sandboxExitCode = 125

// sandboxMarker starts every line the helper writes.
const sandboxMarker = "renderd sandbox-exec: "

// Exit statuses of a launcher (the helper, prlimit) that could not run the
// tool: 126, found but could not be executed; 127, not found (also the
// loader's status when it cannot load the tool's libraries).
const (
	cannotExecuteCode = 126
	notFoundCode      = 127
)

// helperFailure returns the worker's error for a run whose tool never ran
// (the helper could not set the sandbox up, or a launcher could not start
// the tool: exit status 125, 126 or 127), or nil when the tool itself ran.
// Such a failure is the worker's, never the file's. A loader that could not
// map a library under the memory cap is left to the caller's outOfMemory.
func helperFailure(err error, stderr string) error {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return nil
	}
	switch exitErr.ExitCode() {
	case sandboxExitCode:
		for _, line := range strings.Split(stderr, "\n") {
			if msg, ok := strings.CutPrefix(strings.TrimSpace(line), sandboxMarker); ok {
				return fmt.Errorf("media sandbox: %s", msg)
			}
		}
		return fmt.Errorf("media sandbox: the helper failed (exit status %d): %s", sandboxExitCode, lastLine(stderr))
	case cannotExecuteCode, notFoundCode:
		if strings.Contains(stderr, "failed to map segment") {
			return nil
		}
		return fmt.Errorf("the media tool could not be started (exit status %d): %s", exitErr.ExitCode(), lastLine(stderr))
	}
	return nil
}

// lastLine is the last non-empty line of s, for a worker's log.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// procAttr is the tools' SysProcAttr: their own process group, killed with
// the worker (see encodeProcAttr), and the sandbox's network namespace and,
// without the helper, its user.
func (sb *Sandbox) procAttr() *syscall.SysProcAttr {
	attr := encodeProcAttr()
	if sb == nil {
		return attr
	}
	sb.confine(attr)
	return attr
}
