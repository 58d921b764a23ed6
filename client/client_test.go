package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testClient is a Client of h whose waits are recorded, not slept (unless
// real), so retry and poll tests run at once.
type testClient struct {
	*Client
	srv    *httptest.Server
	mu     sync.Mutex
	sleeps []time.Duration
}

func newTestClient(t *testing.T, h http.HandlerFunc, opts ...Option) *testClient {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "rdk_test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testClient{Client: c, srv: srv}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		tc.mu.Lock()
		tc.sleeps = append(tc.sleeps, d)
		tc.mu.Unlock()
		return ctx.Err()
	}
	return tc
}

func (tc *testClient) waits() []time.Duration {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]time.Duration(nil), tc.sleeps...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, code, message, field string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message, Field: field}})
}

// refuse answers the first n requests with status (and Retry-After when
// retryAfter is not empty), then ok.
func refuse(n int32, status int, retryAfter string, ok http.HandlerFunc) (http.HandlerFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			code := "rate_limited"
			if status == http.StatusServiceUnavailable {
				code = "service_unavailable"
			}
			apiErr(w, status, code, "later", "")
			return
		}
		ok(w, r)
	}, &calls
}

func okCredits(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, Credits{Object: "credits", Balance: CreditsBalance{Seconds: 60, Minutes: 1}, RecentEntries: []LedgerEntry{}})
}

func TestNew_refuses_a_base_URL_without_scheme_or_host(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://", "http://[::1"} {
		if _, err := New(u, "k"); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
	if _, err := New("http://127.0.0.1:8080/", "k"); err != nil {
		t.Errorf("a trailing slash: %v", err)
	}
}

