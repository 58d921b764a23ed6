package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/telemetry"
)

// The families the roles export (issue 19): each has a sample in a process
// running every role once one render has completed end to end and its
// webhook was delivered. The HTTP families are the API's, tested with it.
var roleFamilies = []string{
	"renderd_renders_total", "renderd_render_failures_total",
	"renderd_encoder_slots", "renderd_encode_duration_seconds", "renderd_encode_speed_ratio", "renderd_encoder_lease_takeovers_total",
	"renderd_relay_published_events_total", "renderd_projection_lag_seconds",
	"renderd_webhook_deliveries_total", "renderd_webhook_delivery_latency_seconds", "renderd_webhook_endpoints_disabled_total",
	"renderd_render_queue_depth", "renderd_render_queue_oldest_pending_seconds",
	"renderd_relay_lag_seconds", "renderd_consumer_lag_messages",
}

func TestMetrics_one_render_end_to_end_gives_every_role_family_a_sample(t *testing.T) {
	s := startService(t, "RENDERD_WEBHOOK_ALLOW=127.0.0.0/8,::1/128", "RENDERD_WEBHOOK_ALLOW_HTTP=true")
	key := s.account(60)
	rc := newReceiver(t, nil) // answers 204
	s.endpoint(key, rc.srv.URL)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	id := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp3"})).str("id")
	s.waitRender(key, id, "completed", encodeTimeout)
	testenv.Eventually(t, 30*time.Second, "the webhook to be delivered", func() bool { return rc.count() > 0 })

	var missing []string
	testenv.Eventually(t, 30*time.Second, "every role family to have a sample", func() bool {
		families, err := telemetry.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, f := range families {
			if len(f.GetMetric()) > 0 {
				got[f.GetName()] = true
			}
		}
		missing = slices.DeleteFunc(slices.Clone(roleFamilies), func(n string) bool { return got[n] })
		return len(missing) == 0
	})
	if len(missing) > 0 {
		t.Fatalf("families without a sample: %s", strings.Join(missing, ", "))
	}
	// The render's own facts, not only series at 0.
	families, _ := telemetry.Registry.Gather()
	for _, f := range families {
		switch f.GetName() {
		case "renderd_renders_total":
			var completed float64
			for _, m := range f.GetMetric() {
				l := map[string]string{}
				for _, p := range m.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				if l["format"] == "mp3" && l["outcome"] == "completed" {
					completed = m.GetCounter().GetValue()
				}
			}
			if completed < 1 {
				t.Errorf("mp3 renders completed: %v, want at least this one", completed)
			}
		case "renderd_projection_lag_seconds":
			var models []string
			for _, m := range f.GetMetric() {
				models = append(models, m.GetLabel()[0].GetValue())
			}
			for _, want := range []string{"assets", "renders", "webhook_deliveries"} {
				if !slices.Contains(models, want) {
					t.Errorf("projection lag of models %v: %s missing", models, want)
				}
			}
		case "renderd_webhook_delivery_latency_seconds":
			if f.GetMetric()[0].GetHistogram().GetSampleCount() < 1 {
				t.Error("no webhook latency observed")
			}
		}
	}
}
