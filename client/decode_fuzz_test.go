package client

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeError feeds arbitrary error answers (status, body, Retry-After)
// to decodeError: it never panics, keeps the status, takes code and field
// only from the API's error shape, quotes anything else as at most 200
// characters of valid UTF-8, and never reads a negative Retry-After.
func FuzzDecodeError(f *testing.F) {
	for _, s := range []struct {
		status   int
		body, ra string
	}{
		{422, `{"error":{"code":"validation_error","message":"no","field":"output.format"}}`, ""},
		{429, `{"error":{"code":"rate_limited","message":"later"}}`, "3"},
		{503, `{"error":{"code":"service_unavailable","message":"x"}}`, "Fri, 04 Dec 2026 02:00:05 GMT"},
		{502, "<html>\xff</html>", "-1"}, {416, "", ""}, {409, `{"error":{"code":""}}`, "1e9"}, {500, strings.Repeat("\xff", 300), ""}, {400, `{"error":[]}`, "99999999999999999999"},
	} {
		f.Add(s.status, s.body, s.ra)
	}
	f.Fuzz(func(t *testing.T, status int, body, retryAfter string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		e := decodeError(status, h, []byte(body), nowForTest)
		if e.StatusCode != status || e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter*1e9 {
			t.Fatalf("status %d, retry after %v", e.StatusCode, e.RetryAfter)
		}
		var shape ErrorBody
		if json.Unmarshal([]byte(body), &shape) == nil && shape.Error.Code != "" {
			if e.Code != shape.Error.Code || e.Field != shape.Error.Field || e.Message != shape.Error.Message {
				t.Fatalf("%q decoded to %#v", body, e)
			}
			return
		}
		if e.Code != "" || e.Field != "" || !utf8.ValidString(e.Message) || utf8.RuneCountInString(e.Message) > 200 {
			t.Fatalf("%q decoded to %#v", body, e)
		}
		if e.Message == "" && strings.TrimSpace(body) == "" && http.StatusText(status) != "" {
			t.Fatalf("no message for status %d", status)
		}
		_ = e.Error()
	})
}

// FuzzDecodeResponse feeds arbitrary 2xx bodies to the decoding of the
// richest answers (a render, an asset, a page of renders): it never
// panics, and what decodes re-encodes to a value that decodes the same.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"id":"rnd_1","object":"render","state":"running","progress":40,"eta_seconds":8.5,"cut_id":null,"plan":{"segments":[],"duration":3}}`,
		`{"id":"ast_1","object":"asset","state":"ready","source":{"container":"mp4","duration":1,"size_bytes":1,"has_video":true,"has_audio":false,"rotation":0}}`,
		`{"data":[{"id":"rnd_1"}],"next_cursor":"c"}`, `{"created_at":"not a time"}`, `null`, `[]`, `{"eta_seconds":1e400}`,
	} {
		f.Add(s)
	}
	roundTrip := func(t *testing.T, body string, v any) {
		res := &result{status: 200, header: http.Header{}, body: []byte(body)}
		if err := decodeJSON(opGetRender, res, v); err != nil {
			if !strings.Contains(err.Error(), "getRender: decode 200") {
				t.Fatalf("error %v", err)
			}
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%q decoded but does not encode: %v", body, err)
		}
		again := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := json.Unmarshal(b, again); err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed %s into %s", b, b2)
		}
	}
	f.Fuzz(func(t *testing.T, body string) {
		roundTrip(t, body, new(Render))
		roundTrip(t, body, new(Asset))
		roundTrip(t, body, new(RenderList))
	})
}
