package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
)

// The alerting rules, the dashboard and the example Prometheus
// configuration in deployments/observability (its README.md) are checked
// here, like the Kubernetes manifests in k8s_manifests_test.go: with the
// real promtool and Prometheus, and against the metrics a real renderd
// serves, so that a renamed family cannot leave an alert that never fires
// or a panel that stays empty.

const obsDir = "../../deployments/observability"

// prometheusTool finds a Prometheus binary (promtool, prometheus: Debian's
// prometheus package, which deployments/local/up installs). Without it the
// test is skipped, or fails when RENDERD_REQUIRE_STACK=1 (make test), so
// that CI never goes green by skipping.
func prometheusTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("RENDERD_REQUIRE_STACK") == "1" {
			t.Fatalf("%s is not on PATH (apt-get install prometheus, or deployments/local/up)", name)
		}
		t.Skipf("%s is not on PATH: skipped (apt-get install prometheus, or deployments/local/up)", name)
	}
	return path
}

// alertRules is the part of a Prometheus rule file the checks read.
type alertRules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// ruleTests is the part of a promtool unit test file the checks read.
type ruleTests struct {
	Tests []struct {
		Name  string `json:"name"`
		Cases []struct {
			Alert string            `json:"alertname"`
			Exp   []json.RawMessage `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(prometheusTool(t, "promtool"), args...)
	cmd.Dir = obsDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestObservability_rules(t *testing.T) {
	promtool(t, "check", "rules", "alerts.yml")
	promtool(t, "test", "rules", "alerts_test.yml")
	promtool(t, "check", "config", "prometheus.yml")

	var rules alertRules
	readYAML(t, filepath.Join(obsDir, "alerts.yml"), &rules)
	var tests ruleTests
	readYAML(t, filepath.Join(obsDir, "alerts_test.yml"), &tests)
	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	// GitHub's anchor of a "### Name" heading is its lower-cased name.
	anchors := map[string]bool{}
	for line := range strings.Lines(string(ops)) {
		if h, ok := strings.CutPrefix(strings.TrimSpace(line), "### "); ok {
			anchors["docs/operations.md#"+strings.ToLower(h)] = true
		}
	}
	// An alert tested only firing may fire on everything; only quiet, may
	// never fire.
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, c := range tc.Cases {
			if len(c.Exp) > 0 {
				fires[c.Alert] = true
			} else {
				quiet[c.Alert] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if rb := r.Annotations["runbook"]; !anchors[rb] || rb != "docs/operations.md#"+strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook %q, want docs/operations.md#%s, a section of docs/operations.md", r.Alert, rb, strings.ToLower(r.Alert))
			}
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s: alerts_test.yml has a firing case: %v, a quiet one: %v; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yml has no alert")
	}
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(obsDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	return d
}

// queries returns every panel's queries (rows' panels included), failing t
// on a panel without one.
func (d dashboard) queries(t *testing.T) []string {
	var out []string
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, q := range p.Targets {
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("panel %q: query %s is empty", p.Title, q.RefID)
				}
				out = append(out, q.Expr)
			}
		}
	}
	walk(d.Panels)
	return out
}

func TestObservability_dashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard uid %q, title %q, schemaVersion %d: want a uid, a title and a schema of Grafana 10 or later", d.UID, d.Title, d.SchemaVersion)
	}
	if i := slices.IndexFunc(d.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query string `json:"query"`
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}); i < 0 {
		t.Error(`no "datasource" variable of type datasource choosing a Prometheus`)
	}
	ids := map[int]string{}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if other, dup := ids[p.ID]; dup || p.ID == 0 {
				t.Errorf("panel %q: id %d, also %q's (or zero)", p.Title, p.ID, other)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != "${datasource}") {
				t.Errorf("panel %q does not query the ${datasource} variable", p.Title)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(d.queries(t)) == 0 {
		t.Fatal("the dashboard has no query")
	}
}

// observedNames is every metric family alerts.yml and dashboard.json name:
// renderd's own, and the Go and process collectors' (go_, process_), a
// histogram's series by their family's name.
func observedNames(t *testing.T) []string {
	t.Helper()
	name := regexp.MustCompile(`\b(?:renderd|go|process)_[a-z_]+[a-z]`)
	seen := map[string]bool{}
	for _, f := range []string{"alerts.yml", "dashboard.json"} {
		raw, err := os.ReadFile(filepath.Join(obsDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllString(string(raw), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				m = strings.TrimSuffix(m, suffix)
			}
			seen[m] = true
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for n := range seen {
			if !yield(n) {
				return
			}
		}
	})
}

// scrapeFamilies returns the metric families (# TYPE lines) a metrics
// listener serves.
func scrapeFamilies(addr string) (map[string]bool, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	families := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = true
		}
	}
	return families, sc.Err()
}

// TestObservability_against_a_real_renderd runs renderd on the real stack
// as production would be scraped: every role but the encoder's renders in
// one process, the encoder in another, each on a metrics listener of its
// own. It ends a render each way the alerts count (one fails, one is
// encoded by ffmpeg), delivers their webhooks, then checks that every family
// the rules and the dashboard name is served, and that a real Prometheus
// scrapes both processes, evaluates every rule and answers every panel's
// query.
func TestObservability_against_a_real_renderd(t *testing.T) {
	promBin := prometheusTool(t, "prometheus")
	apiMetrics, encMetrics := freeAddr(t), freeAddr(t)
	s := startService(t, append(slices.Clone(webhookEnv), "RENDERD_METRICS_ADDR="+apiMetrics)...)
	key := s.account(60)
	rc := newReceiver(t, nil)
	s.endpoint(key, rc.srv.URL+"/hooks")
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))

	// The service's encoder only probes, so nothing claims this render
	// before the test fails it as an encoder would.
	failed := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mov"})).str("id")
	s.failRender(failed, "encode_failed", "failed by the observability test")
	s.waitRender(key, failed, "failed", 30*time.Second)

	start(t, s.encoderEnv("RENDERD_METRICS_ADDR="+encMetrics, "RENDERD_WORKER_ID=observability-encoder"), "serve", "--roles", "encoder")
	done := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4", "resolution": "720p"})).str("id")
	s.waitRender(key, done, "completed", encodeTimeout)
	testenv.Eventually(t, 30*time.Second, "both renders' webhooks", func() bool { return rc.count() >= 2 })

	t.Run("every_family_the_rules_and_the_dashboard_name_is_served", func(t *testing.T) {
		want := observedNames(t)
		var missing []string
		var scrapeErrs []error
		// Families read at scrape time (queue depth, lags) may need a
		// first round of their role's loop; the others are there already.
		polled := poll(30*time.Second, func() bool {
			served, errs := map[string]bool{}, []error(nil)
			for _, addr := range []string{apiMetrics, encMetrics} {
				fams, err := scrapeFamilies(addr)
				if err != nil {
					errs = append(errs, fmt.Errorf("scrape %s: %w", addr, err))
				}
				for f := range fams {
					served[f] = true
				}
			}
			scrapeErrs = errs
			missing = slices.DeleteFunc(slices.Clone(want), func(n string) bool { return served[n] })
			return len(missing) == 0 && len(errs) == 0
		})
		if !polled {
			t.Errorf("named by alerts.yml or dashboard.json but served by no process: %v; scrape errors: %v", missing, scrapeErrs)
		}
	})

	t.Run("prometheus_scrapes_evaluates_the_rules_and_answers_the_panels", func(t *testing.T) {
		rules, err := filepath.Abs(filepath.Join(obsDir, "alerts.yml"))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: renderd
    static_configs:
      - targets: [%q, %q]
`, rules, apiMetrics, encMetrics)
		if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		base := "http://" + freeAddr(t)
		cmd := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+strings.TrimPrefix(base, "http://"))
		logs := &testenv.LogBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				t.Logf("prometheus:\n%s", logs)
			}
		})

		if !poll(60*time.Second, func() bool {
			var r promResult
			return promQuery(base, "renderd_http_requests_total", &r) == nil && len(r.Data.Result) > 0
		}) {
			t.Fatalf("Prometheus holds no sample of renderd_http_requests_total after 60 s; its targets: %s", promGet(base, "/api/v1/targets"))
		}
		// Both processes are up as Prometheus sees them (the second one's
		// first scrape may come a round later).
		var up promResult
		var upErr error
		if !poll(30*time.Second, func() bool {
			upErr = promQuery(base, `sum(up{job="renderd"})`, &up)
			return upErr == nil && len(up.Data.Result) == 1 && up.Data.Result[0].Value[1] == "2"
		}) {
			t.Errorf("sum(up): %+v, %v; want 2 targets up", up.Data.Result, upErr)
		}
		// Every rule evaluated without error (a rule with a wrong
		// expression reports its error here, not at load).
		if !poll(30*time.Second, func() bool {
			var r struct {
				Data struct {
					Groups []struct {
						Rules []struct {
							Name, Health, LastError string
						} `json:"rules"`
					} `json:"groups"`
				} `json:"data"`
			}
			if json.Unmarshal([]byte(promGet(base, "/api/v1/rules")), &r) != nil || len(r.Data.Groups) == 0 {
				return false
			}
			for _, g := range r.Data.Groups {
				for _, rule := range g.Rules {
					if rule.Health != "ok" {
						return false
					}
				}
			}
			return true
		}) {
			t.Errorf("not every rule evaluated healthy within 30 s: %s", promGet(base, "/api/v1/rules"))
		}
		// Every panel's query is valid PromQL to a real Prometheus, with
		// Grafana's $__rate_interval as it would substitute it.
		for _, q := range readDashboard(t).queries(t) {
			expr := strings.NewReplacer("$__rate_interval", "1m").Replace(q)
			var r promResult
			if err := promQuery(base, expr, &r); err != nil {
				t.Errorf("panel query %s: %v", expr, err)
			}
		}
	})
}

type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// promQuery runs an instant query through Prometheus' HTTP API.
func promQuery(base, query string, r *promResult) error {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, r); err != nil {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s", resp.Status, r.Error)
	}
	return nil
}

// promGet returns the body of a GET of Prometheus' HTTP API, or the error.
func promGet(base, path string) string {
	resp, err := http.Get(base + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// poll calls cond every 200 ms until it holds or timeout passes, and says
// whether it held: for checks that report what they saw last when it did
// not (testenv.Eventually only says that it timed out).
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}
