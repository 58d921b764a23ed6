package httpapi

import (
	"bytes"
	"fmt"
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

func TestAccessLog_never_shows_a_download_token_on_any_spelling(t *testing.T) {
	const tok = "Tok3nSecretValue"
	enc := func(s string) string {
		var b strings.Builder
		for i := range len(s) {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}
	paths := []string{
		"/v1/downloads/" + tok,
		"/v1//downloads/" + tok,
		"//v1/downloads/" + tok,
		"/v1/downloads//" + tok,
		"/v1/downloads/" + tok + "/",
		"/v1/downloads/" + tok + "//",
		"/v1/./downloads/" + tok,
		"/v1/x/../downloads/" + tok,
		"/v1/%64ownloads/" + tok,
		"/v1/%2564ownloads/" + tok,
		"/v1/downloads%2F" + tok,
		"/v1/downloads/" + enc(tok),
		"/v1/Downloads/" + tok,
		"/V1/DOWNLOADS/" + tok,
		"/v1/downloads/" + tok + "?token=x",
		"/v1/download/" + tok,
		"/v1/downloads/" + tok + "/extra",
	}
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete} {
		for _, p := range paths {
			t.Run(method+" "+p, func(t *testing.T) {
				var buf bytes.Buffer
				h := oaServer(t, oaServerOpts{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
				req := httptest.NewRequest(method, "http://renderd.test"+p, nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code >= 500 {
					t.Errorf("status %d", rec.Code)
				}
				logs := strings.ToLower(buf.String())
				if !strings.Contains(logs, `msg="http request"`) {
					t.Fatalf("no access log line: %s", buf.String())
				}
				for _, leak := range []string{tok, enc(tok), tok[:8]} {
					if strings.Contains(logs, strings.ToLower(leak)) {
						t.Errorf("status %d: the log shows the token (%q): %s", rec.Code, leak, buf.String())
					}
				}
			})
		}
	}
}

func TestAccessLog_names_the_route_template_of_a_matched_route(t *testing.T) {
	var buf bytes.Buffer
	h := oaServer(t, oaServerOpts{log: slog.New(slog.NewTextHandler(&buf, nil))})
	req := httptest.NewRequest(http.MethodGet, "/v1/renders/rnd_secretish", nil)
	req.Header.Set("Authorization", "Bearer "+oaKey)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !strings.Contains(buf.String(), "path=/v1/renders/{id}") || strings.Contains(buf.String(), "rnd_secretish") {
		t.Errorf("access log: %s", buf.String())
	}
	buf.Reset()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/nothing/here", nil))
	if !strings.Contains(buf.String(), "path=/v1/nothing/here") {
		t.Errorf("an unmatched path is logged as it is: %s", buf.String())
	}
}
