package domain_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func eventTypes(events []domain.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, reflect.TypeOf(e).Name())
	}
	return out
}

func TestRender_delete_and_expiry(t *testing.T) {
	started := domain.RenderStarted{Attempt: 1, WorkerID: "w1", LeaseUntil: now.Add(time.Minute)}
	completed := domain.RenderCompleted{Attempt: 1, BlobKey: "renders/rnd_1/attempt-1.mp4", SizeBytes: 10}
	cutoff := now.Add(time.Hour) // the history's events happened at now
	cases := []struct {
		name        string
		given       []domain.Event
		when        func(r *domain.Render) error
		want        []string
		wantErr     string
		replaceable bool
	}{
		{"deleting_a_pending_render_cancels_it_first", []domain.Event{requested},
			func(r *domain.Render) error { r.Delete(now); return nil }, []string{"RenderCancelled", "RenderDeleted"}, "", false},
		{"deleting_a_running_render_cancels_its_attempt", []domain.Event{requested, started},
			func(r *domain.Render) error { r.Delete(now); return nil }, []string{"RenderCancelled", "RenderDeleted"}, "", false},
		{"deleting_a_completed_render_records_only_the_deletion", []domain.Event{requested, started, completed},
			func(r *domain.Render) error { r.Delete(now); return nil }, []string{"RenderDeleted"}, "", false},
		{"deleting_twice_changes_nothing", []domain.Event{requested, started, completed, domain.RenderDeleted{}},
			func(r *domain.Render) error { r.Delete(now); return nil }, nil, "", false},
		{"a_deleted_render_refuses_a_late_completion", []domain.Event{requested, started, domain.RenderCancelled{Attempt: 1}, domain.RenderDeleted{}},
			func(r *domain.Render) error { return r.Complete(completed, now) }, nil, "render_deleted", false},
		{"an_output_completed_before_the_cutoff_expires", []domain.Event{requested, started, completed},
			func(r *domain.Render) error { return r.ExpireOutput(cutoff, now) }, []string{"RenderOutputExpired"}, "", true},
		{"an_output_completed_after_the_cutoff_is_refused", []domain.Event{requested, started, completed},
			func(r *domain.Render) error { return r.ExpireOutput(now.Add(-time.Hour), now) }, nil, "output_not_expired", false},
		{"expiring_twice_changes_nothing", []domain.Event{requested, started, completed, domain.RenderOutputExpired{Attempt: 1}},
			func(r *domain.Render) error { return r.ExpireOutput(cutoff, now) }, nil, "", true},
		{"a_running_render_has_no_output_to_expire", []domain.Event{requested, started},
			func(r *domain.Render) error { return r.ExpireOutput(cutoff, now) }, nil, "", false},
		{"a_deleted_render_has_no_output_to_expire", []domain.Event{requested, started, completed, domain.RenderDeleted{}},
			func(r *domain.Render) error { return r.ExpireOutput(cutoff, now) }, nil, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := domain.RebuildRender(renderHistory(tc.given...))
			if err != nil {
				t.Fatal(err)
			}
			err = tc.when(r)
			var conflict *domain.ConflictError
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (!errors.As(err, &conflict) || conflict.Code != tc.wantErr):
				t.Fatalf("error %v, want %s", err, tc.wantErr)
			}
			if got := eventTypes(r.Changes()); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("recorded %v, want %v", got, tc.want)
			}
			if r.Replaceable() != tc.replaceable {
				t.Fatalf("replaceable %v, want %v", r.Replaceable(), tc.replaceable)
			}
		})
	}
}

func TestRender_expiry_keeps_the_result_and_frees_the_output(t *testing.T) {
	r, err := domain.RebuildRender(renderHistory(requested, domain.RenderStarted{Attempt: 1}, domain.RenderCompleted{Attempt: 1, BlobKey: "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if !r.HoldsOutput() {
		t.Fatal("a completed render holds its output")
	}
	if err := r.ExpireOutput(now.Add(time.Second), now); err != nil {
		t.Fatal(err)
	}
	if r.HoldsOutput() || !r.OutputExpired() || r.State() != domain.RenderStateCompleted || r.Result() == nil {
		t.Fatalf("after expiry: holds %v expired %v state %s result %v", r.HoldsOutput(), r.OutputExpired(), r.State(), r.Result())
	}
	if got := r.Changes()[0].(domain.RenderOutputExpired); got.BlobKey != "k" || got.Attempt != 1 {
		t.Fatalf("expired %+v", got)
	}
}

func TestRenderLifecycle_next_of_deletion_and_expiry(t *testing.T) {
	completed := domain.RenderLifecycle{State: domain.RenderStateCompleted}
	cases := []struct {
		name string
		from domain.RenderLifecycle
		e    domain.Event
		ok   bool
	}{
		{"expiry_of_a_completed_render", completed, domain.RenderOutputExpired{}, true},
		{"expiry_of_a_failed_render_is_unusual", domain.RenderLifecycle{State: domain.RenderStateFailed}, domain.RenderOutputExpired{}, false},
		{"deletion_of_a_finished_render", completed, domain.RenderDeleted{}, true},
		{"deletion_of_a_running_render_is_unusual", domain.RenderLifecycle{State: domain.RenderStateRunning}, domain.RenderDeleted{}, false},
		{"a_second_deletion_is_unusual", domain.RenderLifecycle{State: domain.RenderStateCancelled, Deleted: true}, domain.RenderDeleted{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.from.Next(tc.e, now); ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
		})
	}
}

func TestAsset_delete_is_idempotent(t *testing.T) {
	a, err := domain.RebuildAsset(history(domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "n"},
		domain.AssetSourceUploaded{BlobKey: "assets/ast_1/source", SizeBytes: 7}))
	if err != nil {
		t.Fatal(err)
	}
	a.Delete(now)
	a.Delete(now)
	if got := eventTypes(a.Changes()); !reflect.DeepEqual(got, []string{"AssetDeleted"}) || !a.Deleted() || a.StoredBytes() != 7 {
		t.Fatalf("recorded %v, deleted %v, stored %d", got, a.Deleted(), a.StoredBytes())
	}
}

func TestAsset_a_part_the_asset_failed_on_is_stored_no_more(t *testing.T) {
	a, err := domain.RebuildAsset(history(domain.AssetCreated{Kind: domain.AssetKindVideo},
		domain.AssetAudioUploaded{BlobKey: "a", SizeBytes: 5}, domain.AssetSourceUploaded{BlobKey: "s", SizeBytes: 7},
		domain.AssetFailed{Part: domain.AssetPartSource, Code: domain.FailureSourceTooLarge}))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.StoredBytes(); got != 5 {
		t.Fatalf("stored %d, want the audio's 5", got)
	}
}

func TestCut_a_deleted_cut_neither_completes_nor_fails(t *testing.T) {
	c, err := domain.RequestCut("cut_1", "acc_1", "ast_1", []domain.Segment{seg(0, 1)}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	c.Delete(now)
	c.Delete(now)
	if err := c.Complete(time.Minute, nil, now); err != nil {
		t.Fatal(err)
	}
	c.Fail("asset_failed", "x", now)
	if got := eventTypes(c.Changes()); !reflect.DeepEqual(got, []string{"CutRequested", "CutDeleted"}) || !c.Deleted() {
		t.Fatalf("recorded %v", got)
	}
}