func TestRetry_429_honours_Retry_After_seconds(t *testing.T) {
	h, calls := refuse(2, http.StatusTooManyRequests, "7", okCredits)
	c := newTestClient(t, h)
	cr, err := c.GetCredits(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cr.Balance.Seconds != 60 || calls.Load() != 3 {
		t.Fatalf("got %+v after %d calls", cr, calls.Load())
	}
	if w := c.waits(); len(w) != 2 || w[0] != 7*time.Second || w[1] != 7*time.Second {
		t.Fatalf("waits %v, want [7s 7s]", w)
	}
}

func TestRetry_429_honours_Retry_After_as_an_HTTP_date(t *testing.T) {
	when := time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
	h, calls := refuse(1, http.StatusTooManyRequests, when, okCredits)
	c := newTestClient(t, h)
	if _, err := c.GetCredits(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The date has whole seconds: 4 to 5 s from now.
	if w := c.waits(); calls.Load() != 2 || len(w) != 1 || w[0] < 3*time.Second || w[0] > 5*time.Second {
		t.Fatalf("waits %v after %d calls, want one of about 5 s", w, calls.Load())
	}
}

func TestRetry_503_without_Retry_After_backs_off_exponentially(t *testing.T) {
	h, calls := refuse(3, http.StatusServiceUnavailable, "", okCredits)
	c := newTestClient(t, h, WithRetry(RetryPolicy{MaxAttempts: 4, MinBackoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}))
	if _, err := c.GetCredits(t.Context()); err != nil {
		t.Fatal(err)
	}
	w := c.waits()
	if calls.Load() != 4 || len(w) != 3 {
		t.Fatalf("%d calls, waits %v", calls.Load(), w)
	}
	// Each within the upper half of 100 ms, 200 ms, then the 300 ms cap.
	for i, bound := range []time.Duration{100, 200, 300} {
		bound *= time.Millisecond
		if w[i] < bound/2 || w[i] > bound {
			t.Errorf("wait %d: %v, want within [%v, %v]", i+1, w[i], bound/2, bound)
		}
	}
}

func TestRetry_gives_up_after_MaxAttempts_with_the_last_error(t *testing.T) {
	h, calls := refuse(100, http.StatusServiceUnavailable, "1", okCredits)
	c := newTestClient(t, h, WithRetry(RetryPolicy{MaxAttempts: 3}))
	_, err := c.GetCredits(t.Context())
	var api *APIError
	if !errors.As(err, &api) || api.Code != "service_unavailable" || api.RetryAfter != time.Second || !api.Temporary() {
		t.Fatalf("err %#v", err)
	}
	if calls.Load() != 3 || len(c.waits()) != 2 {
		t.Fatalf("%d calls, %d waits, want 3 and 2", calls.Load(), len(c.waits()))
	}
}

// Writes the API does not make idempotent are answered at once, even by a
// 429 that invites a retry: the caller decides.
func TestRetry_never_repeats_writes_that_are_not_idempotent(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		h, calls := refuse(100, status, "1", okCredits)
		c := newTestClient(t, h)
		ctx := t.Context()
		for name, f := range map[string]func() error{
			"CreateAsset":           func() error { _, err := c.CreateAsset(ctx, CreateAssetRequest{Kind: "video"}); return err },
			"RequestCut":            func() error { _, err := c.RequestCut(ctx, "ast_1", RequestCutRequest{}); return err },
			"DeleteWebhookEndpoint": func() error { return c.DeleteWebhookEndpoint(ctx, "whe_1") },
			"RevokeAPIKey":          func() error { return c.RevokeAPIKey(ctx, "key_1") },
			"CreateAPIKey":          func() error { _, err := c.CreateAPIKey(ctx, CreateAPIKeyRequest{}); return err },
			"Rotate":                func() error { _, err := c.RotateWebhookSecret(ctx, "whe_1"); return err },
			"Redeliver":             func() error { _, err := c.RedeliverWebhookDelivery(ctx, "whd_1"); return err },
			"UploadSource": func() error {
				_, err := c.UploadSource(ctx, "ast_1", strings.NewReader("bytes"), 5, nil)
				return err
			},
		} {
			calls.Store(0)
			err := f()
			var api *APIError
			if !errors.As(err, &api) || api.StatusCode != status || api.RetryAfter != time.Second {
				t.Errorf("%s %d: err %v", name, status, err)
			}
			if calls.Load() != 1 {
				t.Errorf("%s %d: %d calls, want 1", name, status, calls.Load())
			}
		}
		if len(c.waits()) != 0 {
			t.Errorf("waited %v", c.waits())
		}
	}
}

// POST /v1/renders is idempotent by its signature: it is retried, with the
// same body.
func TestRetry_repeats_RequestRender_with_the_same_body(t *testing.T) {
	var bodies []string
	h, calls := refuse(1, http.StatusServiceUnavailable, "1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Render{ID: "rnd_1", Object: "render", State: RenderPending})
	})
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		h(w, r)
	})
	r, err := c.RequestRender(t.Context(), RequestRenderRequest{AssetID: "ast_1", Output: RenderOutputRequest{Format: "mp3"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "rnd_1" || r.Created || calls.Load() != 2 {
		t.Fatalf("render %+v after %d calls", r, calls.Load())
	}
	if len(bodies) != 2 || bodies[0] != bodies[1] || bodies[0] != `{"asset_id":"ast_1","output":{"format":"mp3"}}` {
		t.Fatalf("bodies %q", bodies)
	}
}

// Deleting a deleted asset and cancelling a cancelled render answer as the
// first time: both are retried.
func TestRetry_repeats_the_deletes_the_API_makes_repeatable(t *testing.T) {
	h, calls := refuse(1, http.StatusServiceUnavailable, "1", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	c := newTestClient(t, h)
	for name, f := range map[string]func() error{
		"DeleteAsset":  func() error { return c.DeleteAsset(t.Context(), "ast_1") },
		"CancelRender": func() error { return c.CancelRender(t.Context(), "rnd_1") },
	} {
		calls.Store(0)
		if err := f(); err != nil || calls.Load() != 2 {
			t.Errorf("%s: err %v after %d calls, want none after 2", name, err, calls.Load())
		}
	}
}

func TestRetry_wait_ends_with_the_context(t *testing.T) {
	h, _ := refuse(100, http.StatusTooManyRequests, "60", okCredits)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, _ := New(srv.URL, "k") // the real sleep
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetCredits(ctx)
	var api *APIError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &api) || api.StatusCode != 429 {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("waited %v", time.Since(start))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "soon": 0, "3": 3 * time.Second, " 2 ": 2 * time.Second,
		"99999999": maxRetryAfter * time.Second,
		now.Add(10 * time.Second).Format(http.TimeFormat): 10 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
		now.Add(48 * time.Hour).Format(http.TimeFormat):   maxRetryAfter * time.Second,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestRequests_carry_the_key_but_not_on_open_routes(t *testing.T) {
	auth := map[string]string{}
	var mu sync.Mutex
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		switch r.URL.Path {
		case "/healthz":
			writeJSON(w, 200, Health{Status: "ok"})
		case "/readyz":
			writeJSON(w, 503, Readiness{Ready: false, Checks: map[string]string{"postgres": "failing"}})
		default:
			okCredits(w, r)
		}
	})
	if h, err := c.Health(t.Context()); err != nil || h.Status != "ok" {
		t.Fatalf("health %v %v", h, err)
	}
	// A 503 readiness is an answer, not an error.
	if r, err := c.Readiness(t.Context()); err != nil || r.Ready || r.Checks["postgres"] != "failing" {
		t.Fatalf("readiness %+v %v", r, err)
	}
	if _, err := c.GetCredits(t.Context()); err != nil {
		t.Fatal(err)
	}
	if auth["/healthz"] != "" || auth["/readyz"] != "" || auth["/v1/credits"] != "Bearer rdk_test" {
		t.Fatalf("Authorization: %q", auth)
	}
}

func TestLists_send_their_filters_and_escape_ids(t *testing.T) {
	var got []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		writeJSON(w, 200, map[string]any{"data": []any{}, "next_cursor": nil})
	})
	ctx := t.Context()
	if _, err := c.ListRenders(ctx, &ListRendersOptions{ListOptions: ListOptions{Limit: 5, Cursor: "c1"}, AssetID: "ast_1", State: RenderRunning}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListWebhookDeliveries(ctx, "whe/1", &ListDeliveriesOptions{Status: "failed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListAssets(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"/v1/renders?asset_id=ast_1&cursor=c1&limit=5&state=running", "/v1/webhook-endpoints/whe%2F1/deliveries?status=failed", "/v1/assets?"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestWrites_mark_read_your_writes_stubs_and_new_renders(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/assets":
			w.Header().Set("Renderd-Read-Your-Writes", "timeout")
			writeJSON(w, 201, map[string]string{"id": "ast_1", "object": "asset"})
		case "/v1/renders":
			writeJSON(w, 201, Render{ID: "rnd_1", State: RenderPending})
		}
	})
	a, err := c.CreateAsset(t.Context(), CreateAssetRequest{Kind: "video"})
	if err != nil || !a.Pending || a.ID != "ast_1" {
		t.Fatalf("asset %+v %v", a, err)
	}
	r, err := c.RequestRender(t.Context(), RequestRenderRequest{AssetID: "ast_1", Output: RenderOutputRequest{Format: "mp4"}})
	if err != nil || !r.Created {
		t.Fatalf("render %+v %v", r, err)
	}
}

