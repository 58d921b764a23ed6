package relay_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/telemetry"
)

// renderd_relay_lag_seconds reads the shared checkpoint: above 0 while
// committed events wait for a relay, 0 once one has shipped them; and the
// relay counts what it published.
func TestRelayLag_grows_while_the_relay_is_stopped_and_is_zero_once_it_caught_up(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	lag := func() time.Duration {
		t.Helper()
		d, err := postgres.RelayLag(ctx, f.pool, "relay")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := lag(); d != 0 {
		t.Fatalf("lag of an empty log: %v, want 0", d)
	}
	for _, stream := range []string{"ast_1", "ast_2", "ast_3"} {
		if _, err := f.appendEvent(ctx, stream, domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "clip.mp4"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := lag(); d <= 0 {
		t.Fatalf("lag with three events and no relay: %v, want above 0", d)
	}
	// The collector a relay process registers says the same.
	collector := postgres.RelayLagCollector(f.pool, "relay", testenv.Logger(t))
	if v := testutil.ToFloat64(collector); v <= 0 {
		t.Fatalf("collected lag: %v, want above 0", v)
	}

	published := testutil.ToFloat64(telemetry.RelayPublished)
	f.startRelay("relay", 100)
	testenv.Eventually(t, 30*time.Second, "the relay to catch up", func() bool { return lag() == 0 })
	if got := testutil.ToFloat64(telemetry.RelayPublished) - published; got != 3 {
		t.Errorf("renderd_relay_published_events_total moved by %v, want 3", got)
	}
	// Another reader's checkpoint is its own: nothing shipped under it.
	other, err := postgres.RelayLag(ctx, f.pool, "another-relay")
	if err != nil || other <= 0 {
		t.Errorf("lag of a relay that never ran: %v, %v; want above 0", other, err)
	}
}

// A database that does not answer leaves the scrape without the series.
func TestRelayLagCollector_exports_nothing_when_the_database_is_away(t *testing.T) {
	f := newFixture(t)
	pool := f.pool
	collector := postgres.RelayLagCollector(pool, "relay", testenv.Logger(t))
	pool.Close()
	if n := testutil.CollectAndCount(collector); n != 0 {
		t.Fatalf("series with the database closed: %d, want none", n)
	}
}
