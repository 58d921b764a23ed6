package httpapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

// fuzzDecode feeds arbitrary bodies to decodeJSON: it must never panic, and
// every failure must be a 400 or a 413, never something that would map to
// a 500.
func fuzzDecode[T any](f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/v1/x", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var dst T
		err := decodeJSON(r, 4096, &dst)
		var api *apiError
		if err != nil && !errors.As(err, &api) && !errors.Is(err, errBodyTooLarge) {
			t.Fatalf("decode %q: unexpected error type %T: %v", body, err, err)
		}
		if api != nil && api.status != 400 {
			t.Fatalf("decode %q: status %d", body, api.status)
		}
	})
}

func FuzzDecodeCreateAsset(f *testing.F) {
	fuzzDecode[createAssetRequest](f, `{"kind":"video","name":"x"}`, `{"kind":7}`, `{"kind":"audio"}{}`, `[]`, `null`, `{"name":"\u0000"}`)
}

func FuzzDecodeRequestCut(f *testing.F) {
	fuzzDecode[requestCutRequest](f, `{"segments":[{"start":1.5,"end":9}]}`,
		`{"auto":{"remove_silence":{"min_silence":0.8,"threshold_db":-35}}}`, `{"segments":[{"start":1e400}]}`, `{"segments":{}}`)
}

// FuzzAuthorization feeds arbitrary Authorization headers to a /v1 route
// with rate limits on: the answer is never a 500, a 401 always challenges
// with the Bearer scheme, a known key passes whatever the scheme's case,
// and the authenticator is only ever asked about a well-formed key.
func FuzzAuthorization(f *testing.F) {
	for _, s := range []string{"", "Bearer ", "Bearer " + rlKey1, "Bearer " + rlKey9, "Bearer rdk_", "bearer " + rlKey1,
		"Bearer  " + rlKey1 + " ", "Basic dXNlcjpwYXNz", "Bearer " + rlKey1 + "\x00", "Bearer rdk_" + strings.Repeat("é", 21),
		"BEARER " + rlKey1, "bEaReR\t" + rlKey1, "\tBearer " + rlKey1, "Bearer", "Bearer\x00" + rlKey1, "Bearerx " + rlKey1} {
		f.Add(s)
	}
	auth := &fuzzAuth{known: map[string]string{rlKey1: "acc_1"}}
	h := oaServer(f, oaServerOpts{auth: auth, limits: Limits{
		Reads: Rate{Events: 1000, Period: time.Second, Burst: 1000}, Anonymous: Rate{Events: 1000, Period: time.Second, Burst: 1000}}})
	f.Fuzz(func(t *testing.T, authz string) {
		req := httptest.NewRequest("GET", "/v1/credits", nil)
		req.Header["Authorization"] = []string{authz} // as sent, unchecked
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 429:
		case 401:
			if c := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(c, `Bearer realm="renderd"`) {
				t.Fatalf("Authorization %q: 401 with WWW-Authenticate %q", authz, c)
			}
		default:
			t.Fatalf("Authorization %q: %d %s", authz, rec.Code, rec.Body)
		}
		// The scheme is case-insensitive: a known key passes however the
		// word Bearer is spelt.
		if scheme, key, _ := strings.Cut(authz, " "); strings.EqualFold(scheme, "bearer") && key == rlKey1 && rec.Code == 401 {
			t.Fatalf("Authorization %q: the known key was refused", authz)
		}
		if bad := auth.malformed.Load(); bad != nil {
			t.Fatalf("the authenticator was asked about the malformed key %q", *bad)
		}
	})
}

// fuzzAuth knows keys and remembers a malformed one it was asked about.
type fuzzAuth struct {
	known     map[string]string
	malformed atomic.Pointer[string]
}

func (a *fuzzAuth) check(key string) {
	if !domain.WellFormedAPIKey(key) {
		a.malformed.Store(&key)
	}
}

func (a *fuzzAuth) Cached(key string) (string, bool) {
	a.check(key)
	acc, ok := a.known[key]
	return acc, ok
}

func (a *fuzzAuth) Authenticate(_ context.Context, key string) (string, bool, error) {
	a.check(key)
	acc, ok := a.known[key]
	return acc, ok, nil
}
