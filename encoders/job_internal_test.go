package encoders

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
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
		{"a_stall_may_pass", failure(domain.FailureEncodeTimeout, "ffmpeg made no progress"), true},
		{"an_ffmpeg_crash_may_be_the_machines", failure(domain.FailureEncodeFailed, "ffmpeg exit status 1"), true},
		{"the_workers_own_trouble_is_retried", errors.New("blob store: disk full"), true},
		{"an_invalid_output_repeats", failure(domain.FailureOutputInvalid, "duration"), false},
		{"the_memory_cap_repeats", failure(domain.FailureMemoryLimitExceeded, "cap"), false},
		{"an_unreadable_source_repeats", failure(domain.FailureSourceUnreadable, "gone"), false},
		{"an_impossible_job_repeats", &jobFailure{code: domain.FailureEncodeFailed, message: "odd width", deterministic: true}, false},
		{"a_command_the_kernel_refuses_repeats", repeating{domain.FailureEncodeFailed}, false},
		{"a_wrapped_deterministic_failure_repeats", fmt.Errorf("run: %w", repeating{domain.FailureEncodeFailed}), false},
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
		failure(domain.FailureEncodeFailed, "handing the output to the media user: chown /var/lib/renderd/blobs/tmp/out.part: operation not permitted"),
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

// Only the command's own refusal deletes a finished encode; every other
// failure may be a completion that went through unanswered, so the output
// stays and the completion is asked again.
func TestCompletionOf_only_a_refusal_deletes_the_output(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want completion
	}{
		{"recorded", nil, completionRecorded},
		{"cancelled_meanwhile", domain.Conflict("render_not_running", "the render is cancelled"), completionRefused},
		{"reaped_and_taken_over", fmt.Errorf("complete: %w", domain.Conflict("stale_attempt", "attempt 1 is over")), completionRefused},
		{"the_render_is_gone", fmt.Errorf("load: %w", domain.ErrNotFound), completionRefused},
		{"connection_refused", errors.New("failed to connect: dial tcp 127.0.0.1:5432: connect: connection refused"), completionUnknown},
		{"connection_lost_mid_commit", errors.New("commit: unexpected EOF"), completionUnknown},
		{"the_try_timed_out", fmt.Errorf("append: %w", context.DeadlineExceeded), completionUnknown},
		{"the_database_is_unavailable", fmt.Errorf("%w: admin shutdown", domain.ErrUnavailable), completionUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := completionOf(c.err); got != c.want {
				t.Errorf("completionOf(%v) = %d, want %d", c.err, got, c.want)
			}
		})
	}
}

// A completion stops asking without an answer only when it has failed for a
// whole lease while the database answered the lease watcher all along.
func TestNotAnOutage_needs_a_whole_lease_of_failures_with_the_database_answering(t *testing.T) {
	const lease = 30 * time.Second
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	up := func(since time.Time) *uptime { return newUptime(since) }
	down := func() *uptime { u := newUptime(t0); u.failed(t0); return u }
	cases := []struct {
		name         string
		failingSince time.Time
		db           *uptime
		now          time.Time
		want         bool
	}{
		{"no_failure_yet", time.Time{}, up(t0), t0.Add(time.Hour), false},
		{"a_first_failure_while_the_watcher_saw_no_outage_yet", t0.Add(time.Hour), up(t0), t0.Add(time.Hour), false},
		{"failing_while_the_database_is_away", t0, down(), t0.Add(time.Hour), false},
		{"the_database_back_for_less_than_a_lease", t0, up(t0.Add(50 * time.Second)), t0.Add(time.Minute), false},
		{"failing_for_a_lease_with_the_database_answering", t0, up(t0.Add(-time.Minute)), t0.Add(lease), true},
		{"the_database_back_for_a_whole_lease", t0, up(t0.Add(time.Minute)), t0.Add(time.Minute + lease), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := notAnOutage(c.failingSince, c.db, c.now, lease); got != c.want {
				t.Errorf("notAnOutage = %v, want %v", got, c.want)
			}
		})
	}
}

// uptime counts from the first answer after a failure, and reports the
// outage that answer ends once.
func TestUptime_counts_from_the_first_answer_after_a_failure(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	u := newUptime(time.Time{})
	if got := u.upFor(t0); got != 0 {
		t.Fatalf("before any answer: up for %s", got)
	}
	if down := u.answered(t0); down != 0 {
		t.Errorf("a first answer ended an outage of %s", down)
	}
	if got := u.upFor(t0.Add(time.Minute)); got != time.Minute {
		t.Errorf("up for %s, want 1m", got)
	}
	if !u.failed(t0.Add(time.Minute)) || u.failed(t0.Add(2*time.Minute)) {
		t.Error("only the first failure begins an outage")
	}
	if got := u.upFor(t0.Add(2 * time.Minute)); got != 0 {
		t.Errorf("while failing: up for %s", got)
	}
	if down := u.answered(t0.Add(3 * time.Minute)); down != 2*time.Minute {
		t.Errorf("the answer ended an outage of %s, want 2m", down)
	}
	if down := u.answered(t0.Add(4 * time.Minute)); down != 0 {
		t.Errorf("a second answer ended an outage of %s", down)
	}
	if got := u.upFor(t0.Add(4 * time.Minute)); got != time.Minute {
		t.Errorf("up for %s, want 1m since the first answer after the outage", got)
	}
}

func TestRenderWorker_an_encode_alone_takes_its_threads_and_one_beside_others_the_shared_ones(t *testing.T) {
	w := &RenderWorker{cfg: RenderWorkerConfig{Threads: 0, SharedThreads: 1}, slots: make(chan struct{}, 2)}
	w.slots <- struct{}{} // this job's own slot
	if got := w.threads(); got != 0 {
		t.Errorf("alone: -threads %d, want 0 (ffmpeg's own choice)", got)
	}
	w.slots <- struct{}{} // another job runs
	if got := w.threads(); got != 1 {
		t.Errorf("beside another job: -threads %d, want the shared 1", got)
	}
	w.cfg = RenderWorkerConfig{Threads: 3}
	if got := w.threads(); got != 3 {
		t.Errorf("no shared threads set: -threads %d, want 3 always", got)
	}
}
