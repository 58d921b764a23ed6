package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func renderHistory(events ...domain.Event) []domain.Recorded {
	recs := history(events...)
	for i := range recs {
		recs[i].StreamID, recs[i].StreamType = "rnd_1", domain.AggregateRender
	}
	return recs
}

var requested = domain.RenderRequested{AssetID: "ast_1", Output: domain.OutputSpec{Format: domain.FormatMP4}, Signature: "sig"}

func TestRender_lifecycle(t *testing.T) {
	started := domain.RenderStarted{Attempt: 1, WorkerID: "w1", LeaseUntil: now.Add(time.Minute)}
	cases := []struct {
		name    string
		given   []domain.Event
		when    func(r *domain.Render) error
		state   domain.RenderState
		wantErr string
		events  int
	}{
		{"cancel_a_pending_render", []domain.Event{requested}, func(r *domain.Render) error { return r.Cancel(now) }, domain.RenderStateCancelled, "", 1},
		{"cancel_a_running_render", []domain.Event{requested, started}, func(r *domain.Render) error { return r.Cancel(now) }, domain.RenderStateCancelled, "", 1},
		{"cancelling_twice_changes_nothing", []domain.Event{requested, domain.RenderCancelled{}}, func(r *domain.Render) error { return r.Cancel(now) }, domain.RenderStateCancelled, "", 0},
		{"cancel_after_completion_is_rejected", []domain.Event{requested, started, domain.RenderCompleted{Attempt: 1}}, func(r *domain.Render) error { return r.Cancel(now) }, domain.RenderStateCompleted, "render_not_cancellable", 0},
		{"cancel_after_failure_is_rejected", []domain.Event{requested, started, domain.RenderFailed{Attempt: 1, Code: "encode_failed"}}, func(r *domain.Render) error { return r.Cancel(now) }, domain.RenderStateFailed, "render_not_cancellable", 0},
		{"a_completed_render_cannot_start_again", []domain.Event{requested, started, domain.RenderCompleted{Attempt: 1}}, func(r *domain.Render) error { _, err := r.Start("w2", now, now); return err }, domain.RenderStateCompleted, "render_not_pending", 0},
		{"a_cancelled_render_cannot_complete", []domain.Event{requested, started, domain.RenderCancelled{Attempt: 1}}, func(r *domain.Render) error { return r.Complete(domain.RenderCompleted{Attempt: 1}, now) }, domain.RenderStateCancelled, "render_not_running", 0},
		{"completing_again_with_the_same_output_changes_nothing", []domain.Event{requested, started, domain.RenderCompleted{Attempt: 1, BlobKey: "renders/rnd_1/attempt-1.mp4"}},
			func(r *domain.Render) error {
				return r.Complete(domain.RenderCompleted{Attempt: 1, BlobKey: "renders/rnd_1/attempt-1.mp4"}, now)
			}, domain.RenderStateCompleted, "", 0},
		{"another_output_cannot_complete_a_completed_render", []domain.Event{requested, started, domain.RenderCompleted{Attempt: 1, BlobKey: "renders/rnd_1/attempt-1.mp4"}},
			func(r *domain.Render) error {
				return r.Complete(domain.RenderCompleted{Attempt: 1, BlobKey: "renders/rnd_1/attempt-1.mov"}, now)
			}, domain.RenderStateCompleted, "render_not_running", 0},
		{"a_stale_attempt_cannot_complete_a_completed_render", []domain.Event{requested, started, domain.RenderRetried{Attempt: 2}, domain.RenderStarted{Attempt: 2, WorkerID: "w2"},
			domain.RenderCompleted{Attempt: 2, BlobKey: "renders/rnd_1/attempt-2.mp4"}},
			func(r *domain.Render) error {
				return r.Complete(domain.RenderCompleted{Attempt: 1, BlobKey: "renders/rnd_1/attempt-1.mp4"}, now)
			}, domain.RenderStateCompleted, "render_not_running", 0},
		{"a_stale_attempt_cannot_report", []domain.Event{requested, started, domain.RenderRetried{Attempt: 2}, domain.RenderStarted{Attempt: 2, WorkerID: "w2"}}, func(r *domain.Render) error { return r.ReportProgress(1, 50, 0, 0, now) }, domain.RenderStateRunning, "stale_attempt", 0},
		{"progress_never_goes_back", []domain.Event{requested, started, domain.RenderProgressed{Attempt: 1, Percent: 40}}, func(r *domain.Render) error { return r.ReportProgress(1, 30, 0, 0, now) }, domain.RenderStateRunning, "", 0},
		{"progress_stops_at_99", []domain.Event{requested, started}, func(r *domain.Render) error { return r.ReportProgress(1, 100, 0, 0, now) }, domain.RenderStateRunning, "", 1},
		{"a_retry_makes_it_pending_for_the_next_attempt", []domain.Event{requested, started, domain.RenderProgressed{Attempt: 1, Percent: 40}}, func(r *domain.Render) error { return r.Retry(1, "lease lost", now) }, domain.RenderStatePending, "", 1},
		{"a_lost_lease_makes_it_pending_again", []domain.Event{requested, started}, func(r *domain.Render) error { _, err := r.LoseLease(1, now); return err }, domain.RenderStatePending, "", 1},
		{"the_third_lost_lease_fails_it_as_encoder_crashed", []domain.Event{requested, started,
			domain.RenderRetried{Attempt: 2, Reason: domain.RetryLeaseExpired}, domain.RenderStarted{Attempt: 2, WorkerID: "w2"},
			domain.RenderRetried{Attempt: 3, Reason: domain.RetryLeaseExpired}, domain.RenderStarted{Attempt: 3, WorkerID: "w3"}},
			func(r *domain.Render) error { _, err := r.LoseLease(3, now); return err }, domain.RenderStateFailed, "", 1},
		{"a_graceful_hand_back_is_not_a_crash", []domain.Event{requested, started,
			domain.RenderRetried{Attempt: 2, Reason: domain.RetryHandedBack}, domain.RenderStarted{Attempt: 2, WorkerID: "w2"},
			domain.RenderRetried{Attempt: 3, Reason: domain.RetryLeaseExpired}, domain.RenderStarted{Attempt: 3, WorkerID: "w3"}},
			func(r *domain.Render) error { _, err := r.LoseLease(3, now); return err }, domain.RenderStatePending, "", 1},
		{"a_stale_lease_cannot_be_lost_twice", []domain.Event{requested, started, domain.RenderRetried{Attempt: 2, Reason: domain.RetryLeaseExpired}},
			func(r *domain.Render) error { _, err := r.LoseLease(1, now); return err }, domain.RenderStatePending, "render_not_running", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := domain.RebuildRender(renderHistory(c.given...))
			if err != nil {
				t.Fatal(err)
			}
			err = c.when(r)
			var ce *domain.ConflictError
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case c.wantErr != "" && (!errors.As(err, &ce) || ce.Code != c.wantErr):
				t.Fatalf("err = %v, want %s", err, c.wantErr)
			}
			if r.State() != c.state || len(r.Changes()) != c.events {
				t.Errorf("state %s with %d new events, want %s with %d", r.State(), len(r.Changes()), c.state, c.events)
			}
		})
	}
}

func TestRender_retry_starts_the_next_attempt_at_zero(t *testing.T) {
	r, _ := domain.RebuildRender(renderHistory(requested, domain.RenderStarted{Attempt: 1}, domain.RenderProgressed{Attempt: 1, Percent: 60}, domain.RenderRetried{Attempt: 2}))
	attempt, err := r.Start("w2", now, now)
	if err != nil || attempt != 2 || r.Progress() != 0 {
		t.Fatalf("attempt %d progress %d err %v", attempt, r.Progress(), err)
	}
	if err := r.Complete(domain.RenderCompleted{Attempt: 2}, now); err != nil || r.Progress() != 100 {
		t.Fatalf("complete: %v, progress %d", err, r.Progress())
	}
}
