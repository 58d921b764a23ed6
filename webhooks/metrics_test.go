package webhooks_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/renderd/renderd/telemetry"
	"github.com/renderd/renderd/webhooks"
)

func deliveries(outcome string) float64 {
	return testutil.ToFloat64(telemetry.WebhookDeliveries.WithLabelValues(outcome))
}

// latency is the delivery-latency histogram's count and sum.
func latency(t *testing.T) (uint64, float64) {
	t.Helper()
	families, err := telemetry.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "renderd_webhook_delivery_latency_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

// A 2xx counts one delivery and times it from the event's commit, which
// the payload's created_at carries.
func TestDispatcher_a_delivered_attempt_counts_and_is_timed_from_the_events_commit(t *testing.T) {
	_, d, _, pool := attemptFixture(t, webhooks.Result{StatusCode: 200})
	if _, err := pool.Exec(t.Context(), `UPDATE webhook_deliveries SET payload = jsonb_build_object('created_at', now() - interval '1 minute')`); err != nil {
		t.Fatal(err)
	}
	delivered := deliveries(telemetry.DeliveryDelivered)
	count, sum := latency(t)
	if n, err := webhooks.ClaimAndAttempt(t.Context(), d, 10); err != nil || n != 1 {
		t.Fatalf("claimed %d (%v), want 1", n, err)
	}
	if got := deliveries(telemetry.DeliveryDelivered) - delivered; got != 1 {
		t.Errorf("delivered: %v, want 1", got)
	}
	c, s := latency(t)
	if c-count != 1 || s-sum < 60 {
		t.Errorf("latency: %d observations adding %vs; want 1 of at least the minute since the event", c-count, s-sum)
	}
}

// A failed attempt with attempts left counts as failed; the last one as
// abandoned, and an endpoint failing past DisableAfter is disabled and
// counted once: its next delivery finds it gone and is abandoned.
func TestDispatcher_failed_attempts_count_failed_then_abandoned_and_the_endpoint_disabled_once(t *testing.T) {
	_, d, _, pool := attemptFixture(t, webhooks.Result{StatusCode: 503})
	failed, abandoned := deliveries(telemetry.DeliveryFailed), deliveries(telemetry.DeliveryAbandoned)
	disabled := testutil.ToFloat64(telemetry.WebhookEndpointsDisabled)
	attempt := func() {
		t.Helper()
		if _, err := pool.Exec(t.Context(), `UPDATE webhook_deliveries SET next_attempt_at = now()`); err != nil {
			t.Fatal(err)
		}
		if n, err := webhooks.ClaimAndAttempt(t.Context(), d, 10); err != nil || n != 1 {
			t.Fatalf("claimed %d (%v), want 1", n, err)
		}
	}
	attempt()
	if f, a := deliveries(telemetry.DeliveryFailed)-failed, deliveries(telemetry.DeliveryAbandoned)-abandoned; f != 1 || a != 0 {
		t.Fatalf("after a retried failure: %v failed, %v abandoned; want 1, 0", f, a)
	}
	// The fifth attempt is the schedule's last; the endpoint has failed
	// for longer than DisableAfter (an hour).
	if _, err := pool.Exec(t.Context(), `UPDATE webhook_deliveries SET attempts = 4;
		UPDATE webhook_endpoints SET failing_since = now() - interval '2 hours'`); err != nil {
		t.Fatal(err)
	}
	attempt()
	if f, a := deliveries(telemetry.DeliveryFailed)-failed, deliveries(telemetry.DeliveryAbandoned)-abandoned; f != 1 || a != 1 {
		t.Errorf("after the last attempt: %v failed, %v abandoned; want 1, 1", f, a)
	}
	if got := testutil.ToFloat64(telemetry.WebhookEndpointsDisabled) - disabled; got != 1 {
		t.Errorf("endpoints disabled: %v, want 1", got)
	}
	// Another delivery to the disabled endpoint is abandoned unsent, and
	// disables nothing more.
	if _, err := pool.Exec(t.Context(), `UPDATE webhook_deliveries SET status = 'pending', attempts = 0`); err != nil {
		t.Fatal(err)
	}
	attempt()
	if a := deliveries(telemetry.DeliveryAbandoned) - abandoned; a != 2 {
		t.Errorf("abandoned after a delivery to the disabled endpoint: %v, want 2", a)
	}
	if got := testutil.ToFloat64(telemetry.WebhookEndpointsDisabled) - disabled; got != 1 {
		t.Errorf("endpoints disabled: %v, want still 1", got)
	}
}
