package encoders

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// repeating stands for an adapter's failure that knows it repeats
// (ffmpeg.EncodeError with Permanent set).
type repeating struct{ code string }

func (p repeating) Error() string          { return p.code }
func (p repeating) FailureCode() string    { return p.code }
func (p repeating) FailureMessage() string { return p.code }
func (p repeating) Deterministic() bool    { return true }

func TestRetryable_deterministic_failures_are_never_retryable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"a_stall_may_pass", failure(CodeTimeout, "ffmpeg made no progress"), true},
		{"an_ffmpeg_crash_may_be_the_machines", failure(CodeEncodeFailed, "ffmpeg exit status 1"), true},
		{"the_workers_own_trouble_is_retried", errors.New("blob store: disk full"), true},
		{"an_invalid_output_repeats", failure(CodeOutputInvalid, "duration"), false},
		{"the_memory_cap_repeats", failure(CodeMemoryLimitExceeded, "cap"), false},
		{"an_unreadable_source_repeats", failure(CodeSourceUnreadable, "gone"), false},
		{"an_impossible_job_repeats", &jobFailure{code: CodeEncodeFailed, message: "odd width", deterministic: true}, false},
		{"a_command_the_kernel_refuses_repeats", repeating{CodeEncodeFailed}, false},
		{"a_wrapped_deterministic_failure_repeats", fmt.Errorf("run: %w", repeating{CodeEncodeFailed}), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _ := failureOf(c.err)
			if got := retryable(code, c.err); got != c.want {
				t.Errorf("retryable(%q, %v) = %v, want %v", code, c.err, got, c.want)
			}
		})
	}
}

// render.failed is public: no failure message names a server path, even
// from an error that wraps one (*fs.PathError from the scratch folder, the
// filter script, the run's files).
func TestFailureOf_messages_name_no_server_path(t *testing.T) {
	_, mkdirErr := os.MkdirTemp(filepath.Join(t.TempDir(), "gone"), "render-")
	if mkdirErr == nil {
		t.Fatal("MkdirTemp in a missing folder succeeded")
	}
	writeErr := os.WriteFile(filepath.Join(t.TempDir(), "gone", "filter"), nil, 0o600)
	cases := []error{
		fmt.Errorf("scratch folder: %w", mkdirErr),
		fmt.Errorf("filter script: %w", writeErr),
		fmt.Errorf("ffmpeg: %w", &fs.PathError{Op: "open", Path: "/var/lib/renderd/blobs/acc/src", Err: syscall.EACCES}),
		failure(CodeEncodeFailed, "handing the output to the media user: chown /var/lib/renderd/blobs/tmp/out.part: operation not permitted"),
	}
	for _, err := range cases {
		_, msg := failureOf(err)
		if strings.Contains(msg, "/var/") || strings.Contains(msg, "/tmp/") {
			t.Errorf("failureOf(%v) = %q, names a server path", err, msg)
		}
		if !strings.Contains(msg, "a server path") {
			t.Errorf("failureOf(%v) = %q, want the path named \"a server path\"", err, msg)
		}
	}
}
