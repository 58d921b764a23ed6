package httpapi

import (
	"context"
	"errors"
	"net/http"
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

// FuzzPathID feeds arbitrary path segments where ids belong: the answer is
// never a 5xx, and only a well-formed id of the route's type reaches the
// handlers (the canned read model finds any id it is asked about).
func FuzzPathID(f *testing.F) {
	for _, s := range []string{"ast_1", "rnd_1", "0123abcd+upload.id_x", ".info", "a.info", "..%2f", "\xff", "ast_\x00", "ast_1/cuts", "..", "ast_1%2F", "ast_" + strings.Repeat("9", 70), "ÄST_1", " ast_1"} {
		f.Add(s)
	}
	h := oaServer(f, oaServerOpts{})
	f.Fuzz(func(t *testing.T, seg string) {
		for _, prefix := range []string{"/v1/assets/", "/v1/cuts/", "/v1/renders/"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.URL.Path, req.URL.RawPath = prefix+seg, "" // as decoded, unchecked
			req.Header.Set("Authorization", "Bearer "+oaKey)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("GET %q: %d %s", req.URL.Path, rec.Code, rec.Body)
			}
			if rec.Code == 200 && !strings.Contains(seg, "/") && !wellFormedID(pathIDs(prefix + "{id}")["id"], seg) {
				t.Fatalf("GET %q answered 200 for an ill-formed id", req.URL.Path)
			}
		}
		// A resumable upload's id is tusd's, the name of its files: none
		// is stored, so every id is 404, whatever it spells.
		for _, method := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
			req := httptest.NewRequest(method, "/", strings.NewReader("x"))
			req.URL.Path, req.URL.RawPath = "/v1/uploads/"+seg, ""
			req.Header.Set("Authorization", "Bearer "+oaKey)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Upload-Offset", "0")
			req.Header.Set("Content-Type", "application/offset+octet-stream")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 || rec.Code/100 == 2 {
				t.Fatalf("%s %q: %d %s", method, req.URL.Path, rec.Code, rec.Body)
			}
		}
	})
}

// FuzzQuery feeds arbitrary query strings to a list: never a 5xx, and what
// queryOf accepts holds only clean text.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"limit=2", "asset_id=%00", "asset_id=%FF", "cursor=%zz", "state=running&limit=1", "a=1;b=2", "asset_id=rnd_1", "limit=-1", "limit=99999999999999999999"} {
		f.Add(s)
	}
	h := oaServer(f, oaServerOpts{})
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest("GET", "/v1/renders", nil)
		req.URL.RawQuery = raw
		if q, err := queryOf(req); err == nil {
			for name, vs := range q {
				for _, v := range append(vs, name) {
					if !cleanText(v) {
						t.Fatalf("queryOf(%q) accepted %q", raw, v)
					}
				}
			}
		}
		req.Header.Set("Authorization", "Bearer "+oaKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 404, 422:
		default:
			t.Fatalf("GET /v1/renders?%s: %d %s", raw, rec.Code, rec.Body)
		}
	})
}

// FuzzHeaders feeds arbitrary X-Request-Id and Content-Type headers to a
// write: never a 5xx, and the echoed X-Request-Id (which becomes the
// events' correlation id) is always 1–128 printable ASCII characters.
func FuzzHeaders(f *testing.F) {
	for _, s := range [][2]string{{"", "application/json"}, {"trace-42", "application/json; charset=utf-8"}, {"a\x00b", "text/plain"},
		{"\xff", "application/json\x00"}, {strings.Repeat("x", 200), "APPLICATION/JSON"}, {"é", ""}} {
		f.Add(s[0], s[1])
	}
	h := oaServer(f, oaServerOpts{})
	f.Fuzz(func(t *testing.T, requestID, contentType string) {
		req := httptest.NewRequest("POST", "/v1/assets", strings.NewReader(`{"kind":"audio","name":"n"}`))
		req.Header["X-Request-Id"] = []string{requestID} // as sent, unchecked
		req.Header["Content-Type"] = []string{contentType}
		req.Header.Set("Authorization", "Bearer "+oaKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 201, 400:
		default:
			t.Fatalf("X-Request-Id %q, Content-Type %q: %d %s", requestID, contentType, rec.Code, rec.Body)
		}
		if id := rec.Header().Get("X-Request-Id"); !validRequestID(id) {
			t.Fatalf("X-Request-Id %q echoed as %q", requestID, id)
		}
	})
}
