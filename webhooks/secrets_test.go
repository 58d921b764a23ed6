package webhooks_test

import (
	"encoding/base64"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/webhooks"
)

const (
	secretA = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	secretB = "whsec_ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
)

// secretsFixture stores endpoint whe_s of acc_a with secretA sealed and one
// due delivery, and returns the store and a dispatcher (never run: the tests
// claim by hand).
func secretsFixture(t *testing.T) (*webhooks.Store, *webhooks.Dispatcher, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.Postgres(t)
	sealer := testSealer(t)
	w := webhooks.NewStore(pool, sealer)
	ctx := t.Context()
	err := w.CreateEndpoint(ctx, webhooks.Endpoint{ID: "whe_s", AccountID: "acc_a", URL: "https://example.com/h", URLKey: "https://example.com/h",
		Events: webhooks.EventTypes, Secret: secretA, CreatedAt: time.Now()}, 20)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, event_type, render_id, render_version,
			payload, status, created_at, next_attempt_at)
		VALUES ('whd_s', 'whe_s', 'acc_a', '0190a1b2-0000-7000-8000-000000000001', 'render.completed', 'rnd_1', 1, '{}', 'pending', now(), now())`)
	if err != nil {
		t.Fatal(err)
	}
	d, err := webhooks.NewDispatcher(pool, nil, sealer, nil, nil,
		webhooks.DispatcherConfig{Senders: 1, PerEndpoint: 1, Poll: time.Second, Hold: time.Minute, DisableAfter: time.Hour, ReadModelWait: time.Second},
		time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return w, d, pool
}

// claimSecrets claims the fixture's delivery (due again first) and returns
// the secrets that would sign it.
func claimSecrets(t *testing.T, d *webhooks.Dispatcher, pool *pgxpool.Pool) ([]string, error) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = 'whd_s'`); err != nil {
		t.Fatal(err)
	}
	secrets, errs, err := webhooks.ClaimSecrets(t.Context(), d, 10)
	if err != nil || len(secrets) != 1 {
		t.Fatalf("claim: %d deliveries, %v", len(secrets), err)
	}
	return secrets[0], errs[0]
}

func TestWebhookSecrets_a_rotation_by_an_older_process_on_a_sealed_row_signs_with_the_new_secret_and_keeps_the_old(t *testing.T) {
	w, d, pool := secretsFixture(t)
	// What RotateSecret ran before migration 00013, as a process not yet
	// upgraded still runs it: the new secret in clear, the sealed one left.
	_, err := pool.Exec(t.Context(), `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $2, secret = $3
		WHERE id = $1 AND account_id = 'acc_a' AND deleted_at IS NULL`, "whe_s", time.Now().Add(time.Hour), secretB)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{secretB, secretA}
	if got, err := claimSecrets(t, d, pool); err != nil || !slices.Equal(got, want) {
		t.Fatalf("before sealing: signs with %q (%v), want %q", got, err, want)
	}
	if n, err := w.SealSecrets(t.Context(), false); err != nil || n != 1 {
		t.Fatalf("SealSecrets: %d rows, %v; want 1", n, err)
	}
	var clear int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_endpoints WHERE secret IS NOT NULL OR previous_secret IS NOT NULL`).Scan(&clear); err != nil || clear != 0 {
		t.Fatalf("%d rows still in clear (%v)", clear, err)
	}
	if got, err := claimSecrets(t, d, pool); err != nil || !slices.Equal(got, want) {
		t.Fatalf("after sealing: signs with %q (%v), want %q", got, err, want)
	}
}

func TestWebhookSecrets_a_previous_secret_that_no_longer_opens_holds_nothing_back_after_its_grace(t *testing.T) {
	_, d, pool := secretsFixture(t)
	// The previous secret is sealed under a key no longer in the ring.
	keys, err := keyring.Parse("gone:"+base64.StdEncoding.EncodeToString(make([]byte, 32)), 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := keyring.NewAEAD(keys)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := gone.Seal([]byte(secretB), []byte("webhook_endpoints/whe_s/previous"))
	if err != nil {
		t.Fatal(err)
	}
	setUntil := func(until time.Time) {
		t.Helper()
		_, err := pool.Exec(t.Context(), `UPDATE webhook_endpoints SET previous_secret_sealed = $2, previous_secret_until = $3 WHERE id = $1`,
			"whe_s", sealed, until)
		if err != nil {
			t.Fatal(err)
		}
	}
	setUntil(time.Now().Add(time.Hour))
	if _, err := claimSecrets(t, d, pool); err == nil {
		t.Fatal("within its grace period, a previous secret that does not open must hold the delivery (nothing goes out half-signed)")
	}
	setUntil(time.Now().Add(-time.Minute))
	if got, err := claimSecrets(t, d, pool); err != nil || !slices.Equal(got, []string{secretA}) {
		t.Fatalf("after its grace period: signs with %q (%v), want only the current secret", got, err)
	}
}
