package ffmpeg

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// encodeArgs starts like encoders.BuildCommand's commands: progress on
// stdout, errors only on stderr.
func encodeArgs(rest ...string) []string {
	return append([]string{"-hide_banner", "-nostdin", "-y", "-v", "error", "-nostats", "-progress", "pipe:1"}, rest...)
}

// longHDEncode is 20 s of moving 1080p through libx264 veryfast: several
// seconds of work on 2 cores, so it is still running when a test stops it.
// The tests that run it do not run in parallel: alone, they measure how fast
// ffmpeg stops, not how busy the machine is.
func longHDEncode(out string) []string {
	return encodeArgs("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=20",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-f", "mp4", "file:"+out)
}

// watchedEncoder is an Encoder that records the pid of the ffmpeg it starts.
func watchedEncoder(t *testing.T, bin string, grace time.Duration, limits EncodeLimits) (*Encoder, *int) {
	t.Helper()
	e := NewEncoder(bin, grace, limits, nil)
	pid := new(int)
	e.started = func(p int) { *pid = p }
	return e, pid
}

// assertGone checks that no process has the pid any more: Run reaped it.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatal("ffmpeg was never started")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Run returned (kill -0: %v)", pid, err)
	}
}

func assertEncodeCode(t *testing.T, err error, code string) *EncodeError {
	t.Helper()
	var ee *EncodeError
	if !errors.As(err, &ee) {
		t.Fatalf("got error %v, want an *EncodeError with code %s", err, code)
	}
	if ee.Code != code {
		t.Fatalf("got code %s (%s), want %s", ee.Code, ee.Message, code)
	}
	return ee
}

