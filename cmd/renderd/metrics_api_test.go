package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/ports/consumers"
)

// probe is one answer of /readyz (or any JSON endpoint): its status and
// its checks.
type probe struct {
	status int
	body   string
	checks map[string]string
}

func get(url string) (probe, error) {
	resp, err := http.Get(url) //nolint:noctx // a short poll
	if err != nil {
		return probe{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return probe{}, err
	}
	p := probe{status: resp.StatusCode, body: string(b)}
	var r struct {
		Checks map[string]string `json:"checks"`
	}
	if json.Unmarshal(b, &r) == nil {
		p.checks = r.Checks
	}
	return p, nil
}

// roleGroups are the consumer groups each role joins.
var roleGroups = map[string][]string{
	RoleProjector: {consumers.AssetsProjectorGroup, consumers.CutsProjectorGroup, consumers.RendersProjectorGroup},
	RoleEncoder:   {consumers.AssetsMediaGroup, consumers.CutsMediaGroup, consumers.RendersEncoderGroup},
	RoleWebhooks:  {consumers.RendersWebhooksGroup},
}

// Every role, alone or all together, serves /metrics, /healthz and /readyz
// on the metrics listener; /readyz says 200 only once each consumer group
// of the process has settled with this process's member in it; the API's
// port has no /metrics.
func TestMetricsListener_every_role_serves_it_and_is_ready_once_its_groups_are_assigned(t *testing.T) {
	f := newServeFixture(t)
	admin, err := sarama.NewClusterAdmin(testenv.KafkaBrokers(t), kafka.ConsumerConfig("metrics-test-admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, roles := range []string{RoleAPI, RoleRelay, RoleProjector, RoleEncoder, RoleWebhooks, strings.Join(allRoles, ",")} {
		t.Run(strings.ReplaceAll(roles, ",", "+"), func(t *testing.T) {
			metricsAddr, apiAddr := freeAddr(t), freeAddr(t)
			groupPrefix := testenv.TopicPrefix(t)
			p := start(t, append(f.env, "RENDERD_METRICS_ADDR="+metricsAddr, "RENDERD_HTTP_ADDR="+apiAddr,
				"RENDERD_KAFKA_GROUP_PREFIX="+groupPrefix, "RENDERD_ENCODER_CONCURRENCY=1"), "serve", "--roles", roles)
			base := "http://" + metricsAddr
			var ready probe
			testenv.Eventually(t, 90*time.Second, "/readyz on the metrics listener to answer 200", func() bool {
				ready, err = get(base + "/readyz")
				return err == nil && ready.status == http.StatusOK
			})
			want := []string{"postgres", "roles", "kafka"}
			var groups []string
			for _, r := range strings.Split(roles, ",") {
				groups = append(groups, roleGroups[r]...)
			}
			if len(groups) > 0 {
				want = append(want, "consumers")
			}
			for _, c := range want {
				if ready.checks[c] != "ok" {
					t.Errorf("ready, but check %q is %q: %s", c, ready.checks[c], ready.body)
				}
			}
			if len(ready.checks) != len(want) {
				t.Errorf("checks %v, want %v", ready.checks, want)
			}

			// Ready means assigned: the cluster shows every group settled
			// with this process's member in it.
			if len(groups) > 0 {
				names := make([]string, len(groups))
				for i, g := range groups {
					names[i] = groupPrefix + g
				}
				ds, err := admin.DescribeConsumerGroups(names)
				if err != nil {
					t.Fatal(err)
				}
				mine := fmt.Sprintf("renderd-consumer-%d-", p.cmd.Process.Pid)
				for _, d := range ds {
					found := false
					for _, m := range d.Members {
						found = found || (m.GroupInstanceId != nil && strings.HasPrefix(*m.GroupInstanceId, mine))
					}
					if d.State != "Stable" || !found {
						t.Errorf("%s is %s (this process's member in it: %v) while the process says it is ready", d.GroupId, d.State, found)
					}
				}
			}

			if h, err := get(base + "/healthz"); err != nil || h.status != http.StatusOK {
				t.Errorf("/healthz: %v %v", h, err)
			}
			if strings.Contains(roles, RoleAPI) {
				// A request on the API shows in the metrics, and the API's
				// port has none.
				if r, err := get("http://" + apiAddr + "/healthz"); err != nil || r.status != http.StatusOK {
					t.Fatalf("the API's /healthz: %v %v", r, err)
				}
				if r, err := get("http://" + apiAddr + "/metrics"); err != nil || r.status != http.StatusNotFound {
					t.Errorf("the API's port answers /metrics with %v %v, want 404", r.status, err)
				}
				if r, err := get("http://" + apiAddr + "/readyz"); err != nil || r.status != http.StatusOK || len(r.checks) != len(want) {
					t.Errorf("the API's /readyz: %v %v, want 200 with the process's checks", r, err)
				}
			}
			resp, err := http.Get(base + "/metrics") //nolint:noctx // one request
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("/metrics = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			exposition := string(body)
			wantSeries := []string{"go_goroutines ", "process_resident_memory_bytes ", "renderd_relay_published_events_total "}
			if strings.Contains(roles, RoleAPI) {
				wantSeries = append(wantSeries, `renderd_http_requests_total{code="200",method="GET",route="/healthz"} `)
			}
			for _, s := range wantSeries {
				if !strings.Contains(exposition, s) {
					t.Errorf("/metrics has no %s", s)
				}
			}
		})
	}
}

// Without Kafka, a process that was given brokers is not ready, on both of
// its listeners, and /readyz names the check that fails.
func TestMetricsListener_readyz_names_kafka_when_it_is_unreachable(t *testing.T) {
	f := newServeFixture(t)
	metricsAddr, apiAddr, closed := freeAddr(t), freeAddr(t), freeAddr(t)
	start(t, append(f.env, "KAFKA_BROKERS="+closed, "RENDERD_METRICS_ADDR="+metricsAddr, "RENDERD_HTTP_ADDR="+apiAddr),
		"serve", "--roles", RoleAPI)
	for _, base := range []string{"http://" + metricsAddr, "http://" + apiAddr} {
		var r probe
		testenv.Eventually(t, 60*time.Second, base+"/readyz to fail on kafka alone", func() bool {
			var err error
			r, err = get(base + "/readyz")
			return err == nil && r.checks["postgres"] == "ok" && r.checks["roles"] == "ok"
		})
		if r.status != http.StatusServiceUnavailable || r.checks["kafka"] != "failing" || strings.Contains(r.body, closed) {
			t.Errorf("%s/readyz = %d %s, want 503 naming kafka as failing (and no address)", base, r.status, r.body)
		}
	}
}

// RENDERD_METRICS_ADDR set to nothing turns the listener off.
func TestMetricsListener_empty_addr_turns_it_off(t *testing.T) {
	f := newServeFixture(t)
	p := start(t, append(f.env, "RENDERD_METRICS_ADDR="), "serve", "--roles", RoleRelay)
	testenv.Eventually(t, 60*time.Second, "renderd to serve", func() bool { return strings.Contains(p.stderr.String(), "renderd serving") })
	if strings.Contains(p.stderr.String(), "metrics listening") {
		t.Errorf("a metrics listener started:\n%s", p.stderr)
	}
}
