package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAccessLog_names_the_authenticated_account_and_the_request_id(t *testing.T) {
	var buf bytes.Buffer
	h := oaServer(t, oaServerOpts{log: slog.New(slog.NewTextHandler(&buf, nil))})
	req := httptest.NewRequest(http.MethodGet, "/v1/assets", nil)
	req.Header.Set("Authorization", "Bearer "+oaKey)
	req.Header.Set("X-Request-Id", "req-abc")
	h.ServeHTTP(httptest.NewRecorder(), req)
	line := buf.String()
	for _, want := range []string{`msg="http request"`, "account_id=acc_1", "correlation_id=req-abc", "status=200"} {
		if !strings.Contains(line, want) {
			t.Errorf("access log %q lacks %s", line, want)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want exactly one line per request, got %q", line)
	}
}

func TestRequestID_that_is_not_printable_is_replaced(t *testing.T) {
	h := oaServer(t, oaServerOpts{})
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("X-Request-Id", "bad id\x01")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \x01") {
		t.Errorf("X-Request-Id = %q", got)
	}
}

func TestUpload_shorter_than_its_content_length_is_a_bad_request(t *testing.T) {
	h := oaServer(t, oaServerOpts{})
	create := httptest.NewRequest(http.MethodPost, "/v1/assets", strings.NewReader(`{"kind":"video"}`))
	create.Header.Set("Authorization", "Bearer "+oaKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, create)
	id := between(rec.Body.String(), `"id":"`, `"`)
	req := httptest.NewRequest(http.MethodPut, "/v1/assets/"+id+"/source", truncated{strings.NewReader("only a part")})
	req.Header.Set("Authorization", "Bearer "+oaKey)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_request") {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
}

// truncated is a body that ends early, as a dropped connection reads.
type truncated struct{ r *strings.Reader }

func (t truncated) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil {
		return n, io.ErrUnexpectedEOF
	}
	return n, nil
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	out, _, _ := strings.Cut(rest, to)
	return out
}

func TestAccessLog_masks_download_tokens(t *testing.T) {
	var buf bytes.Buffer
	h := oaServer(t, oaServerOpts{log: slog.New(slog.NewTextHandler(&buf, nil))})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/downloads/secret-token-value", nil))
	if strings.Contains(buf.String(), "secret-token-value") {
		t.Errorf("the access log shows a download token: %s", buf.String())
	}
}
