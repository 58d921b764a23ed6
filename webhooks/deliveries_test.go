package webhooks_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/webhooks"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

// testSealer is a key ring of one all-zero key, for the stores' secrets.
func testSealer(t *testing.T) *keyring.AEAD {
	t.Helper()
	keys, err := keyring.Parse("k:"+base64.StdEncoding.EncodeToString(make([]byte, 32)), 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keyring.NewAEAD(keys)
	if err != nil {
		t.Fatal(err)
	}
	return sealer
}

// deliveryFixture stores endpoint whe_1 of acc_a with five deliveries:
// whd_0 … whd_4, a minute apart, failed and delivered by turns.
func deliveryFixture(t *testing.T) (*webhooks.Store, *pgxpool.Pool) {
	pool := testenv.Postgres(t)
	w := webhooks.NewStore(pool, testSealer(t))
	ctx := t.Context()
	err := w.CreateEndpoint(ctx, webhooks.Endpoint{ID: "whe_1", AccountID: "acc_a", URL: "https://example.com/h", URLKey: "https://example.com/h",
		Events: webhooks.EventTypes, Secret: "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", CreatedAt: t0}, 20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		status := []string{"failed", "delivered"}[i%2]
		_, err := pool.Exec(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, event_type, render_id, render_version,
				payload, status, created_at)
			VALUES ($1, 'whe_1', 'acc_a', $2, 'render.completed', 'rnd_1', 1, '{}', $3, $4)`,
			fmt.Sprintf("whd_%d", i), fmt.Sprintf("0190a1b2-0000-7000-8000-00000000000%d", i), status, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
	}
	return w, pool
}

func TestWebhookDeliveries_page_newest_first_with_a_cursor_bound_to_the_status(t *testing.T) {
	w, _ := deliveryFixture(t)
	ctx := t.Context()
	var got []string
	page := projections.Page{Limit: 1}
	for {
		list, next, err := w.Deliveries(ctx, "acc_a", "whe_1", "failed", page)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			got = append(got, d.ID)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if fmt.Sprint(got) != "[whd_4 whd_2 whd_0]" {
		t.Errorf("failed deliveries by pages of 1: %v, want [whd_4 whd_2 whd_0]", got)
	}
	_, next, err := w.Deliveries(ctx, "acc_a", "whe_1", "failed", projections.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"", "delivered"} {
		_, _, err := w.Deliveries(ctx, "acc_a", "whe_1", status, projections.Page{Limit: 1, Cursor: next})
		var invalid *domain.ValidationError
		if !errors.Is(err, projections.ErrBadCursor) || !errors.As(err, &invalid) || invalid.Field != "cursor" {
			t.Errorf("a status=failed cursor with status=%q: %v, want ErrBadCursor for the field cursor", status, err)
		}
	}
	if _, _, err := w.Deliveries(ctx, "acc_b", "whe_1", "", projections.Page{}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another account's endpoint: %v, want ErrNotFound", err)
	}
}

func TestWebhookRedeliver_takes_finished_deliveries_up_to_the_limit(t *testing.T) {
	w, pool := deliveryFixture(t)
	ctx := t.Context()
	conflict := func(err error) string {
		var c *domain.ConflictError
		if errors.As(err, &c) {
			return c.Code
		}
		return fmt.Sprint(err)
	}
	if err := w.Redeliver(ctx, "acc_a", "whd_0", 1); err != nil {
		t.Fatalf("a failed delivery: %v", err)
	}
	// Now pending, until the dispatcher sends it.
	if got := conflict(w.Redeliver(ctx, "acc_a", "whd_0", 5)); got != webhooks.CodeDeliveryPending {
		t.Errorf("a pending delivery: %s, want %s", got, webhooks.CodeDeliveryPending)
	}
	// Sent again and failed: finished, but redelivered as often as it may be.
	if _, err := pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE id = 'whd_0'`); err != nil {
		t.Fatal(err)
	}
	if got := conflict(w.Redeliver(ctx, "acc_a", "whd_0", 1)); got != webhooks.CodeRedeliveryLimit {
		t.Errorf("past the limit: %s, want %s", got, webhooks.CodeRedeliveryLimit)
	}
	if err := w.Redeliver(ctx, "acc_a", "whd_1", 1); err != nil {
		t.Fatalf("a delivered delivery: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE webhook_endpoints SET disabled_at = now() WHERE id = 'whe_1'`); err != nil {
		t.Fatal(err)
	}
	if got := conflict(w.Redeliver(ctx, "acc_a", "whd_3", 5)); got != webhooks.CodeEndpointOff {
		t.Errorf("a disabled endpoint's delivery: %s, want %s", got, webhooks.CodeEndpointOff)
	}
	if err := w.Redeliver(ctx, "acc_b", "whd_2", 5); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another account's delivery: %v, want ErrNotFound", err)
	}
	if err := w.Redeliver(ctx, "acc_a", "whd_9", 5); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an unknown delivery: %v, want ErrNotFound", err)
	}
}

// The API refuses these bytes at its boundary; should one slip through, a
// lookup must still answer not found, never an error (a 500).
func TestWebhooks_ids_with_bytes_postgres_refuses_are_not_found(t *testing.T) {
	w := webhooks.NewStore(testenv.Postgres(t), testSealer(t))
	ctx := t.Context()
	for _, id := range []string{"ast_\x00", "ast_\xff", "\x00"} {
		checks := map[string]error{}
		_, checks["endpoint"] = w.Endpoint(ctx, "acc_1", id)
		_, _, checks["deliveries"] = w.Deliveries(ctx, "acc_1", id, "", projections.Page{})
		checks["delete endpoint"] = w.DeleteEndpoint(ctx, "acc_1", id)
		_, checks["rotate"] = w.RotateSecret(ctx, "acc_1", id, "whsec_x", t0)
		checks["redeliver"] = w.Redeliver(ctx, "acc_1", id, 10)
		for name, err := range checks {
			if !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("%s %q: err = %v, want ErrNotFound", name, id, err)
			}
		}
	}
}
