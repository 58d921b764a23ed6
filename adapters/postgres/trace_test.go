package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

const (
	traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	traceState  = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
)

// The trace context in an event's metadata is stored with it and comes
// back from every read: Load, the relay's ReadLog and the audit's
// StreamEntries; on a stream's first append (held back) and on a later
// one alike. An event stored without one (older than migration 00017, or
// recorded untraced) loads with none.
func TestEventStore_keeps_the_trace_context_in_the_metadata(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	traced := domain.Metadata{AccountID: "acc_1", OccurredAt: time.Now(), TraceParent: traceParent, TraceState: traceState}
	untraced := domain.Metadata{AccountID: "acc_1", OccurredAt: time.Now()}
	err := store.Transact(ctx, []string{"rnd_traced"}, func(ctx context.Context, tx commands.Tx) error {
		if _, err := tx.Append(ctx, "rnd_traced", commands.NoStream(), traced, domain.RenderProgressed{Attempt: 1, Percent: 1}); err != nil {
			return err
		}
		_, err := tx.Append(ctx, "rnd_traced", commands.Exactly(1), traced, domain.RenderProgressed{Attempt: 1, Percent: 2})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Transact(ctx, []string{"rnd_traced"}, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.Append(ctx, "rnd_traced", commands.Exactly(2), untraced, domain.RenderProgressed{Attempt: 1, Percent: 3})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// As a writer older than the columns inserts: without naming them.
	if _, err := pool.Exec(ctx, `INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, account_id,
		correlation_id, causation_id, occurred_at, data) VALUES (gen_random_uuid(), 'rnd_traced', 'render', 4,
		'render.progressed.v1', 'acc_1', '', '', now(), '{"attempt": 1, "percent": 4}')`); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{traceParent, traceState}, {traceParent, traceState}, {"", ""}, {"", ""}}
	check := func(what string, got []domain.Metadata) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d events", what, len(got))
		}
		for i, m := range got {
			if m.TraceParent != want[i][0] || m.TraceState != want[i][1] {
				t.Errorf("%s: event %d carries %q %q, want %q", what, i+1, m.TraceParent, m.TraceState, want[i])
			}
		}
	}
	recs, err := store.Load(ctx, "rnd_traced")
	if err != nil {
		t.Fatal(err)
	}
	var loaded []domain.Metadata
	for _, r := range recs {
		loaded = append(loaded, r.Metadata)
	}
	check("Load", loaded)
	ofStream := func(entries []postgres.LogEntry) []domain.Metadata {
		var metas []domain.Metadata
		for _, e := range entries {
			if e.StreamID == "rnd_traced" {
				metas = append(metas, e.Metadata)
			}
		}
		return metas
	}
	entries, err := store.StreamEntries(ctx, "rnd_traced")
	if err != nil {
		t.Fatal(err)
	}
	check("StreamEntries", ofStream(entries))
	// Transactions anywhere in the cluster hold the relay's reader back
	// (xids are cluster-wide), so other tests' work may delay it a little.
	testenv.Eventually(t, 10*time.Second, "the four events to become readable", func() bool {
		entries, err = postgres.ReadLog(ctx, pool, postgres.Checkpoint{}, 100)
		return err == nil && len(ofStream(entries)) == len(want)
	})
	check("ReadLog", ofStream(entries))
}

// A render job row keeps the trace context of the command that wrote it,
// and Pending hands it to the encoder that claims the render; a row
// written again (a retry) takes the new command's.
func TestRenderJobs_keep_the_trace_context_for_the_claim(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	set := func(j commands.RenderJob) {
		t.Helper()
		if err := store.Transact(ctx, []string{j.RenderID}, func(ctx context.Context, tx commands.Tx) error { return tx.SetRenderJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
	}
	since := time.Now().Add(-time.Minute)
	set(commands.RenderJob{RenderID: "rnd_t", AccountID: "acc_t", State: domain.RenderStatePending, Since: since,
		TraceParent: traceParent, TraceState: traceState})
	set(commands.RenderJob{RenderID: "rnd_u", AccountID: "acc_u", State: domain.RenderStatePending, Since: since})
	pending := func() map[string]commands.PendingRender {
		t.Helper()
		ps, err := postgres.NewRenderJobs(pool).Pending(ctx, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]commands.PendingRender{}
		for _, p := range ps {
			out[p.RenderID] = p
		}
		return out
	}
	got := pending()
	if p := got["rnd_t"]; p.TraceParent != traceParent || p.TraceState != traceState {
		t.Errorf("traced job: %+v", p)
	}
	if p := got["rnd_u"]; p.RenderID == "" || p.TraceParent != "" || p.TraceState != "" {
		t.Errorf("untraced job: %+v", p)
	}
	retried := "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
	set(commands.RenderJob{RenderID: "rnd_t", AccountID: "acc_t", State: domain.RenderStatePending, Attempt: 1, Since: time.Now(),
		TraceParent: retried})
	if p := pending()["rnd_t"]; p.TraceParent != retried || p.TraceState != "" {
		t.Errorf("rewritten job: %+v", p)
	}
}
