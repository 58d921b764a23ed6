package projections_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/telemetry"
)

// memRows keeps rows in memory the way readmodel.Store does in Postgres:
// one row per stream at its version, a write only above it.
type memRows struct {
	mu       sync.Mutex
	versions map[string]int64
	renders  map[string]projections.RenderView
	store    memEvents
}

func (m *memRows) Project(_ context.Context, rec domain.Recorded, build func() (any, error)) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	current := m.versions[rec.StreamID]
	if rec.StreamVersion <= current {
		return current, false, nil
	}
	v, err := build()
	if err != nil {
		return current, false, err
	}
	m.versions[rec.StreamID] = rec.StreamVersion
	if rv, ok := v.(projections.RenderView); ok {
		m.renders[rec.StreamID] = rv
	}
	return current, true, nil
}

func (m *memRows) CreateRender(_ context.Context, rec domain.Recorded, v projections.RenderView) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.renders[rec.StreamID]; ok {
		return false, nil
	}
	m.renders[rec.StreamID], m.versions[rec.StreamID] = v, rec.StreamVersion
	return true, nil
}

func (m *memRows) ApplyToRender(_ context.Context, rec domain.Recorded,
	next func(row *projections.RenderView, stored string) (*projections.RenderView, bool, error)) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cur *projections.RenderView
	if v, ok := m.renders[rec.StreamID]; ok {
		cur = &v
	}
	stored := ""
	if h := m.store[rec.StreamID]; int64(len(h)) >= rec.StreamVersion {
		stored = h[rec.StreamVersion-1].ID
	}
	w, handled, err := next(cur, stored)
	if err == nil && w != nil {
		m.renders[rec.StreamID], m.versions[rec.StreamID] = *w, w.Version
	}
	return handled, err
}

// memEvents is the event store's streams.
type memEvents map[string][]domain.Recorded

func (m memEvents) Load(_ context.Context, id string) ([]domain.Recorded, error) { return m[id], nil }

// renderStream records a render's events, the last one ending it.
func renderStream(id string, end domain.Event) []domain.Recorded {
	at := time.Now().Add(-time.Second)
	events := []domain.Event{
		domain.RenderRequested{AssetID: "ast_1", Output: domain.OutputSpec{Format: domain.FormatMP3}, Plan: domain.RenderPlan{Duration: time.Second}, Signature: "s_" + id},
		domain.RenderStarted{Attempt: 1, WorkerID: "w1", LeaseUntil: at.Add(time.Minute)},
		end,
	}
	recs := make([]domain.Recorded, len(events))
	for i, e := range events {
		recs[i] = domain.Recorded{ID: fmt.Sprintf("evt_%s_%d", id, i+1), StreamID: id, StreamType: domain.AggregateRender,
			StreamVersion: int64(i + 1), Metadata: domain.Metadata{AccountID: "acc_1", OccurredAt: at}, Event: e}
	}
	return recs
}

func outcome(o string) float64 {
	return testutil.ToFloat64(telemetry.Renders.WithLabelValues("mp3", o))
}

// Each render's end counts once under its format and outcome (and a
// failure under its code), however often Kafka delivers its messages.
func TestRenderProjector_counts_each_render_end_once(t *testing.T) {
	events := memEvents{
		"rnd_done":   renderStream("rnd_done", domain.RenderCompleted{Attempt: 1, BlobKey: "k", SizeBytes: 1, Duration: time.Second}),
		"rnd_failed": renderStream("rnd_failed", domain.RenderFailed{Attempt: 1, Code: domain.FailureOutputInvalid, Message: "m"}),
		"rnd_cancel": renderStream("rnd_cancel", domain.RenderCancelled{Attempt: 1}),
	}
	rows := &memRows{versions: map[string]int64{}, renders: map[string]projections.RenderView{}, store: events}
	p := projections.NewRenderProjector(rows, events, slog.New(slog.DiscardHandler))
	completed, failed, cancelled := outcome(telemetry.OutcomeCompleted), outcome(telemetry.OutcomeFailed), outcome(telemetry.OutcomeCancelled)
	codes := testutil.ToFloat64(telemetry.RenderFailures.WithLabelValues(domain.FailureOutputInvalid))
	for range 2 { // every message twice
		for _, id := range []string{"rnd_done", "rnd_failed", "rnd_cancel"} {
			for _, rec := range events[id] {
				if err := p.Handle(t.Context(), rec); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if c, f, x := outcome(telemetry.OutcomeCompleted)-completed, outcome(telemetry.OutcomeFailed)-failed, outcome(telemetry.OutcomeCancelled)-cancelled; c != 1 || f != 1 || x != 1 {
		t.Errorf("renders counted: %v completed, %v failed, %v cancelled; want one each", c, f, x)
	}
	if d := testutil.ToFloat64(telemetry.RenderFailures.WithLabelValues(domain.FailureOutputInvalid)) - codes; d != 1 {
		t.Errorf("output_invalid failures counted: %v, want 1", d)
	}
	if lag := testutil.ToFloat64(telemetry.ProjectionLag.WithLabelValues("renders")); lag < 1 {
		t.Errorf("renders projection lag %v, want at least the second the events are old", lag)
	}
}

// An end that arrives after a gap is written by the rebuilding path, and
// counts there the same.
func TestRenderProjector_counts_an_end_projected_across_a_gap(t *testing.T) {
	events := memEvents{"rnd_gap": renderStream("rnd_gap", domain.RenderCompleted{Attempt: 1, BlobKey: "k", SizeBytes: 1, Duration: time.Second})}
	rows := &memRows{versions: map[string]int64{}, renders: map[string]projections.RenderView{}, store: events}
	p := projections.NewRenderProjector(rows, events, slog.New(slog.DiscardHandler))
	completed := outcome(telemetry.OutcomeCompleted)
	for _, v := range []int{0, 2} { // render.started's message is lost
		if err := p.Handle(t.Context(), events["rnd_gap"][v]); err != nil {
			t.Fatal(err)
		}
	}
	if d := outcome(telemetry.OutcomeCompleted) - completed; d != 1 {
		t.Errorf("completions counted: %v, want 1", d)
	}
}

// The asset and cut projectors set their own read model's lag.
func TestAssetProjector_sets_the_assets_lag(t *testing.T) {
	at := time.Now().Add(-2 * time.Second)
	rec := domain.Recorded{ID: "evt_a1", StreamID: "ast_1", StreamType: domain.AggregateAsset, StreamVersion: 1,
		Metadata: domain.Metadata{AccountID: "acc_1", OccurredAt: at}, Event: domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "x"}}
	events := memEvents{"ast_1": {rec}}
	rows := &memRows{versions: map[string]int64{}, renders: map[string]projections.RenderView{}, store: events}
	telemetry.ProjectionLag.WithLabelValues("assets").Set(0)
	if err := projections.NewAssetProjector(rows, events, slog.New(slog.DiscardHandler)).Handle(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if lag := testutil.ToFloat64(telemetry.ProjectionLag.WithLabelValues("assets")); lag < 2 {
		t.Errorf("assets projection lag %v, want at least the 2 s the event is old", lag)
	}
}
