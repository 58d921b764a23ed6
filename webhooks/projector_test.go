package webhooks_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/webhooks"
)

// viewPayload is a payload showing everything of the view it is given.
func viewPayload(eventID, eventType string, at time.Time, v projections.RenderView) ([]byte, error) {
	return json.Marshal(map[string]any{"id": eventID, "type": eventType, "created_at": at, "render": v})
}

// projectorFixture stores endpoints whe_1 … whe_n of acc_1 (the account
// testenv.AppendNext writes as) and whe_other of acc_2, and returns a
// projector whose loads are counted.
func projectorFixture(t *testing.T, n int) (*webhooks.Projector, *testenv.CountingLoader, *postgres.EventStore, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.Postgres(t)
	w := webhooks.NewStore(pool, testSealer(t))
	add := func(id, account string) {
		err := w.CreateEndpoint(t.Context(), webhooks.Endpoint{ID: id, AccountID: account, URL: "https://example.com/" + id, URLKey: "https://example.com/" + id,
			Events: webhooks.EventTypes, Secret: secretA, CreatedAt: time.Now()}, 20)
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		add(fmt.Sprintf("whe_%d", i+1), "acc_1")
	}
	add("whe_other", "acc_2")
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	loads := &testenv.CountingLoader{Next: store}
	newID := func() string { return "whd_" + uuid.Must(uuid.NewV7()).String() }
	return webhooks.NewProjector(pool, loads, viewPayload, newID, slog.New(slog.NewTextHandler(io.Discard, nil))), loads, store, pool
}

