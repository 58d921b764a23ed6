package readmodel_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

func (h *renderHistory) expire() *renderHistory {
	return h.do(func(r *domain.Render, now time.Time) error { return r.ExpireOutput(now, now) })
}

func (h *renderHistory) delete() *renderHistory {
	return h.do(func(r *domain.Render, now time.Time) error { r.Delete(now); return nil })
}

func TestRenderProjection_an_expired_output_keeps_the_render_completed(t *testing.T) {
	f := newRenderFixture(t)
	f.handle(f.store(newRenderHistory(t, "rnd_1", "acc_1", videoRequest("ast_1"), t0).start(secretWorker).complete().expire())...)
	v := f.render("acc_1", "rnd_1")
	if v.State != domain.RenderStateCompleted || !v.OutputExpired || v.Result == nil || v.Result.SizeBytes != 912_345 {
		t.Fatalf("expired render: %+v", v)
	}
	due, err := f.queries.OutputsDue(t.Context(), t0.Add(time.Hour), 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("outputs due after expiry: %v %v", due, err)
	}
}

func TestOutputsDue_lists_completed_outputs_held_past_the_cutoff_oldest_first(t *testing.T) {
	f := newRenderFixture(t)
	f.seedRender("rnd_new", "acc_1", "ast_1", t0.Add(time.Hour), func(h *renderHistory) { h.start(secretWorker).complete() })
	f.seedRender("rnd_old", "acc_1", "ast_2", t0, func(h *renderHistory) { h.start(secretWorker).complete() })
	f.seedRender("rnd_running", "acc_1", "ast_3", t0, func(h *renderHistory) { h.start(secretWorker) })
	f.seedRender("rnd_deleted", "acc_2", "ast_4", t0, func(h *renderHistory) { h.start(secretWorker).complete().delete() })
	due, err := f.queries.OutputsDue(t.Context(), t0.Add(30*time.Minute), 10)
	if err != nil || !slices.Equal(due, []string{"rnd_old"}) {
		t.Fatalf("due %v %v, want rnd_old", due, err)
	}
	due, err = f.queries.OutputsDue(t.Context(), t0.Add(2*time.Hour), 1)
	if err != nil || !slices.Equal(due, []string{"rnd_old"}) {
		t.Fatalf("a batch of one: %v %v, want the oldest", due, err)
	}
}

func TestRenderQueries_a_deleted_render_is_not_found_and_not_listed(t *testing.T) {
	f := newRenderFixture(t)
	f.seedRender("rnd_gone", "acc_1", "ast_1", t0, func(h *renderHistory) { h.start(secretWorker).delete() })
	f.seedRender("rnd_kept", "acc_1", "ast_2", t0, func(h *renderHistory) { h.start(secretWorker) })
	if _, err := f.queries.Render(t.Context(), "acc_1", "rnd_gone"); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("a deleted render: %v, want not found", err)
	}
	if _, err := f.queries.RenderHistory(t.Context(), "acc_1", "rnd_gone"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a deleted render's history: %v, want not found", err)
	}
	list, _, err := f.queries.ListRenders(t.Context(), "acc_1", projections.RenderFilter{}, projections.Page{Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != "rnd_kept" {
		t.Fatalf("list %+v %v, want rnd_kept alone", list, err)
	}
}
