package httpapi

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/renderd/renderd/telemetry"
)

// series returns the label sets of a family's series in telemetry.Registry,
// each with its count (a counter's value, a histogram's sample count).
func series(t *testing.T, name string) map[string]float64 {
	t.Helper()
	mfs, err := telemetry.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[labelKey(m.GetLabel())] = m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return out
}

func labelKey(ls []*dto.LabelPair) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func TestMetrics_a_request_counts_under_its_route_template(t *testing.T) {
	h := oaServer(t, oaServerOpts{})
	rec := oaExchange{method: http.MethodGet, path: "/v1/renders/rnd_0190d3c4a1b27c3e8f1a2b3c4d5e6f70"}.do(t, h)
	code := strconv.Itoa(rec.Code)
	requests := telemetry.HTTPRequests.WithLabelValues("/v1/renders/{id}", "GET", code)
	before := testutil.ToFloat64(requests)
	timed := series(t, "renderd_http_request_duration_seconds")["method=GET,route=/v1/renders/{id}"]
	oaExchange{method: http.MethodGet, path: "/v1/renders/rnd_0190d3c4a1b27c3e8f1a2b3c4d5e6f70"}.do(t, h)
	if got := testutil.ToFloat64(requests) - before; got != 1 {
		t.Errorf("renderd_http_requests_total{route=/v1/renders/{id},method=GET,code=%s} grew by %v, want 1", code, got)
	}
	if got := series(t, "renderd_http_request_duration_seconds")["method=GET,route=/v1/renders/{id}"] - timed; got != 1 {
		t.Errorf("renderd_http_request_duration_seconds{route=/v1/renders/{id},method=GET} got %v observations, want 1", got)
	}

	// No route: an unknown path (404), a known path's other method (405),
	// both "unmatched"; a method of no RFC is "other".
	for _, c := range []struct{ method, path, code, labelMethod string }{
		{http.MethodGet, "/v1/no-such-thing/rnd_1", "404", "GET"},
		{http.MethodPatch, "/v1/renders", "405", "PATCH"},
		{"BREW", "/v1/renders", "405", "other"},
	} {
		n := telemetry.HTTPRequests.WithLabelValues(unmatchedRoute, c.labelMethod, c.code)
		before := testutil.ToFloat64(n)
		rec := oaExchange{method: c.method, path: c.path}.do(t, h)
		if strconv.Itoa(rec.Code) != c.code {
			t.Fatalf("%s %s = %d, want %s", c.method, c.path, rec.Code, c.code)
		}
		if got := testutil.ToFloat64(n) - before; got != 1 {
			t.Errorf("%s %s: {route=unmatched,method=%s,code=%s} grew by %v, want 1", c.method, c.path, c.labelMethod, c.code, got)
		}
	}
}

// Whatever a client sends, the labels stay in bounded sets: the route
// templates and "unmatched", the known methods and "other".
func TestMetrics_random_paths_and_methods_do_not_grow_the_label_sets(t *testing.T) {
	h := oaServer(t, oaServerOpts{})
	routes := map[string]bool{unmatchedRoute: true, "/healthz": true, "/readyz": true, "/openapi.json": true, "/v1/downloads/{token}": true}
	for _, r := range oaServerRoutes(t) {
		_, path, _ := strings.Cut(r, " ")
		routes[path] = true
	}
	methods := map[string]bool{"other": true}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"} {
		methods[m] = true
	}
	before := len(series(t, "renderd_http_requests_total"))

	rng := rand.New(rand.NewPCG(19, 3)) // fixed: a failure replays
	word := func(alphabet string, n int) string {
		b := make([]byte, 1+rng.IntN(n))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	const pathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~%"
	prefixes := []string{"/", "/v1/", "/v1/renders/", "/v1/assets/", "/v1/downloads/", "/v1/webhook-endpoints/", "/metrics/"}
	known := []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"}
	for i := range 200 {
		path := prefixes[rng.IntN(len(prefixes))] + word(pathChars, 30)
		if rng.IntN(2) == 0 {
			path += "/" + word(pathChars, 10)
		}
		method := known[rng.IntN(len(known))]
		if rng.IntN(3) == 0 {
			method = word("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 12)
		}
		req := httptest.NewRequest(method, "http://renderd.test"+strings.ReplaceAll(path, "%", "%25"), nil)
		if i%2 == 0 {
			req.Header.Set("Authorization", "Bearer "+oaKey)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}

	after := series(t, "renderd_http_requests_total")
	for key := range after {
		var route, method string
		for _, kv := range strings.Split(key, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "route":
				route = v
			case "method":
				method = v
			}
		}
		if !routes[route] || !methods[method] {
			t.Errorf("series {%s}: a label outside the bounded sets", key)
		}
	}
	// 200 requests over a handful of routes, methods and codes.
	if grown := len(after) - before; grown > 40 {
		t.Errorf("200 random requests made %d new series, want a bounded few", grown)
	}
	t.Logf("%d series after the random requests (%d before)", len(after), before)
}

// An answer with Renderd-Read-Your-Writes: timeout counts once, for one
// stream (a create) or several (an asset's deletion); one whose read model
// caught up does not.
func TestMetrics_read_your_writes_timeouts_are_counted(t *testing.T) {
	body := `{"kind":"audio","name":"talk"}`
	for _, lagging := range []bool{false, true} {
		h := oaServer(t, oaServerOpts{lagging: lagging})
		before := testutil.ToFloat64(telemetry.ReadYourWritesTimeouts)
		rec := oaExchange{method: http.MethodPost, path: "/v1/assets", body: body}.do(t, h)
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST /v1/assets = %d %s", rec.Code, rec.Body)
		}
		timedOut := rec.Header().Get("Renderd-Read-Your-Writes") == "timeout"
		if timedOut != lagging {
			t.Fatalf("lagging %v: Renderd-Read-Your-Writes %q", lagging, rec.Header().Get("Renderd-Read-Your-Writes"))
		}
		want := 0.0
		if lagging {
			want = 1
		}
		if got := testutil.ToFloat64(telemetry.ReadYourWritesTimeouts) - before; got != want {
			t.Errorf("lagging %v: renderd_read_your_writes_timeouts_total grew by %v, want %v", lagging, got, want)
		}

		id := oaCreated(t, h, "audio")
		before = testutil.ToFloat64(telemetry.ReadYourWritesTimeouts)
		rec = oaExchange{method: http.MethodDelete, path: "/v1/assets/" + id}.do(t, h)
		if rec.Code != http.StatusAccepted || (rec.Header().Get("Renderd-Read-Your-Writes") == "timeout") != lagging {
			t.Fatalf("lagging %v: DELETE = %d, Renderd-Read-Your-Writes %q", lagging, rec.Code, rec.Header().Get("Renderd-Read-Your-Writes"))
		}
		if got := testutil.ToFloat64(telemetry.ReadYourWritesTimeouts) - before; got != want {
			t.Errorf("lagging %v: a deletion grew renderd_read_your_writes_timeouts_total by %v, want %v", lagging, got, want)
		}
	}
}
