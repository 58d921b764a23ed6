package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Rate
		err  string // "" = valid
	}{
		{"50/s,100", Rate{50, time.Second, 100}, ""},
		{"30/m,5", Rate{30, time.Minute, 5}, ""},
		{" 2 / s , 3 ", Rate{2, time.Second, 3}, ""},
		{"off", Rate{}, ""},
		{"", Rate{}, "want <events>/s,<burst>"},
		{"50", Rate{}, "want <events>/s,<burst>"},
		{"50/s", Rate{}, "want <events>/s,<burst>"},
		{"50,100", Rate{}, "want <events>/s,<burst>"},
		{"50/h,100", Rate{}, "want <events>/s,<burst>"},
		{"50/s,100,200", Rate{}, "want <events>/s,<burst>"},
		{"fifty/s,100", Rate{}, "want <events>/s,<burst>"},
		{"1.5/s,100", Rate{}, "want <events>/s,<burst>"},
		{"OFF", Rate{}, "want <events>/s,<burst>"},
		{"0/s,10", Rate{}, "between 1 and 1000000"},
		{"10/s,0", Rate{}, "between 1 and 1000000"},
		{"-1/s,10", Rate{}, "between 1 and 1000000"},
		{"2000000/s,10", Rate{}, "between 1 and 1000000"},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseRate(c.in)
			switch {
			case c.err == "" && (err != nil || got != c.want):
				t.Errorf("ParseRate(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("ParseRate(%q) error %v, want one about %q", c.in, err, c.err)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("the error is not one line: %q", err)
			}
			if err == nil && got.String() != strings.ReplaceAll(c.in, " ", "") {
				t.Errorf("String() = %q, want %q back", got.String(), c.in)
			}
		})
	}
}

// countingAuth knows keys as accounts and, like the Postgres adapter,
// caches a key once it was looked up. It counts what it is asked.
type countingAuth struct {
	mu                  sync.Mutex
	keys                map[string]string // key → account
	cached              map[string]bool
	cachedCalls, lookup int
}

func newCountingAuth(keys map[string]string) *countingAuth {
	return &countingAuth{keys: keys, cached: map[string]bool{}}
}

func (a *countingAuth) Cached(key string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cachedCalls++
	if a.cached[key] {
		return a.keys[key], true
	}
	return "", false
}

func (a *countingAuth) Authenticate(_ context.Context, key string) (string, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lookup++
	acc, ok := a.keys[key]
	if ok {
		a.cached[key] = true
	}
	return acc, ok, nil
}

func (a *countingAuth) calls() (cached, lookups int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cachedCalls, a.lookup
}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	rlKey1 = domain.NewAPIKey([domain.APIKeySecretBytes]byte{1}) // oaKey, acc_1
	rlKey2 = domain.NewAPIKey([domain.APIKeySecretBytes]byte{2}) // acc_2
	rlKey9 = domain.NewAPIKey([domain.APIKeySecretBytes]byte{9}) // well-formed, no account
)

// rlRequest is one request: auth is the whole Authorization header ("" for
// none), from the client address addr ("" for 192.0.2.1).
type rlRequest struct {
	method, path, auth, addr, body string
	xff                            string
}

