package encoders_test

import (
	"testing"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

func TestParseOutputKey_reads_back_what_OutputKey_made_and_nothing_else(t *testing.T) {
	for _, f := range []domain.Format{domain.FormatMP4, domain.FormatMOV, domain.FormatM4A, domain.FormatMP3} {
		key := encoders.OutputKey("rnd_0190a", 7, f)
		if id, attempt, ok := encoders.ParseOutputKey(key); !ok || id != "rnd_0190a" || attempt != 7 {
			t.Errorf("ParseOutputKey(%q) = %q, %d, %v", key, id, attempt, ok)
		}
	}
	for _, key := range []string{
		"assets/ast_1/source-0190", "renders/rnd_1", "renders//attempt-1.mp4", "renders/rnd_1/attempt-.mp4",
		"renders/rnd_1/attempt-0.mp4", "renders/rnd_1/attempt--1.mp4", "renders/rnd_1/attempt-01.mp4",
		"renders/rnd_1/attempt-1", "renders/rnd_1/deep/attempt-1.mp4", "renders/rnd_1/output-1.mp4", "renders/rnd_1/attempt-x.mp4",
	} {
		if id, attempt, ok := encoders.ParseOutputKey(key); ok {
			t.Errorf("ParseOutputKey(%q) = %q, %d; want not an output key", key, id, attempt)
		}
	}
}

func TestAttemptOver_only_once_the_render_moved_past_the_attempt(t *testing.T) {
	running := func(attempt int) commands.RenderJob {
		return commands.RenderJob{State: domain.RenderStateRunning, Attempt: attempt}
	}
	pending := func(attempt int) commands.RenderJob {
		return commands.RenderJob{State: domain.RenderStatePending, Attempt: attempt}
	}
	for name, c := range map[string]struct {
		job     commands.RenderJob
		queued  bool
		attempt int
		over    bool
	}{
		"the_running_attempt_is_live":                  {job: running(2), queued: true, attempt: 2},
		"an_earlier_attempt_of_a_running_render":       {job: running(3), queued: true, attempt: 2, over: true},
		"a_requeued_attempt_waiting_for_the_next":      {job: pending(2), queued: true, attempt: 2, over: true},
		"an_earlier_attempt_of_a_pending_render":       {job: pending(2), queued: true, attempt: 1, over: true},
		"an_attempt_the_queue_has_not_reached":         {job: pending(1), queued: true, attempt: 2},
		"a_later_attempt_than_the_running_one":         {job: running(1), queued: true, attempt: 2},
		"a_finished_render_has_no_row_and_no_attempts": {queued: false, attempt: 4, over: true},
	} {
		t.Run(name, func(t *testing.T) {
			if got := encoders.AttemptOver(c.job, c.queued, c.attempt); got != c.over {
				t.Fatalf("AttemptOver = %v, want %v", got, c.over)
			}
		})
	}
}
