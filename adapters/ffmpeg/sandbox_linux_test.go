package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// The test binary is its own sandbox helper, as renderd is in production
// (`renderd sandbox-exec`).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "sandbox-exec" {
		os.Exit(SandboxExec(os.Args[2:]))
	}
	if len(os.Args) > 2 && os.Args[1] == "dial-unix" {
		// A tool that tries a unix socket by path (see
		// TestSandbox_seccomp_layer_cannot_reach_a_unix_socket_by_path).
		conn, err := net.Dial("unix", os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		conn.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testHelper(t testing.TB) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "sandbox-exec"}
}

// fullSandbox is every layer this machine allows, as renderd starts it.
func fullSandbox(t testing.TB) *Sandbox {
	t.Helper()
	sb, err := NewSandbox(SandboxConfig{Mode: SandboxAuto, User: "nobody", Helper: testHelper(t)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// Each layer alone, so each test proves its own layer; skipped, saying why,
// only when this kernel or this user cannot have it.
func userOnly(t *testing.T) *Sandbox {
	if os.Geteuid() != 0 {
		t.Skip("the user layer applies when renderd runs as root; these tests do not")
	}
	uid, gid, err := lookupUser("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	return &Sandbox{uid: uid, gid: gid}
}

func networkOnly(t *testing.T) *Sandbox {
	if err := tryNewNetwork(); err != nil {
		t.Skipf("this kernel refuses a new network namespace to this process: %v", err)
	}
	return &Sandbox{uid: -1, gid: -1, noNetwork: true}
}

func landlockOnly(t *testing.T) *Sandbox {
	abi, err := landlockABI()
	if err != nil {
		t.Skipf("this kernel has no Landlock: %v", err)
	}
	return &Sandbox{uid: -1, gid: -1, landlock: abi, helper: testHelper(t)}
}

// runIn runs bin with args in sb and returns its stdout, stderr and error.
func runIn(t *testing.T, sb *Sandbox, bin string, args ...string) (string, string, error) {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Fatal(err)
	}
	cmd, files, err := sb.command(t.Context(), path, args, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer files.close()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

func TestSandbox_reports_the_layers_this_kernel_allows(t *testing.T) {
	var logs bytes.Buffer
	sb, err := NewSandbox(SandboxConfig{Mode: SandboxAuto, User: "nobody", Helper: testHelper(t)}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("layers here: %v (euid %d)\n%s", sb.Layers(), os.Geteuid(), logs.String())
	if os.Geteuid() == 0 && !strings.Contains(strings.Join(sb.Layers(), ","), "user") {
		t.Errorf("renderd is root but the tools keep its user: %v", sb.Layers())
	}
	if warned := strings.Count(logs.String(), "level=WARN"); warned != 4-len(sb.Layers())+boolInt(os.Geteuid() != 0) {
		t.Errorf("%d warnings for layers %v: one per missing layer, want\n%s", warned, sb.Layers(), logs.String())
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSandbox_strict_refuses_to_start_without_a_layer(t *testing.T) {
	_, err := NewSandbox(SandboxConfig{Mode: SandboxStrict, User: "nobody"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "landlock") {
		t.Fatalf("strict without a helper: %v, want a refusal naming landlock", err)
	}
	if _, err := NewSandbox(SandboxConfig{Mode: "loose"}, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if sb, err := NewSandbox(SandboxConfig{Mode: SandboxOff}, nil); sb != nil || err != nil {
		t.Errorf("off: %v, %v; want no sandbox", sb, err)
	}
	if os.Geteuid() == 0 {
		if _, err := NewSandbox(SandboxConfig{Mode: SandboxAuto, User: "root"}, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
			t.Error("root was accepted as the media user")
		}
	}
}

func TestSandbox_user_layer_runs_the_tool_unprivileged_without_groups(t *testing.T) {
	for name, sb := range map[string]func(*testing.T) *Sandbox{
		"alone": userOnly,
		"through_the_helper": func(t *testing.T) *Sandbox {
			sb := landlockOnly(t)
			u := userOnly(t)
			sb.uid, sb.gid = u.uid, u.gid
			return sb
		},
	} {
		t.Run(name, func(t *testing.T) {
			sb := sb(t)
			uid, stderr, err := runIn(t, sb, "id", "-u")
			if err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			groups, _, _ := runIn(t, sb, "id", "-G")
			if want := strconv.Itoa(sb.uid); strings.TrimSpace(uid) != want || strings.TrimSpace(groups) != strconv.Itoa(sb.gid) {
				t.Errorf("id -u: %q, id -G: %q; want uid %d and its group %d alone", uid, groups, sb.uid, sb.gid)
			}
			// renderd's environment (the test's) is out of reach.
			_, stderr, err = runIn(t, sb, "cat", "/proc/"+strconv.Itoa(os.Getpid())+"/environ")
			if err == nil || !strings.Contains(stderr, "Permission denied") {
				t.Errorf("reading renderd's environ: %v %q, want Permission denied", err, stderr)
			}
		})
	}
}

func TestSandbox_network_layer_cannot_reach_a_loopback_listener(t *testing.T) {
	for name, sb := range map[string]func(*testing.T) *Sandbox{"namespace": networkOnly, "landlock": landlockOnly} {
		t.Run(name, func(t *testing.T) {
			sb := sb(t)
			if name == "landlock" && sb.landlock < 4 {
				t.Skipf("Landlock ABI %d has no TCP rules (4 has)", sb.landlock)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			_, stderr, err := runIn(t, sb, "ffmpeg", "-hide_banner", "-nostdin", "-i", "tcp://"+ln.Addr().String(), "-f", "null", "-")
			if err == nil {
				t.Fatalf("ffmpeg read from the listener: %s", stderr)
			}
			// Had it connected, the connection would wait in the backlog.
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
			if c, err := ln.Accept(); err == nil {
				c.Close()
				t.Fatalf("the sandboxed ffmpeg connected to %s", ln.Addr())
			}
			t.Logf("ffmpeg: %s", strings.TrimSpace(stderr))
		})
	}
}

func TestSandbox_landlock_opens_only_the_runs_files(t *testing.T) {
	sb := landlockOnly(t)
	// Readable to anyone by path: only Landlock stands in the way.
	dir, err := os.MkdirTemp("", "renderd-landlock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	src := mediatest.AudioM4A(t)
	other := filepath.Join(dir, "other.m4a")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runIn(t, sb, "cat", other); err == nil || !strings.Contains(stderr, "Permission denied") {
		t.Errorf("cat of a file outside the run: %v %q, want Permission denied", err, stderr)
	}
	if _, stderr, err := runIn(t, sb, "cat", "/proc/"+strconv.Itoa(os.Getpid())+"/environ"); err == nil {
		t.Errorf("read renderd's environ: %q", stderr)
	}
	// The run's own input opens; a second file the run was not given does not.
	_, stderr, err := runIn(t, sb, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", "file:"+src, "-f", "null", "-")
	if err != nil {
		t.Fatalf("the run's own input: %v %s", err, stderr)
	}
	_, stderr, err = runIn(t, sb, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", "file:"+src, "-i", other, "-f", "null", "-")
	if err == nil || !strings.Contains(stderr, "Permission denied") {
		t.Errorf("a file the run was not given: %v %q, want Permission denied", err, stderr)
	}
	// Nor can it write beside its output.
	if _, stderr, err := runIn(t, sb, "touch", filepath.Join(dir, "new")); err == nil {
		t.Errorf("created a file: %q", stderr)
	}
}

// Probe, silence detection and encode in every layer here: the tools get
// their files as descriptors, from folders they could not enter.
func TestSandbox_probe_detect_and_encode_work_confined(t *testing.T) {
	sb := fullSandbox(t)
	t.Logf("layers: %v", sb.Layers())
	src := mediatest.Landscape1080p(t) // in a 0700 folder of the test's user
	limits := Limits{Sandbox: sb}
	prober := NewProber(mediatest.FFprobe(t), 30*time.Second, limits)
	info, err := prober.Probe(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	input, err := prober.InputArgs(src, info.Container)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.part")
	if err := os.WriteFile(out, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "filter")
	if err := os.WriteFile(script, []byte("[0:V:0]trim=start=0.5:end=1.5,setpts=PTS-STARTPTS[v]"), 0o600); err != nil {
		t.Fatal(err)
	}
	var pid int
	enc := NewEncoder(mediatest.FFmpeg(t), time.Second, EncodeLimits{Sandbox: sb}, prober)
	enc.started = func(p int) { pid = p }
	args := encodeArgs(input...)
	args = append(args, "-filter_complex_script", script, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-f", "mp4", "file:"+out)
	if err := enc.Run(t.Context(), args, nil); err != nil {
		t.Fatal(err)
	}
	if pid == 0 {
		t.Fatal("no pid")
	}
	got, err := enc.Verify(t.Context(), out, encoders.Expect{Container: "mp4", VideoCodec: "h264", Width: 1920, Height: 1080, Duration: time.Second, FrameRate: info.FrameRate})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("confined cut: %v", got.Duration)
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if owner := st.Sys().(*syscall.Stat_t).Uid; int(owner) != os.Geteuid() {
		t.Errorf("the output is owned by uid %d after the run, want renderd's %d", owner, os.Geteuid())
	}
	if _, _, err := NewSilenceDetector(mediatest.FFmpeg(t), prober, 30*time.Second).DetectSilences(t.Context(), mediatest.WithSilences(t),
		domain.SilenceRemoval{MinSilence: 500 * time.Millisecond, ThresholdDB: -35}); err != nil {
		t.Fatal(err)
	}
}

// The tools see an empty environment: never DATABASE_URL, secrets or
// AWS_*, whatever renderd's holds. Read from the running process itself.
func TestSandbox_tools_get_an_empty_environment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://secret@db/renderd")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	for name, sb := range map[string]*Sandbox{"unconfined": nil, "sandboxed": fullSandbox(t)} {
		t.Run(name, func(t *testing.T) {
			cmd, files, err := sb.command(t.Context(), mediatest.FFmpeg(t), []string{"-version"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			files.close()
			if cmd.Env == nil || len(cmd.Env) != 0 {
				t.Errorf("Env = %q, want empty (nil would inherit renderd's)", cmd.Env)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			type seen struct {
				exe, environ string
				err          error
			}
			environ := make(chan seen, 1)
			enc := NewEncoder(mediatest.FFmpeg(t), time.Second, EncodeLimits{Sandbox: sb}, nil)
			enc.started = func(pid int) {
				go func() {
					defer cancel()
					proc := "/proc/" + strconv.Itoa(pid)
					var s seen
					for range 500 { // until ffmpeg runs, not the helper or prlimit
						s.exe, s.err = os.Readlink(proc + "/exe")
						if s.err != nil || filepath.Base(s.exe) == "ffmpeg" {
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
					if s.err == nil {
						var b []byte
						b, s.err = os.ReadFile(proc + "/environ")
						s.environ = string(b)
					}
					environ <- s
				}()
			}
			err = enc.Run(ctx, longHDEncode(filepath.Join(t.TempDir(), "out.mp4")), nil)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("run: %v", err)
			}
			got := <-environ
			if got.err != nil || filepath.Base(got.exe) != "ffmpeg" {
				t.Fatalf("could not read ffmpeg's environment: %q %v", got.exe, got.err)
			}
			if got.environ != "" {
				t.Errorf("ffmpeg's environment: %q, want empty", got.environ)
			}
		})
	}
}

// Messages made from real failures name the run's files, never a path.
func TestSandbox_failure_messages_keep_no_server_paths(t *testing.T) {
	for name, sb := range map[string]*Sandbox{"unconfined": nil, "sandboxed": fullSandbox(t)} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			corrupt := mediatest.Corrupt(t)
			_, err := NewProber(mediatest.FFprobe(t), 30*time.Second, Limits{Sandbox: sb}).Probe(t.Context(), corrupt)
			var pe *ProbeError
			if !errors.As(err, &pe) || pe.Code != domain.FailureSourceUnreadable {
				t.Fatalf("probe of a corrupt file: %v", err)
			}
			checkNoPaths(t, pe.Message, dir, corrupt)

			enc := NewEncoder(mediatest.FFmpeg(t), time.Second, EncodeLimits{Sandbox: sb}, nil)
			out := filepath.Join(dir, "out.mp4")
			err = enc.Run(t.Context(), encodeArgs("-i", "file:"+corrupt, "-c:v", "libx264", "-f", "mp4", "file:"+out), nil)
			ee := assertEncodeCode(t, err, domain.FailureEncodeFailed)
			checkNoPaths(t, ee.Message, dir, corrupt)
			if !strings.Contains(ee.Message, "input: ") {
				t.Errorf("message %q does not name the input", ee.Message)
			}

			script := filepath.Join(dir, "filter")
			os.WriteFile(script, []byte("nosuchfilter"), 0o600)
			err = enc.Run(t.Context(), encodeArgs("-f", "lavfi", "-i", "testsrc2=duration=1", "-filter_complex_script", script,
				"-f", "mp4", "file:"+out), nil)
			ee = assertEncodeCode(t, err, domain.FailureEncodeFailed)
			checkNoPaths(t, ee.Message, dir, corrupt)
			t.Logf("%s", ee.Message)
		})
	}
}

func checkNoPaths(t *testing.T, msg string, paths ...string) {
	t.Helper()
	for _, p := range append(paths, "/proc/", "/tmp/", os.TempDir()) {
		if strings.Contains(msg, p) {
			t.Errorf("message %q names %s", msg, p)
		}
	}
}

func TestScrub_names_known_files_and_hides_other_paths(t *testing.T) {
	p := newPathNames(append(pathPairs("/srv/blobs/a/src", "input"), "file:/proc/self/fd/3", "input0", "/proc/self/fd/3", "input0",
		"/proc/self/fd/4", "output"))
	for in, want := range map[string]string{
		"file:/srv/blobs/a/src: Invalid data":          "input: Invalid data",
		"Could not write header (/proc/self/fd/4)":     "Could not write header (output)",
		"Error opening /usr/share/x/y.dat for reading": "Error opening a server path for reading",
		"rate 30000/1001, N/A, 1/30":                   "rate 30000/1001, N/A, 1/30",
		"file:/proc/self/fd/3: Invalid data":           "input0: Invalid data",
		"/proc/self/fd/30: Bad file descriptor":        "a server path: Bad file descriptor",
		"fd /proc/self/fd/41 and /proc/self/fd/4.":     "fd a server path and output.",
		"at:/var/lib/renderd/x/y":                      "at:a server path",
		"`/srv/blobs/b/src`":                           "`a server path`",
	} {
		if got := p.scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

// A helper that cannot set the sandbox up fails the run as the worker's
// trouble (retried elsewhere), never as the file's.
func TestSandbox_a_helper_that_fails_is_the_workers_error_not_the_files(t *testing.T) {
	sb := landlockOnly(t)
	sb.helper = append(sb.helper, "--bogus", "1")
	_, err := NewProber(mediatest.FFprobe(t), 30*time.Second, Limits{Sandbox: sb}).Probe(t.Context(), mediatest.AudioM4A(t))
	var pe *ProbeError
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "media sandbox: unknown option") {
		t.Fatalf("probe: %v, want a plain media sandbox error", err)
	}
	out := filepath.Join(t.TempDir(), "out.mp4")
	err = NewEncoder(mediatest.FFmpeg(t), time.Second, EncodeLimits{Sandbox: sb}, nil).Run(t.Context(),
		encodeArgs("-f", "lavfi", "-i", "testsrc2=duration=1", "-f", "mp4", "file:"+out), nil)
	var ee *EncodeError
	if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), "media sandbox:") {
		t.Fatalf("encode: %v, want a plain media sandbox error", err)
	}
}

// BenchmarkSandbox_start measures what each layer adds to starting a tool
// (`true`, which does nothing): the cost every probe and encode pays once.
func BenchmarkSandbox_start(b *testing.B) {
	bin, err := exec.LookPath("true")
	if err != nil {
		b.Fatal(err)
	}
	full := fullSandbox(b)
	layers := map[string]*Sandbox{
		"bare":     nil,
		"network":  {uid: -1, gid: -1, noNetwork: full.noNetwork},
		"user":     {uid: full.uid, gid: full.gid},
		"landlock": {uid: -1, gid: -1, landlock: full.landlock, helper: full.helper},
		"all":      full,
	}
	for _, name := range []string{"bare", "network", "user", "landlock", "all"} {
		b.Run(name, func(b *testing.B) {
			sb := layers[name]
			for b.Loop() {
				cmd, files, err := sb.command(context.Background(), bin, nil, 0)
				if err != nil {
					b.Fatal(err)
				}
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				files.close()
			}
		})
	}
}

// A tool outside the system folders (/opt, /nix/store) starts under the
// memory cap: the helper caps itself and execs the tool, which Landlock
// lets it run. Before, prlimit was the program Landlock let run; it could
// not exec the tool (status 126) and the probe blamed the file.
func TestSandbox_a_tool_outside_the_system_folders_runs_under_the_memory_cap(t *testing.T) {
	if _, err := landlockABI(); err != nil {
		t.Skipf("this kernel has no Landlock: %v", err)
	}
	dir, err := os.MkdirTemp("", "tools-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // reachable by the media user
		t.Fatal(err)
	}
	data, err := os.ReadFile(mediatest.FFprobe(t))
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(dir, "ffprobe")
	if err := os.WriteFile(probe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	const memory = 4 << 30
	sb, err := NewSandbox(SandboxConfig{Mode: SandboxStrict, User: "nobody", Helper: testHelper(t), Probe: probe, Memory: memory},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil && os.Geteuid() == 0 {
		t.Fatalf("the self-test with %s under a 4 GiB cap: %v", probe, err)
	}
	if err != nil {
		t.Skipf("not every layer here: %v", err)
	}
	info, err := NewProber(probe, 30*time.Second, Limits{Memory: memory, Sandbox: sb}).Probe(t.Context(), mediatest.AudioM4A(t))
	if err != nil {
		t.Fatalf("probe with %s in %v: %v", probe, sb.Layers(), err)
	}
	if !info.HasAudio {
		t.Errorf("probe: %+v, want audio", info)
	}
}

// A launcher that cannot start the tool (126: not executable, 127: not
// found) or a helper that fails is the worker's trouble, never the file's.
func TestSandbox_launcher_exit_statuses_are_the_workers_failure(t *testing.T) {
	for _, code := range []int{125, 126, 127} {
		err := exitError(t, "echo 'cannot execute' >&2; exit "+strconv.Itoa(code))
		if hf := helperFailure(err, "prlimit: cannot execute /opt/ffprobe: Permission denied\n"); hf == nil {
			t.Errorf("exit %d: no worker failure", code)
		}
	}
	if hf := helperFailure(exitError(t, "exit 127"), "ffmpeg: error while loading shared libraries: libx.so: failed to map segment from shared object\n"); hf != nil {
		t.Errorf("the loader out of memory under the cap: %v, want it left to outOfMemory", hf)
	}
	if hf := helperFailure(exitError(t, "exit 1"), "x"); hf != nil {
		t.Errorf("exit 1: %v, want the tool's own failure", hf)
	}
}

// runOutput runs `sh -c script sh file:<out>` in sb, the output handed
// over as descriptor 3, and returns close's error.
func runOutput(t *testing.T, sb *Sandbox, out, script string) error {
	t.Helper()
	cmd, files, err := sb.command(t.Context(), "/bin/sh", []string{"-c", script, "sh", "file:" + out}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		files.close()
		t.Fatalf("sh -c %q: %v: %s", script, err, stderr.String())
	}
	return files.close()
}

// The media user owns the output during the run; whatever mode it gives
// it, renderd takes the file back with the mode it had.
func TestSandbox_the_output_comes_back_with_its_mode(t *testing.T) {
	sb := fullSandbox(t)
	if !slices.Contains(sb.Layers(), "user") {
		t.Skip("the output changes hands only under the user layer")
	}
	out := filepath.Join(t.TempDir(), "out.part")
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runOutput(t, sb, out, "chmod 6777 /proc/self/fd/3"); err != nil {
		t.Fatalf("close: %v", err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode(); mode != 0o600 {
		t.Errorf("the output is %v after the run, want -rw-------", mode)
	}
	if owner := st.Sys().(*syscall.Stat_t).Uid; int(owner) != os.Geteuid() {
		t.Errorf("the output is owned by uid %d after the run, want %d", owner, os.Geteuid())
	}
}

// Without Landlock the media user could give the output a second name in a
// folder it can write: close refuses such an output.
func TestSandbox_an_output_with_a_second_name_is_refused(t *testing.T) {
	sb := userOnly(t)
	shared, err := os.MkdirTemp("", "shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.part")
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = runOutput(t, sb, out, "ln -L /proc/self/fd/3 "+filepath.Join(shared, "mine"))
	if err == nil || !strings.Contains(err.Error(), "2 names") {
		t.Fatalf("close: %v, want a refusal of the second name", err)
	}
	// Through Encoder.Run, the encode fails as the worker's trouble.
	out2 := filepath.Join(t.TempDir(), "out.part")
	err = NewEncoder("/bin/sh", time.Second, EncodeLimits{Sandbox: sb}, nil).Run(t.Context(),
		[]string{"-c", "ln -L /proc/self/fd/3 " + filepath.Join(shared, "again"), "sh", "file:" + out2}, nil)
	var ee *EncodeError
	if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), "2 names") {
		t.Fatalf("Run: %v, want the worker's error refusing the output", err)
	}
}

// Landlock and the network namespace leave unix sockets reached by path
// (a database's, a daemon's) open; the seccomp layer denies the tool any
// socket. The tool here is this test binary (dial-unix, see TestMain),
// copied where the media user can run it.
func TestSandbox_seccomp_layer_cannot_reach_a_unix_socket_by_path(t *testing.T) {
	sb := fullSandbox(t)
	if !slices.Contains(sb.Layers(), "seccomp") {
		t.Skipf("no seccomp layer here: %v", sb.Layers())
	}
	dir, err := os.MkdirTemp("", "sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(dir, "dial")
	if err := os.WriteFile(tool, data, 0o755); err != nil {
		t.Fatal(err)
	}
	dial := func(sb *Sandbox) (string, error) {
		cmd, files, err := sb.command(t.Context(), tool, []string{"dial-unix", sock}, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer files.close()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// The same sandbox without the filter connects: the test reaches the
	// socket, so the refusal below is the filter's.
	without := *sb
	without.seccomp = false
	if out, err := dial(&without); err != nil {
		t.Fatalf("without seccomp: %v: %s", err, out)
	}
	out, err := dial(sb)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("with seccomp: %v %q, want the socket denied", err, out)
	}
}

// Inputs stay readable to the media user's group for good, so the blob
// store must not be enterable by that user: auto warns, strict refuses.
func TestSandbox_a_blob_store_the_media_user_can_enter_is_refused_when_strict(t *testing.T) {
	userOnly(t)
	dir, err := os.MkdirTemp("", "blobs-") // under /tmp, which anyone enters
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := SandboxConfig{Mode: SandboxStrict, User: "nobody", Helper: testHelper(t), Private: []string{dir}}
	if _, err := NewSandbox(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("strict with an open blob store: %v, want a refusal naming it", err)
	}
	cfg.Mode = SandboxAuto
	var logs bytes.Buffer
	if _, err := NewSandbox(cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "a private folder is reachable by the media user") {
		t.Errorf("auto with an open blob store: no warning in\n%s", logs.String())
	}
	// 0750, owned by root's group: the media user cannot enter it.
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	if _, err := NewSandbox(cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "private folder") {
		t.Errorf("a 0750 blob store warned:\n%s", logs.String())
	}
	cfg.Mode = SandboxStrict
	if _, err := NewSandbox(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil && strings.Contains(err.Error(), dir) {
		t.Errorf("strict with a 0750 blob store: %v", err)
	}
}