// appendRender appends a render's whole life, requested to completed (or
// failed), and returns its records as the event store holds them.
func appendRender(t *testing.T, store *postgres.EventStore, fail bool) []domain.Recorded {
	t.Helper()
	id := "rnd_" + uuid.NewString()
	now := time.Now().Truncate(time.Microsecond)
	r, err := domain.RequestRender(id, "acc_1", domain.RenderRequested{AssetID: "ast_1",
		Output: domain.OutputSpec{Format: domain.FormatM4A},
		Plan:   domain.RenderPlan{AudioBitrate: 128_000, Duration: 30 * time.Second}, Signature: "sig_" + id}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start("enc_1", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := r.ReportProgress(1, 50, 5*time.Second, 15*time.Second, now); err != nil {
		t.Fatal(err)
	}
	if fail {
		err = r.Fail(1, domain.FailureEncodeFailed, "stderr", false, now)
	} else {
		err = r.Complete(domain.RenderCompleted{Attempt: 1, BlobKey: "renders/" + id + "/attempt-1.m4a", SizeBytes: 480_000,
			Duration: 30 * time.Second, AudioBitrate: 128_000, EncodeTime: time.Second}, now)
	}
	if err != nil {
		t.Fatal(err)
	}
	var recs []domain.Recorded
	for _, e := range r.Changes() {
		rec, err := testenv.AppendNext(t.Context(), store, id, e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// deliveriesOf returns the endpoints that got a delivery of eventID, and
// whether every one's payload is want (compared as JSON).
func deliveriesOf(t *testing.T, pool *pgxpool.Pool, eventID string, want []byte) (endpoints []string, payloadsMatch bool) {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT endpoint_id, payload = $2::jsonb FROM webhook_deliveries WHERE event_id = $1 ORDER BY endpoint_id`, eventID, want)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	payloadsMatch = true
	for rows.Next() {
		var ep string
		var same bool
		if err := rows.Scan(&ep, &same); err != nil {
			t.Fatal(err)
		}
		endpoints, payloadsMatch = append(endpoints, ep), payloadsMatch && same
	}
	return endpoints, payloadsMatch
}

// wantPayload is the payload of a render's last event built from its whole
// history, as the store holds it.
func wantPayload(t *testing.T, recs []domain.Recorded, typ string) []byte {
	t.Helper()
	view, err := projections.RenderViewOf(recs)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	body, err := viewPayload(last.ID, typ, last.OccurredAt, view)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestWebhookProjector_folds_a_render_it_saw_from_its_start_and_loads_no_history(t *testing.T) {
	// Three endpoints: more than the ids the one statement offers at first.
	p, loads, store, pool := projectorFixture(t, 3)
	for _, fail := range []bool{false, true} {
		recs := appendRender(t, store, fail)
		for _, rec := range recs {
			if err := p.Handle(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
		}
		typ := map[bool]string{false: webhooks.RenderCompleted, true: webhooks.RenderFailed}[fail]
		got, same := deliveriesOf(t, pool, recs[len(recs)-1].ID, wantPayload(t, recs, typ))
		if fmt.Sprint(got) != "[whe_1 whe_2 whe_3]" || !same {
			t.Errorf("%s: deliveries to %v (payloads as built from the history: %v), want one to each of acc_1's three endpoints", typ, got, same)
		}
	}
	if n := loads.N.Load(); n != 0 {
		t.Errorf("%d histories loaded, want none: every view was folded", n)
	}
	if n := webhooks.FoldedViews(p); n != 0 {
		t.Errorf("%d views kept after the renders ended, want none", n)
	}
}

func TestWebhookProjector_a_render_seen_from_its_middle_is_built_from_the_event_store(t *testing.T) {
	p, loads, store, pool := projectorFixture(t, 1)
	recs := appendRender(t, store, false)
	// A restart or a rebalance: this projector sees the render from its
	// progress on, and Kafka hands the completion twice.
	for _, rec := range append(recs[2:], recs[len(recs)-1]) {
		if err := p.Handle(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	got, same := deliveriesOf(t, pool, recs[len(recs)-1].ID, wantPayload(t, recs, webhooks.RenderCompleted))
	if fmt.Sprint(got) != "[whe_1]" || !same {
		t.Errorf("deliveries to %v (payload as built from the history: %v), want one to whe_1", got, same)
	}
	if n := loads.N.Load(); n != 2 {
		t.Errorf("%d histories loaded, want 2 (the completion, and its repeat)", n)
	}
}

func TestWebhookProjector_records_that_are_not_the_stores_send_nothing_to_another_account(t *testing.T) {
	p, _, store, pool := projectorFixture(t, 1)
	recs := appendRender(t, store, false)
	// The opening record claims acc_2: the view folded from the records
	// says acc_2, the event store says acc_1.
	forged := append([]domain.Recorded(nil), recs...)
	forged[0].AccountID = "acc_2"
	for _, rec := range forged {
		if err := p.Handle(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	got, same := deliveriesOf(t, pool, recs[len(recs)-1].ID, wantPayload(t, recs, webhooks.RenderCompleted))
	if fmt.Sprint(got) != "[whe_1]" || !same {
		t.Errorf("deliveries to %v (payload as built from the store's history: %v), want one to acc_1's whe_1 only", got, same)
	}

	// A progress event of the store's, its record claiming a completion.
	recs = appendRender(t, store, false)
	for _, rec := range recs[:2] {
		if err := p.Handle(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	claimed := recs[2] // render.progressed
	claimed.Event = recs[len(recs)-1].Event
	if err := p.Handle(t.Context(), claimed); !errors.Is(err, projections.ErrUnprojectable) {
		t.Errorf("a progress event recorded as a completion: %v, want ErrUnprojectable", err)
	}

	// A completion the store does not hold at all.
	recs = appendRender(t, store, false)
	for _, rec := range recs[:len(recs)-1] {
		if err := p.Handle(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	last := recs[len(recs)-1]
	last.ID = uuid.Must(uuid.NewV7()).String()
	if err := p.Handle(t.Context(), last); !errors.Is(err, projections.ErrUnprojectable) {
		t.Errorf("a completion the store does not hold: %v, want ErrUnprojectable", err)
	}
	for _, id := range []string{claimed.StreamID, last.StreamID} {
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_deliveries WHERE render_id = $1`, id).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d deliveries (%v) of render %s, whose completion the store does not hold, want none", n, err, id)
		}
	}
}
