package telemetry

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegistry_exports_renderd_families_and_the_runtime(t *testing.T) {
	HTTPRequests.WithLabelValues("/v1/renders", "POST", "201").Inc()
	families, err := Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"renderd_http_requests_total", "go_goroutines", "process_resident_memory_bytes"} {
		if !names[want] {
			t.Errorf("%s not gathered", want)
		}
	}
	for name := range names {
		if !strings.HasPrefix(name, "renderd_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("%s: a family outside renderd's, Go's and the process's", name)
		}
	}
}

func TestRegister_tolerates_an_equal_collector_and_unregisters(t *testing.T) {
	opts := prometheus.GaugeOpts{Name: "renderd_test_register", Help: "test"}
	first := Register(prometheus.NewGauge(opts))
	second := Register(prometheus.NewGauge(opts))
	second() // the duplicate was never registered: a no-op
	if n := testutil.CollectAndCount(Registry, "renderd_test_register"); n != 1 {
		t.Fatalf("series after a duplicate registration: %d, want 1", n)
	}
	first()
	if n := testutil.CollectAndCount(Registry, "renderd_test_register"); n != 0 {
		t.Fatalf("series after unregistering: %d, want 0", n)
	}
}
