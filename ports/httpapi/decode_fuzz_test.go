package httpapi

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
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