func (q rlRequest) do(h http.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest(q.method, q.path, strings.NewReader(q.body))
	if q.auth != "" {
		req.Header.Set("Authorization", q.auth)
	}
	if q.addr != "" {
		req.RemoteAddr = q.addr
	}
	if q.xff != "" {
		req.Header.Set("X-Forwarded-For", q.xff)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// rlServer is oaServer with limits, a clock, and an authenticator knowing
// rlKey1 (acc_1, cached) and rlKey2 (acc_2, cached).
func rlServer(t *testing.T, l Limits) (http.Handler, *countingAuth, *clock) {
	t.Helper()
	c := &clock{now: oaTime}
	l.Now = c.Now
	auth := newCountingAuth(map[string]string{rlKey1: "acc_1", rlKey2: "acc_2"})
	auth.cached[rlKey1], auth.cached[rlKey2] = true, true
	return oaServer(t, oaServerOpts{auth: auth, limits: l}), auth, c
}

// rlRefused checks a 429 rate_limited of policy, as documented.
func rlRefused(t *testing.T, q rlRequest, rec *httptest.ResponseRecorder, policy string) {
	t.Helper()
	var body errorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusTooManyRequests || body.Error.Code != "rate_limited" {
		t.Fatalf("%s %s = %d %s, want 429 rate_limited", q.method, q.path, rec.Code, rec.Body)
	}
	if got := rec.Header().Get("RateLimit-Policy"); !strings.HasPrefix(got, `"`+policy+`";`) {
		t.Errorf("RateLimit-Policy %q, want policy %s", got, policy)
	}
	if rec.Header().Get("Retry-After") == "" || !strings.HasPrefix(rec.Header().Get("RateLimit"), `"`+policy+`";r=0;t=`) {
		t.Errorf("Retry-After %q, RateLimit %q", rec.Header().Get("Retry-After"), rec.Header().Get("RateLimit"))
	}
	if err := oaLoad(t).ValidateResponse(q.method, q.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
		t.Error(err)
	}
}

func TestRateLimit_each_route_class_spends_from_its_own_bucket(t *testing.T) {
	three := Rate{Events: 1, Period: time.Minute, Burst: 3}
	h, _, _ := rlServer(t, Limits{Reads: three, Writes: three, Uploads: three, Redeliver: three, Anonymous: three})
	bearer := "Bearer " + rlKey1
	classes := []struct {
		class string
		q     rlRequest
	}{
		{"reads", rlRequest{method: "GET", path: "/v1/assets/ast_1", auth: bearer}},
		{"writes", rlRequest{method: "POST", path: "/v1/assets", auth: bearer, body: `{"kind":"video"}`}},
		{"uploads", rlRequest{method: "PUT", path: "/v1/assets/ast_missing/source", auth: bearer, body: "media"}},
		{"redeliver", rlRequest{method: "POST", path: "/v1/webhook-deliveries/whd_1/redeliver", auth: bearer}},
	}
	for i, c := range classes {
		for n := range 3 {
			if rec := c.q.do(h); rec.Code == http.StatusTooManyRequests {
				t.Fatalf("%s: request %d refused while the classes before it are spent: %s", c.class, n+1, rec.Body)
			}
		}
		rlRefused(t, c.q, c.q.do(h), c.class)
		for _, before := range classes[:i] {
			rlRefused(t, before.q, before.q.do(h), before.class)
		}
	}
	if rec := (rlRequest{method: "GET", path: "/v1/renders/rnd_1", auth: bearer}).do(h); rec.Code != http.StatusTooManyRequests {
		t.Errorf("another read route does not share the reads bucket: %d", rec.Code)
	}
}

func TestRateLimit_one_accounts_exhaustion_leaves_another_account_alone(t *testing.T) {
	h, _, _ := rlServer(t, Limits{Writes: Rate{Events: 1, Period: time.Minute, Burst: 2}})
	q := func(key string) rlRequest {
		return rlRequest{method: "POST", path: "/v1/assets", auth: "Bearer " + key, body: `{"kind":"audio"}`}
	}
	for range 2 {
		if rec := q(rlKey1).do(h); rec.Code != http.StatusCreated {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	rlRefused(t, q(rlKey1), q(rlKey1).do(h), "writes")
	if rec := q(rlKey2).do(h); rec.Code != http.StatusCreated {
		t.Errorf("the other account: %d %s", rec.Code, rec.Body)
	}
}

func TestRateLimit_requests_without_a_valid_key_spend_from_their_address(t *testing.T) {
	h, auth, _ := rlServer(t, Limits{Anonymous: Rate{Events: 1, Period: time.Minute, Burst: 4}})
	get := func(authz, addr string) rlRequest {
		return rlRequest{method: "GET", path: "/v1/assets", auth: authz, addr: addr}
	}
	const flooder, other = "198.51.100.7:4000", "203.0.113.9:5000"
	for _, q := range []rlRequest{
		get("", flooder),                   // no key
		get("Basic dXNlcjpwYXNz", flooder), // another scheme
		get("Bearer not-a-key", flooder),   // malformed
		get("Bearer "+rlKey9, flooder),     // well-formed, no such account
	} {
		if rec := q.do(h); rec.Code != http.StatusUnauthorized {
			t.Fatalf("%q: %d %s, want 401 while the address has tokens", q.auth, rec.Code, rec.Body)
		}
	}
	for _, authz := range []string{"", "Bearer not-a-key", "Bearer " + rlKey9} {
		rlRefused(t, get(authz, flooder), get(authz, flooder).do(h), "anonymous")
	}
	_, lookups := auth.calls()
	if lookups != 1 {
		t.Errorf("%d lookups: an unknown key may reach the store only while its address has tokens", lookups)
	}

	t.Run("downloads_share_the_address_bucket", func(t *testing.T) {
		q := rlRequest{method: "GET", path: "/v1/downloads/tok", addr: flooder}
		rlRefused(t, q, q.do(h), "anonymous")
		if rec := (rlRequest{method: "GET", path: "/v1/downloads/tok", addr: other}).do(h); rec.Code != http.StatusForbidden {
			t.Errorf("another address: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("another_address_is_not_limited", func(t *testing.T) {
		if rec := get("", other).do(h); rec.Code != http.StatusUnauthorized {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("a_cached_key_does_not_spend_the_address_bucket", func(t *testing.T) {
		if rec := get("Bearer "+rlKey1, flooder).do(h); rec.Code != http.StatusOK {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("health_readiness_and_the_document_are_never_limited", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} {
			if rec := (rlRequest{method: "GET", path: path, addr: flooder}).do(h); rec.Code == http.StatusTooManyRequests ||
				rec.Header().Get("RateLimit") != "" {
				t.Errorf("%s: %d, RateLimit %q", path, rec.Code, rec.Header().Get("RateLimit"))
			}
		}
	})
}

func TestRateLimit_a_new_key_spends_an_address_token_before_its_lookup(t *testing.T) {
	h, auth, _ := rlServer(t, Limits{Anonymous: Rate{Events: 1, Period: time.Minute, Burst: 1}})
	auth.cached[rlKey2] = false // known, but not yet looked up in this process
	const addr = "198.51.100.7:4000"
	if rec := (rlRequest{method: "GET", path: "/v1/assets", addr: addr}).do(h); rec.Code != http.StatusUnauthorized {
		t.Fatalf("%d", rec.Code)
	}
	q := rlRequest{method: "GET", path: "/v1/assets", auth: "Bearer " + rlKey2, addr: addr}
	rlRefused(t, q, q.do(h), "anonymous")
	if _, lookups := auth.calls(); lookups != 0 {
		t.Errorf("%d lookups past a spent address bucket, want none", lookups)
	}
	if rec := (rlRequest{method: "GET", path: "/v1/assets", auth: "Bearer " + rlKey2, addr: "203.0.113.9:5000"}).do(h); rec.Code != http.StatusOK {
		t.Errorf("from an address with tokens: %d %s", rec.Code, rec.Body)
	}
	if rec := q.do(h); rec.Code != http.StatusOK {
		t.Errorf("once cached, the key does not need the address bucket: %d %s", rec.Code, rec.Body)
	}
}

func TestAuth_a_malformed_key_is_refused_without_asking_the_authenticator(t *testing.T) {
	for _, limits := range []Limits{{}, {Anonymous: Rate{Events: 1000, Period: time.Second, Burst: 1000}}} {
		h, auth, _ := rlServer(t, limits)
		for _, authz := range []string{"Bearer ", "Bearer nope", "Bearer rdk_nope", "Bearer " + rlKey1 + "x", "Bearer " + rlKey1[:len(rlKey1)-1],
			"Bearer " + strings.ToUpper(rlKey1), "Bearer " + strings.Repeat("A", 100_000), "Bearer" + rlKey1, "Basic " + rlKey1, rlKey1} {
			rec := (rlRequest{method: "GET", path: "/v1/assets", auth: authz}).do(h)
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"unauthorized"`) {
				t.Errorf("%.30q: %d %s", authz, rec.Code, rec.Body)
			}
		}
		if cached, lookups := auth.calls(); cached+lookups != 0 {
			t.Errorf("limits %v: the authenticator was asked %d times (cache) and %d times (lookup)", limits.Anonymous, cached, lookups)
		}
	}
}

func TestRateLimit_fields_state_the_policy_and_what_is_left(t *testing.T) {
	h, _, clk := rlServer(t, Limits{Reads: Rate{Events: 10, Period: time.Second, Burst: 20}, Writes: Rate{Events: 6, Period: time.Minute, Burst: 3}})
	read := rlRequest{method: "GET", path: "/v1/assets/ast_1", auth: "Bearer " + rlKey1}
	write := rlRequest{method: "POST", path: "/v1/assets", auth: "Bearer " + rlKey1, body: `{"kind":"audio"}`}
	expect := func(t *testing.T, rec *httptest.ResponseRecorder, status int, policy, current, retryAfter string) {
		t.Helper()
		h := rec.Header()
		if rec.Code != status || h.Get("RateLimit-Policy") != policy || h.Get("RateLimit") != current || h.Get("Retry-After") != retryAfter {
			t.Errorf("%d RateLimit-Policy %q RateLimit %q Retry-After %q; want %d %q %q %q", rec.Code,
				h.Get("RateLimit-Policy"), h.Get("RateLimit"), h.Get("Retry-After"), status, policy, current, retryAfter)
		}
	}
	t.Run("a_success_states_tokens_left_and_seconds_until_full", func(t *testing.T) {
		expect(t, read.do(h), 200, `"reads";q=20;w=2`, `"reads";r=19;t=1`, "")
		for range 14 {
			read.do(h)
		}
		expect(t, read.do(h), 200, `"reads";q=20;w=2`, `"reads";r=4;t=2`, "")
	})
	t.Run("a_refusal_states_when_one_token_is_back", func(t *testing.T) {
		expect(t, write.do(h), 201, `"writes";q=3;w=30`, `"writes";r=2;t=10`, "")
		write.do(h)
		expect(t, write.do(h), 201, `"writes";q=3;w=30`, `"writes";r=0;t=30`, "")
		expect(t, write.do(h), 429, `"writes";q=3;w=30`, `"writes";r=0;t=10`, "10")
		clk.advance(4 * time.Second)
		expect(t, write.do(h), 429, `"writes";q=3;w=30`, `"writes";r=0;t=6`, "6")
		clk.advance(5900 * time.Millisecond)
		expect(t, write.do(h), 429, `"writes";q=3;w=30`, `"writes";r=0;t=1`, "1")
		clk.advance(100 * time.Millisecond)
		expect(t, write.do(h), 201, `"writes";q=3;w=30`, `"writes";r=0;t=30`, "")
	})
	t.Run("a_class_that_is_off_sends_no_fields", func(t *testing.T) {
		rec := (rlRequest{method: "PUT", path: "/v1/assets/ast_missing/source", auth: "Bearer " + rlKey1, body: "m"}).do(h)
		if rec.Code != http.StatusNotFound || rec.Header().Get("RateLimit") != "" || rec.Header().Get("RateLimit-Policy") != "" {
			t.Errorf("%d RateLimit %q", rec.Code, rec.Header().Get("RateLimit"))
		}
	})
}

func TestRateLimit_client_address(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name, remote string
		xff          []string
		trusted      bool
		want         string
	}{
		{"the_peer_without_trusted_proxies", "10.0.0.1:1234", []string{"1.2.3.4"}, false, "10.0.0.1"},
		{"a_trusted_peer_names_the_client", "10.0.0.1:1234", []string{"1.2.3.4"}, true, "1.2.3.4"},
		{"an_untrusted_peer_names_nobody", "9.9.9.9:1234", []string{"1.2.3.4"}, true, "9.9.9.9"},
		{"the_right_most_untrusted_hop_wins_over_what_the_client_wrote", "10.0.0.1:1234", []string{"6.6.6.6, 1.2.3.4, 10.0.0.2"}, true, "1.2.3.4"},
		{"hops_span_header_lines", "10.0.0.1:1234", []string{"6.6.6.6", "1.2.3.4, 10.0.0.2"}, true, "1.2.3.4"},
		{"all_hops_trusted_is_the_left_most", "10.0.0.1:1234", []string{"10.0.0.3,10.0.0.2"}, true, "10.0.0.3"},
		{"garbage_stops_at_the_last_vouched_hop", "10.0.0.1:1234", []string{"1.2.3.4, 10.0.0.2, garbage"}, true, "10.0.0.1"},
		{"garbage_behind_a_trusted_hop", "10.0.0.1:1234", []string{"garbage, 10.0.0.2"}, true, "10.0.0.2"},
		{"a_trusted_peer_without_the_header_is_the_client", "10.0.0.1:1234", nil, true, "10.0.0.1"},
		{"ipv6_counts_by_its_64", "[2001:db8:1:2:3:4:5:6]:443", nil, false, "2001:db8:1:2::"},
		{"ipv6_hop_counts_by_its_64", "[fd00::1]:443", []string{"2001:db8:1:2:ffff::1"}, true, "2001:db8:1:2::"},
		{"ipv4_mapped_is_ipv4", "[::ffff:1.2.3.4]:80", nil, false, "1.2.3.4"},
		{"a_zone_is_dropped", "[fe80::1%eth0]:80", nil, false, "fe80::"},
		{"no_address_at_all", "@", nil, false, "invalid IP"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLimits(Limits{})
			if c.trusted {
				l.trusted = trusted
			}
			r := httptest.NewRequest("GET", "/v1/downloads/x", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := l.clientAddr(r).String(); got != c.want {
				t.Errorf("clientAddr = %s, want %s", got, c.want)
			}
		})
	}
}

func TestRateLimit_buckets_stay_within_their_bound(t *testing.T) {
	const bound = 64
	b := newBuckets(1, 5, bound, maphash.String) // 1 token a second, bursts of 5
	now := oaTime
	for range 4 {
		b.take("flooder", now)
	}
	for i := range 10_000 {
		b.take(fmt.Sprint("key", i), now)
	}
	if n := b.size(); n > bound {
		t.Errorf("%d buckets, bound %d", n, bound)
	}
	b.take("flooder", now)
	if ok, _ := b.take("flooder", now); ok {
		t.Error("a flood of other keys evicted the flooder's drained bucket: its limit is lifted")
	}

	t.Run("buckets_full_again_are_dropped", func(t *testing.T) {
		b := newBuckets(1, 5, 1<<20, maphash.String)
		for i := range 1000 {
			b.take(fmt.Sprint("key", i), now)
		}
		// A minute later every bucket is full: a new key in each shard
		// sweeps it.
		later, swept, added := now.Add(sweepEvery), map[uint64]bool{}, 0
		for i := 0; len(swept) < bucketShards; i++ {
			key := fmt.Sprint("late", i)
			swept[b.hash(b.seed, key)%bucketShards] = true
			b.take(key, later)
			added++
		}
		if n := b.size(); n != added {
			t.Errorf("%d buckets after the sweeps, want only the %d new ones", n, added)
		}
	})
}

// BenchmarkRateLimit measures what a /v1 request pays for authentication
// and its rate limit: a cached key, then a bucket.
func BenchmarkRateLimit(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, bc := range []struct {
		name   string
		limits Limits
	}{
		{"off", Limits{}},
		{"reads", Limits{Reads: Rate{Events: 1_000_000, Period: time.Second, Burst: 1_000_000}}},
	} {
		g := &gate{auth: fastAuth{}, limits: newLimits(bc.limits), log: nil}
		h := g.route(classReads, next)
		newRequest := func() (*http.Request, *headerOnly) {
			req := httptest.NewRequest("GET", "/v1/renders/rnd_1", nil)
			req.Header.Set("Authorization", "Bearer "+rlKey1)
			return req, &headerOnly{h: http.Header{}}
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			req, w := newRequest()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
		// One account's requests on every core at once: its bucket's lock
		// is as contended as it gets.
		b.Run(bc.name+"_one_account_parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, w := newRequest()
				for pb.Next() {
					clear(w.h)
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}

// fastAuth knows rlKey1, from memory.
type fastAuth struct{}

func (fastAuth) Cached(key string) (string, bool) { return "acc_1", key == rlKey1 }
func (fastAuth) Authenticate(context.Context, string) (string, bool, error) {
	return "", false, nil
}

type headerOnly struct{ h http.Header }

func (w *headerOnly) Header() http.Header         { return w.h }
func (w *headerOnly) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerOnly) WriteHeader(int)             {}
