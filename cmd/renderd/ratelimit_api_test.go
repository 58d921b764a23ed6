package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestAPI_rate_limits_refuse_past_the_burst_per_account_and_per_address(t *testing.T) {
	s := startService(t, "RENDERD_RATE_WRITES=1/m,3", "RENDERD_RATE_ANONYMOUS=1/m,10")
	key, other := s.account(1), s.account(1)
	// A key's first use in the process spends from the address's bucket;
	// from then on it is cached.
	s.expect(s.do(key, http.MethodGet, "/v1/credits", nil), http.StatusOK, "")
	s.expect(s.do(other, http.MethodGet, "/v1/credits", nil), http.StatusOK, "")

	t.Run("a_burst_beyond_the_writes_limit_is_429_rate_limited", func(t *testing.T) {
		s := s.with(t)
		for i := range 3 {
			r := s.do(key, http.MethodPost, "/v1/assets", map[string]string{"kind": "audio"})
			s.expect(r, http.StatusCreated, "")
			if got, want := r.header.Get("RateLimit"), `"writes";r=`+strconv.Itoa(2-i)+`;t=`; !strings.HasPrefix(got, want) {
				t.Errorf("write %d: RateLimit %q, want %s…", i+1, got, want)
			}
		}
		r := s.do(key, http.MethodPost, "/v1/assets", map[string]string{"kind": "audio"})
		s.expect(r, http.StatusTooManyRequests, "rate_limited")
		retry, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || retry < 1 || retry > 60 {
			t.Errorf("Retry-After %q, want 1 to 60 seconds (one token a minute)", r.header.Get("Retry-After"))
		}
		if got := r.header.Get("RateLimit-Policy"); got != `"writes";q=3;w=180` {
			t.Errorf("RateLimit-Policy %q", got)
		}
		if got := r.header.Get("RateLimit"); got != `"writes";r=0;t=`+r.header.Get("Retry-After") {
			t.Errorf("RateLimit %q", got)
		}
		if !strings.Contains(r.str("error.message"), "writes") {
			t.Errorf("message %q does not name the limit", r.str("error.message"))
		}
	})

	t.Run("reads_of_the_same_account_still_pass", func(t *testing.T) {
		s := s.with(t)
		r := s.do(key, http.MethodGet, "/v1/assets", nil)
		s.expect(r, http.StatusOK, "")
		if got := r.header.Get("RateLimit-Policy"); got != `"reads";q=200;w=2` {
			t.Errorf("RateLimit-Policy %q, want the default reads limit", got)
		}
	})

	t.Run("another_account_is_not_limited", func(t *testing.T) {
		s := s.with(t)
		s.expect(s.do(other, http.MethodPost, "/v1/assets", map[string]string{"kind": "audio"}), http.StatusCreated, "")
	})

	t.Run("an_unauthenticated_flood_is_429_by_address", func(t *testing.T) {
		s := s.with(t)
		var last response
		for i := 0; i < 12 && last.status != http.StatusTooManyRequests; i++ {
			last = s.do("", http.MethodGet, "/v1/assets", nil)
			if last.status != http.StatusUnauthorized && last.status != http.StatusTooManyRequests {
				t.Fatalf("request %d without a key: %d %s", i+1, last.status, last.raw)
			}
		}
		s.expect(last, http.StatusTooManyRequests, "rate_limited")
		if got := last.header.Get("RateLimit-Policy"); got != `"anonymous";q=10;w=600` || last.header.Get("Retry-After") == "" {
			t.Errorf("RateLimit-Policy %q, Retry-After %q", got, last.header.Get("Retry-After"))
		}
		s.expect(s.do("", http.MethodGet, "/v1/downloads/not-a-token", nil), http.StatusTooManyRequests, "rate_limited")
		s.expect(s.do("rdk_"+strings.Repeat("A", 43), http.MethodGet, "/v1/assets", nil), http.StatusTooManyRequests, "rate_limited")
		// A known key from the same address is not anonymous.
		s.expect(s.do(key, http.MethodGet, "/v1/assets", nil), http.StatusOK, "")
		if resp, err := http.Get(s.base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("/healthz under a flood: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
	})
}
