package domain_test

import (
	"errors"
	"reflect"
	"strings"
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

// The one transition function: what each event leaves, and whether the
// render's own commands record it from that state (a read model folds
// only those onto its stored row).
func TestRenderLifecycle_next(t *testing.T) {
	at := now.Add(time.Hour)
	lease := now.Add(time.Minute)
	pending := domain.RenderLifecycle{State: domain.RenderStatePending, CreatedAt: now}
	running := domain.RenderLifecycle{State: domain.RenderStateRunning, Attempt: 2, WorkerID: "w2", LeaseUntil: lease,
		Progress: 40, ETA: time.Second, Crashes: 1, CreatedAt: now, StartedAt: now}
	completed := running
	completed.State, completed.Progress, completed.ETA, completed.FinishedAt = domain.RenderStateCompleted, 100, 0, now
	with := func(s domain.RenderLifecycle, change func(*domain.RenderLifecycle)) domain.RenderLifecycle {
		change(&s)
		return s
	}
	cases := []struct {
		name  string
		given domain.RenderLifecycle
		event domain.Event
		want  domain.RenderLifecycle
		ok    bool
	}{
		{"a_request_opens_a_pending_render", domain.RenderLifecycle{}, requested,
			domain.RenderLifecycle{State: domain.RenderStatePending, CreatedAt: at}, true},
		{"a_second_request_is_applied_but_no_command_records_it", running, requested,
			with(running, func(s *domain.RenderLifecycle) { s.State, s.CreatedAt = domain.RenderStatePending, at }), false},
		{"start_claims_the_attempt_at_zero_progress", with(pending, func(s *domain.RenderLifecycle) { s.Attempt, s.Progress, s.ETA = 1, 30, time.Second }),
			domain.RenderStarted{Attempt: 2, WorkerID: "w2", LeaseUntil: lease},
			with(pending, func(s *domain.RenderLifecycle) {
				s.State, s.Attempt, s.WorkerID, s.LeaseUntil, s.StartedAt = domain.RenderStateRunning, 2, "w2", lease, at
			}), true},
		{"a_start_of_a_running_render_is_no_command_of_it", running, domain.RenderStarted{Attempt: 3, WorkerID: "w3", LeaseUntil: lease},
			with(running, func(s *domain.RenderLifecycle) {
				s.Attempt, s.WorkerID, s.StartedAt, s.Progress, s.ETA = 3, "w3", at, 0, 0
			}), false},
		{"progress_of_the_running_attempt", running, domain.RenderProgressed{Attempt: 2, Percent: 60, ETA: 2 * time.Second},
			with(running, func(s *domain.RenderLifecycle) { s.Progress, s.ETA = 60, 2*time.Second }), true},
		{"progress_of_another_attempt_is_applied_but_no_command_records_it", running, domain.RenderProgressed{Attempt: 1, Percent: 60},
			with(running, func(s *domain.RenderLifecycle) { s.Progress, s.ETA = 60, 0 }), false},
		{"completion_of_the_running_attempt_is_100_percent", running, domain.RenderCompleted{Attempt: 2, BlobKey: "k"},
			with(running, func(s *domain.RenderLifecycle) {
				s.State, s.Progress, s.ETA, s.FinishedAt = domain.RenderStateCompleted, 100, 0, at
				s.Result = &domain.RenderCompleted{Attempt: 2, BlobKey: "k"}
			}), true},
		{"failure_of_the_running_attempt_keeps_its_progress", running, domain.RenderFailed{Attempt: 2, Code: "encode_failed", Message: "exit 1"},
			with(running, func(s *domain.RenderLifecycle) {
				s.State, s.FinishedAt, s.Failure = domain.RenderStateFailed, at, &domain.Failure{Code: "encode_failed", Message: "exit 1"}
			}), true},
		{"failure_of_a_stale_attempt_is_no_command_of_it", running, domain.RenderFailed{Attempt: 1, Code: "encode_failed"},
			with(running, func(s *domain.RenderLifecycle) {
				s.State, s.FinishedAt, s.Failure = domain.RenderStateFailed, at, &domain.Failure{Code: "encode_failed"}
			}), false},
		{"cancel_a_pending_render", pending, domain.RenderCancelled{},
			with(pending, func(s *domain.RenderLifecycle) { s.State, s.FinishedAt = domain.RenderStateCancelled, at }), true},
		{"cancel_a_running_render", running, domain.RenderCancelled{Attempt: 2},
			with(running, func(s *domain.RenderLifecycle) { s.State, s.FinishedAt = domain.RenderStateCancelled, at }), true},
		{"cancel_after_completion_is_no_command_of_it", completed, domain.RenderCancelled{},
			with(completed, func(s *domain.RenderLifecycle) { s.State, s.FinishedAt = domain.RenderStateCancelled, at }), false},
		{"a_lost_lease_waits_for_the_next_attempt_and_counts_a_crash", running, domain.RenderRetried{Attempt: 3, Reason: domain.RetryLeaseExpired},
			with(running, func(s *domain.RenderLifecycle) {
				s.State, s.WorkerID, s.LeaseUntil, s.Progress, s.ETA, s.Crashes = domain.RenderStatePending, "", time.Time{}, 0, 0, 2
			}), true},
		{"a_hand_back_is_no_crash", running, domain.RenderRetried{Attempt: 3, Reason: domain.RetryHandedBack},
			with(running, func(s *domain.RenderLifecycle) {
				s.State, s.WorkerID, s.LeaseUntil, s.Progress, s.ETA = domain.RenderStatePending, "", time.Time{}, 0, 0
			}), true},
		{"a_retry_that_skips_an_attempt_is_no_command_of_it", running, domain.RenderRetried{Attempt: 5},
			with(running, func(s *domain.RenderLifecycle) {
				s.State, s.Attempt, s.WorkerID, s.LeaseUntil, s.Progress, s.ETA = domain.RenderStatePending, 4, "", time.Time{}, 0, 0
			}), false},
		{"another_aggregates_event_changes_nothing", running, domain.CutFailed{Code: "x"}, running, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.given.Next(c.event, at)
			if ok != c.ok || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Next = %+v, %t\n  want %+v, %t", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestRebuildRender_refuses_another_aggregates_event(t *testing.T) {
	if _, err := domain.RebuildRender(renderHistory(requested, domain.CutFailed{Code: "x"})); err == nil || !strings.Contains(err.Error(), "not a render event") {
		t.Fatalf("err = %v, want not a render event", err)
	}
}
