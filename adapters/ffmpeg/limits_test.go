package ffmpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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

// An encode whose input stops arriving makes no progress: the stall rule
// stops it with the same SIGTERM, then SIGKILL, as a cancel. ffmpeg blocked
// reading a FIFO does not heed SIGTERM, so the short grace ends it.
func TestEncoderRun_an_encode_without_progress_is_stopped_as_a_stall(t *testing.T) {
	tests := []struct {
		rule string
		feed bool // feed a clip into the FIFO and keep it open, or never open it
	}{
		{"input_that_never_arrives", false},
		{"input_that_stops_midway", true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "input.ts")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.feed {
				clip := mediatest.Generate(t, "clip.ts", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4",
					"-c:v", "libx264", "-preset", "ultrafast")
				feedAndHold(t, fifo, clip)
			}
			// Long enough that a slow start on a loaded machine (ffmpeg not
			// yet reading its input) is not taken for the stall itself.
			const stall = 3 * time.Second
			e, pid := watchedEncoder(t, mediatest.FFmpeg(t), 300*time.Millisecond, EncodeLimits{Stall: stall, MaxTime: time.Minute})
			out := filepath.Join(t.TempDir(), "out.mp4")
			var last time.Duration
			// A short analysis starts the encode before the clip is all
			// there, and frequent progress blocks show it advance.
			err := e.Run(context.Background(), encodeArgs("-stats_period", "0.1", "-analyzeduration", "500000", "-f", "mpegts", "-i", "file:"+fifo,
				"-c:v", "libx264", "-preset", "ultrafast", "-f", "mp4", "file:"+out), func(p encoders.Progress) { last = p.OutTime })
			ee := assertEncodeCode(t, err, domain.FailureEncodeTimeout)
			if ee.Message != "ffmpeg made no progress for "+stall.String() || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, want the stall rule named and context.DeadlineExceeded wrapped", err)
			}
			assertGone(t, *pid)
			if tt.feed && last == 0 {
				t.Error("the encode never advanced before it stalled")
			}
			t.Logf("position when it stalled: %v", last)
		})
	}
}

// feedAndHold writes the file at src into the FIFO once ffmpeg opens it, at
// about 300 KiB/s so that the encode has time to report progress, then
// keeps the FIFO open without writing more, as a stuck upstream would.
func feedAndHold(t *testing.T, fifo, src string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	release, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		for chunk := range slices.Chunk(data, 16<<10) {
			if _, err := w.Write(chunk); err != nil {
				return // EPIPE: ffmpeg is gone
			}
			time.Sleep(50 * time.Millisecond)
		}
		<-release
	}()
	t.Cleanup(func() {
		close(release)
		// A writer still waiting for a reader gets one, and EPIPE.
		if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			r.Close()
		}
		<-done
	})
}

// Under RLIMIT_AS ffmpeg fails in several ways (see outOfMemory); every one
// is memory_limit_exceeded, naming the cap. 160 MiB is too little for the
// dynamic loader; 700 MiB loads ffmpeg, but not a 4K libx264 encode (about
// 1.3 GiB of address space here).
func TestEncoderRun_an_encode_over_the_memory_cap_fails_with_memory_limit_exceeded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule string
		cap  int64
	}{
		{"ffmpeg_cannot_load_its_libraries", 160 << 20},
		{"the_encoder_cannot_allocate_its_buffers", 700 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.mp4")
			e := NewEncoder(mediatest.FFmpeg(t), time.Second, EncodeLimits{Memory: tt.cap}, nil)
			err := e.Run(context.Background(), encodeArgs("-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=30:duration=2",
				"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-f", "mp4", "file:"+out), nil)
			ee := assertEncodeCode(t, err, domain.FailureMemoryLimitExceeded)
			want := fmt.Sprintf("ffmpeg needed more than the %d MiB memory limit", tt.cap>>20)
			if !strings.HasPrefix(ee.Message, want) || strings.Contains(ee.Message, out) {
				t.Errorf("message %q, want it to start with %q and name no path", ee.Message, want)
			}
			t.Logf("%s", ee.Message)
		})
	}
}