func TestEncoderRun_progress_rises_and_ends_with_end(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.mp4")
	// -stats_period 0.1 gets several blocks out of a short encode.
	args := encodeArgs("-stats_period", "0.1",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=3",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mp4", "file:"+out)
	var got []encoders.Progress
	// The production rules, scaled down: a healthy encode never meets them.
	limits := EncodeLimits{Stall: 10 * time.Second, MaxTime: time.Minute}
	err := NewEncoder(mediatest.FFmpeg(t), time.Second, limits, nil).Run(context.Background(), args,
		func(p encoders.Progress) { got = append(got, p) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(got) < 2 {
		t.Fatalf("got %d progress blocks, want several: %+v", len(got), got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].OutTime < got[i-1].OutTime {
			t.Errorf("OutTime went back from %v to %v at block %d", got[i-1].OutTime, got[i].OutTime, i)
		}
	}
	for i, p := range got[:len(got)-1] {
		if p.End {
			t.Errorf("block %d of %d says End", i, len(got))
		}
	}
	last := got[len(got)-1]
	if !last.End || last.OutTime < 2900*time.Millisecond || last.OutTime > 3100*time.Millisecond || last.Speed <= 0 {
		t.Errorf("last block = %+v, want End at about 3s with a speed", last)
	}
}

// onProgress runs on Run's goroutine, but ffmpeg's writes never wait for
// it: an encode whose observer is stuck still finishes, and the observer
// then gets every block in order.
func TestEncoderRun_a_stuck_onProgress_does_not_stall_ffmpeg(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.mp4")
	args := encodeArgs("-stats_period", "0.05",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-f", "mp4", "file:"+out)
	e, pid := watchedEncoder(t, mediatest.FFmpeg(t), time.Second, EncodeLimits{})
	var got []encoders.Progress
	err := e.Run(context.Background(), args, func(p encoders.Progress) {
		if len(got) == 0 {
			deadline := time.Now().Add(20 * time.Second)
			for syscall.Kill(*pid, 0) == nil {
				if time.Now().After(deadline) {
					t.Error("ffmpeg did not finish while onProgress was stuck")
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		got = append(got, p)
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(got) < 2 || !got[len(got)-1].End {
		t.Errorf("got %+v, want every block up to End", got)
	}
}

func TestEncoderRun_cancel_stops_ffmpeg_before_run_returns(t *testing.T) {
	e, pid := watchedEncoder(t, mediatest.FFmpeg(t), time.Second, EncodeLimits{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled time.Time
	err := e.Run(ctx, longHDEncode(filepath.Join(t.TempDir(), "out.mp4")), func(p encoders.Progress) {
		// The first block (frame 1, out_time 0) comes before x264 has
		// output anything; the first with a position finds it in full
		// swing, its lookahead full, which is what a cancel meets.
		if cancelled.IsZero() && p.OutTime > 0 {
			cancelled = time.Now()
			cancel()
		}
	})
	stopped := time.Since(cancelled)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var ee *EncodeError
	if errors.As(err, &ee) {
		t.Errorf("a cancel is not the encode's failure, got %v", ee)
	}
	assertGone(t, *pid)
	t.Logf("cancel → ffmpeg gone: %v", stopped)
	// ffmpeg exits on SIGTERM within a few hundred ms; SIGKILL would come
	// after the 1 s grace.
	if stopped > 5*time.Second {
		t.Errorf("ffmpeg took %v to go after the cancel", stopped)
	}
}

// The encode is busy (ffmpeg reads nothing, but its position advances all
// the time), so only the absolute cap can stop it.
func TestEncoderRun_an_encode_past_max_time_is_stopped_as_a_timeout(t *testing.T) {
	e, pid := watchedEncoder(t, mediatest.FFmpeg(t), time.Second, EncodeLimits{Stall: time.Minute, MaxTime: time.Second})
	var progressed bool
	err := e.Run(context.Background(), longHDEncode(filepath.Join(t.TempDir(), "out.mp4")), func(p encoders.Progress) {
		progressed = progressed || p.OutTime > 0
	})
	ee := assertEncodeCode(t, err, domain.FailureEncodeTimeout)
	if ee.Message != "ffmpeg ran longer than 1s" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the max-time rule named and context.DeadlineExceeded wrapped", err)
	}
	assertGone(t, *pid)
	t.Logf("progressed before the cap: %v", progressed)
}

// A stand-in ffmpeg that ignores SIGTERM: os/exec must SIGKILL it once the
// grace has passed.
func TestEncoderRun_ffmpeg_ignoring_sigterm_is_killed_after_the_grace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin, ready := filepath.Join(dir, "ffmpeg"), filepath.Join(dir, "ready")
	script := "#!/bin/sh\ntrap '' TERM\necho > " + ready + "\nexec sleep 60\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const grace = 300 * time.Millisecond
	e, pid := watchedEncoder(t, bin, grace, EncodeLimits{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := make(chan time.Time, 1)
	go func() {
		for {
			if _, err := os.Stat(ready); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancelled <- time.Now()
		cancel()
	}()
	err := e.Run(ctx, nil, nil)
	stopped := time.Since(<-cancelled)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	assertGone(t, *pid)
	if stopped < grace || stopped > grace+3*time.Second {
		t.Errorf("the process went %v after the cancel, want just after the %v grace", stopped, grace)
	}
}

func TestEncoderRun_ffmpeg_errors_are_encode_failed_with_stderr(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.mp4")
	corrupt := mediatest.Corrupt(t)
	tests := []struct {
		rule string
		args []string
		want string // in the message
	}{
		{"unknown_encoder", encodeArgs("-f", "lavfi", "-i", "testsrc2=size=320x240:duration=1",
			"-c:v", "nosuchencoder", "-f", "mp4", "file:"+out), "Unknown encoder 'nosuchencoder'"},
		{"corrupt_input", encodeArgs("-i", "file:"+corrupt, "-c:v", "libx264", "-f", "mp4", "file:"+out),
			"input: Invalid data found when processing input"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			err := NewEncoder(mediatest.FFmpeg(t), time.Second, EncodeLimits{}, nil).Run(context.Background(), tt.args, nil)
			ee := assertEncodeCode(t, err, domain.FailureEncodeFailed)
			if !strings.Contains(ee.Message, tt.want) || !strings.HasPrefix(ee.Message, "ffmpeg exit status 1: ") {
				t.Errorf("message %q, want ffmpeg's exit status and %q", ee.Message, tt.want)
			}
			if strings.Contains(ee.Message, dir) || strings.Contains(ee.Message, filepath.Dir(corrupt)) {
				t.Errorf("message %q names a server path", ee.Message)
			}
			if ee.FailureCode() != domain.FailureEncodeFailed || ee.FailureMessage() != ee.Message {
				t.Errorf("FailureCode/FailureMessage = %q/%q", ee.FailureCode(), ee.FailureMessage())
			}
		})
	}
}

// One argument past the kernel's MAX_ARG_STRLEN (128 KiB): what a
// 1000-segment graph on the command line was. Every worker would fail it.
// An asset probed before its codec left the allowlist fails its render
// once, as codec_not_allowed naming the codec, never as a retried
// encode_failed carrying the whole allowlist.
func TestEncoderRun_a_codec_outside_the_allowlist_is_a_permanent_codec_not_allowed(t *testing.T) {
	src := mediatest.SnowVideo(t)
	out := filepath.Join(t.TempDir(), "out.mp4")
	args := encodeArgs(append(inputOptions(), "-f", "matroska", "-i", "file:"+src)...)
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-f", "mp4", "file:"+out)
	err := NewEncoder(mediatest.FFmpeg(t), time.Second, EncodeLimits{}, nil).Run(t.Context(), args, nil)
	var ee *EncodeError
	if !errors.As(err, &ee) {
		t.Fatalf("Run: %v, want an *EncodeError", err)
	}
	if ee.Code != domain.FailureCodecNotAllowed || !ee.Permanent || ee.Message != `codec "snow" is not allowed` {
		t.Errorf("Run: %+v, want a permanent codec_not_allowed naming snow", ee)
	}
}

func TestEncoderRun_a_command_the_kernel_refuses_is_a_permanent_encode_failure(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.mp4")
	graph := strings.Repeat("null,", 40_000) + "null"
	err := NewEncoder(mediatest.FFmpeg(t), time.Second, EncodeLimits{}, nil).Run(context.Background(),
		encodeArgs("-f", "lavfi", "-i", "testsrc2=duration=1", "-vf", graph, "-f", "mp4", "file:"+out), nil)
	if !errors.Is(err, syscall.E2BIG) {
		t.Fatalf("err = %v, want E2BIG", err)
	}
	ee := assertEncodeCode(t, err, domain.FailureEncodeFailed)
	if !ee.Deterministic() || !ee.Permanent {
		t.Errorf("%v is not permanent: it would be retried", ee)
	}
	if strings.Contains(ee.Message, "null,") || strings.Contains(ee.Message, out) {
		t.Errorf("message %q quotes the command", ee.Message)
	}
}

func TestEncoderRun_missing_binary_is_a_worker_error(t *testing.T) {
	err := NewEncoder(filepath.Join(t.TempDir(), "ffmpeg"), 0, EncodeLimits{}, nil).Run(context.Background(), encodeArgs(), nil)
	var ee *EncodeError
	if err == nil || errors.As(err, &ee) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want a plain fs.ErrNotExist (retryable, not the render's fault)", err)
	}
}

func TestEncodeStderrSummary_keeps_the_last_lines_without_paths(t *testing.T) {
	args := encodeArgs("-i", "file:/var/lib/renderd/blobs/assets/a1/source.mp4",
		"-f", "mp4", "file:/var/lib/renderd/blobs/renders/r1/attempt-1.mp4.tmp")
	var stderr strings.Builder
	for i := range 15 {
		stderr.WriteString("[mp4 @ 0x55d0c0ffee00] line " + strings.Repeat("x", i) + "\n")
	}
	stderr.WriteString("file:/var/lib/renderd/blobs/assets/a1/source.mp4: Invalid data found when processing input\n")
	stderr.WriteString("Could not write header for output file #0 (/var/lib/renderd/blobs/renders/r1/attempt-1.mp4.tmp)\r\n")
	stderr.WriteString("Could not write header for output file #0 (/var/lib/renderd/blobs/renders/r1/attempt-1.mp4.tmp)\n")
	got := encodeStderrSummary(stderr.String(), pathReplacements(args), maxEncodeMessage)
	lines := strings.Split(got, "; ")
	if len(lines) != maxEncodeLines {
		t.Errorf("got %d lines, want the last %d: %q", len(lines), maxEncodeLines, got)
	}
	if !strings.HasSuffix(got, "mp4: line xxxxxxxxxxxxxx; input: Invalid data found when processing input; "+
		"Could not write header for output file #0 (output)") {
		t.Errorf("got %q", got)
	}
	if strings.Contains(got, "/var/lib") || strings.Contains(got, "0x55") {
		t.Errorf("got %q, with a path or an address", got)
	}

	long := encodeStderrSummary(strings.Repeat("é", 2000)+"\nthe reason\n", pathReplacements(args), maxEncodeMessage)
	if len(long) > maxEncodeMessage || !strings.HasPrefix(long, "…é") || !strings.HasSuffix(long, "; the reason") {
		t.Errorf("a long summary keeps its end within %d bytes, got %d bytes: %.20q…", maxEncodeMessage, len(long), long)
	}
}