func TestA_2xx_that_is_not_its_JSON_is_an_error(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>") })
	if _, err := c.GetRender(t.Context(), "rnd_1"); err == nil || !strings.Contains(err.Error(), "getRender: decode 200") {
		t.Fatalf("err %v", err)
	}
}

func TestA_transport_error_is_returned(t *testing.T) {
	c := newTestClient(t, okCredits)
	c.srv.Close()
	if _, err := c.GetCredits(t.Context()); err == nil || !strings.Contains(err.Error(), "getCredits") {
		t.Fatalf("err %v", err)
	}
}

func TestA_body_that_cannot_be_encoded_is_not_sent(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	_, err := c.RequestCut(t.Context(), "ast_1", RequestCutRequest{Segments: []Segment{{Start: 0, End: math.NaN()}}})
	if err == nil || !strings.Contains(err.Error(), "requestCut: encode body") || calls.Load() != 0 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
}

func TestReadiness_errors(t *testing.T) {
	var proxy atomic.Bool
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if proxy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("upstream down"))
			return
		}
		apiErr(w, http.StatusInternalServerError, "internal", "bug", "")
	})
	if _, err := c.Readiness(t.Context()); ErrorCode(err) != "internal" {
		t.Fatalf("a 500: %v", err)
	}
	// A 503 that is no Readiness (a proxy in front of renderd): an error.
	proxy.Store(true)
	var api *APIError
	if _, err := c.Readiness(t.Context()); !errors.As(err, &api) || api.StatusCode != 503 || api.Message != "upstream down" {
		t.Fatalf("a proxy's 503: %v", err)
	}
	c.srv.Close()
	if _, err := c.Readiness(t.Context()); err == nil {
		t.Fatal("no error from a closed server")
	}
}
