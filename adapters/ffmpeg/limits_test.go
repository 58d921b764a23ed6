package ffmpeg

import (
	"errors"
	"os/exec"
	"testing"
)

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