// prlimit sets the cap and execs ffmpeg: the pid Run starts is ffmpeg's,
// under the cap, and a cancel stops it like any other.
func TestEncoderRun_cancel_under_a_memory_cap_leaves_no_process(t *testing.T) {
	const memory = 4 << 30
	e, pid := watchedEncoder(t, mediatest.FFmpeg(t), time.Second, EncodeLimits{Memory: memory})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var exe, limit string
	err := e.Run(ctx, longHDEncode(filepath.Join(t.TempDir(), "out.mp4")), func(p encoders.Progress) {
		if p.OutTime > 0 && exe == "" {
			exe, _ = os.Readlink("/proc/" + strconv.Itoa(*pid) + "/exe")
			limit = addressSpaceLimit(t, *pid)
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	assertGone(t, *pid)
	if want, _ := exec.LookPath(mediatest.FFmpeg(t)); exe != want {
		t.Errorf("process %d runs %q, want ffmpeg (%s) itself", *pid, exe, want)
	}
	if limit != strconv.Itoa(memory) {
		t.Errorf("its address-space limit is %q, want %d", limit, memory)
	}
}

// addressSpaceLimit is the soft "Max address space" of /proc/<pid>/limits.
func addressSpaceLimit(t *testing.T, pid int) string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "Max address space"); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}

// The parent-death signal survives prlimit's exec: a worker killed with
// SIGKILL takes its capped ffmpeg with it. The worker is this test binary,
// run again as a child that starts an encode and prints ffmpeg's pid.
func TestEncoderRun_a_killed_worker_takes_its_capped_ffmpeg_with_it(t *testing.T) {
	if os.Getenv("RENDERD_TEST_CAPPED_WORKER") == "1" {
		e, pid := watchedEncoder(t, mediatest.FFmpeg(t), time.Second, EncodeLimits{Memory: 4 << 30})
		_ = e.Run(context.Background(), longHDEncode(filepath.Join(t.TempDir(), "out.mp4")), func(encoders.Progress) {
			fmt.Printf("ffmpeg pid %d\n", *pid)
		})
		return
	}
	mediatest.FFmpeg(t)
	worker := exec.Command(os.Args[0], "-test.run=^TestEncoderRun_a_killed_worker_takes_its_capped_ffmpeg_with_it$")
	worker.Env = append(os.Environ(), "RENDERD_TEST_CAPPED_WORKER=1")
	stdout, err := worker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = worker.Process.Kill(); _ = worker.Wait() }()
	var pid int
	lines := bufio.NewScanner(stdout)
	for pid == 0 && lines.Scan() {
		_, _ = fmt.Sscanf(lines.Text(), "ffmpeg pid %d", &pid)
	}
	if pid == 0 {
		t.Fatal("the worker never reported its ffmpeg")
	}
	if err := worker.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = worker.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("ffmpeg %d outlived its killed worker", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processGone: no process, or only a zombie left for init to reap.
func processGone(pid int) bool {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	return err != nil || strings.Contains(string(status), "State:\tZ")
}

// What ffmpeg 5.1 wrote under RLIMIT_AS on this project's machines, and
// failures that are not about memory.
func TestOutOfMemory_recognises_what_ffmpeg_says_under_a_cap(t *testing.T) {
	exit1 := exitError(t, "exit 1")
	tests := []struct {
		rule   string
		err    error
		stderr string
		want   bool
	}{
		{"loader_cannot_map_a_library", exitError(t, "exit 127"),
			"ffmpeg: error while loading shared libraries: libx265.so.199: failed to map segment from shared object\n", true},
		{"libavcodec_enomem", exit1,
			"[h264 @ 0x55d0] Could not allocate memory\nError while decoding stream #0:0: Cannot allocate memory\n", true},
		{"x264_malloc", exit1,
			"x264 [error]: malloc of size 44008576 failed\nError submitting video frame to the encoder\n", true},
		{"thread_stack_cannot_be_mapped", exit1,
			"Error while opening decoder for input stream #0:0 : Resource temporarily unavailable\n", true},
		{"x264_silent_open_failure", exit1,
			"Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height\n", true},
		{"library_dereferences_a_failed_malloc", exitError(t, "kill -SEGV $$"), "", true},
		{"x264_open_failure_with_a_reason", exit1,
			"x264 [error]: baseline profile doesn't support 4:4:4\n[libx264 @ 0x55d0] Error setting profile baseline.\n" +
				"Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height\n", false},
		{"corrupt_input", exit1, "file:/blobs/a: Invalid data found when processing input\n", false},
		{"killed_by_the_grace", exitError(t, "kill -KILL $$"), "", false},
		{"not_an_exit", errors.New("exec: \"ffmpeg\": executable file not found in $PATH"), "Cannot allocate memory", false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := outOfMemory(tt.err, tt.stderr); got != tt.want {
				t.Errorf("outOfMemory = %v, want %v", got, tt.want)
			}
		})
	}
}

// exitError is the *exec.ExitError of a shell that runs script.
func exitError(t *testing.T, script string) error {
	t.Helper()
	err := exec.Command("/bin/sh", "-c", script).Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("sh -c %q: %v, want an exit error", script, err)
	}
	return err
}
