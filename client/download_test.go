package client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// An S3 store's download answers 302 to the object store: followed, with no
// Authorization header to either.
func TestDownload_follows_the_redirect_to_the_object_store(t *testing.T) {
	payload := bytes.Repeat([]byte{0, 1, 2, 3}, 50_000)
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.URL.Query().Get("X-Amz-Signature") != "sig" {
			t.Errorf("object store got %s with Authorization %q", r.URL, r.Header.Get("Authorization"))
		}
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(payload)
	}))
	defer store.Close()
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("download sent Authorization")
		}
		http.Redirect(w, r, store.URL+"/bucket/out.mp4?X-Amz-Signature=sig", http.StatusFound)
	})
	var out bytes.Buffer
	n, err := c.Download(t.Context(), c.srv.URL+"/v1/downloads/tok", &out)
	if err != nil || n != int64(len(payload)) || !bytes.Equal(out.Bytes(), payload) {
		t.Fatalf("n %d, err %v, %d bytes", n, err, out.Len())
	}
}

func TestDownloadRender_fetches_a_fresh_URL_once_when_it_expired(t *testing.T) {
	var gets, downloads atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/renders/rnd_1":
			n := gets.Add(1)
			writeJSON(w, 200, Render{ID: "rnd_1", State: RenderCompleted, DownloadURL: "/v1/downloads/tok" + string(rune('0'+n))})
		case r.URL.Path == "/v1/downloads/tok1":
			downloads.Add(1)
			apiErr(w, http.StatusGone, "download_expired", "expired", "")
		case r.URL.Path == "/v1/downloads/tok2":
			downloads.Add(1)
			_, _ = w.Write([]byte("mp4 bytes"))
		}
	})
	var out bytes.Buffer
	n, err := c.DownloadRender(t.Context(), "rnd_1", &out)
	if err != nil || n != 9 || out.String() != "mp4 bytes" || gets.Load() != 2 || downloads.Load() != 2 {
		t.Fatalf("n %d, err %v, body %q, %d GETs, %d downloads", n, err, out.String(), gets.Load(), downloads.Load())
	}
}

func TestDownloadRender_refuses_a_render_without_output(t *testing.T) {
	for _, r := range []Render{{ID: "rnd_1", State: RenderRunning}, {ID: "rnd_1", State: RenderCompleted, OutputExpired: true}} {
		c := newTestClient(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, r) })
		if _, err := c.DownloadRender(t.Context(), "rnd_1", &bytes.Buffer{}); !errors.Is(err, ErrNotDownloadable) {
			t.Fatalf("%+v: err %v", r, err)
		}
	}
}

func TestDownload_errors(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.URL.Path {
		case "/v1/downloads/bad":
			apiErr(w, http.StatusForbidden, "forbidden", "the token does not verify", "")
		case "/v1/downloads/busy":
			w.Header().Set("Retry-After", "2")
			apiErr(w, http.StatusTooManyRequests, "rate_limited", "later", "")
		}
	}, WithRetry(RetryPolicy{MaxAttempts: 2}))
	if _, err := c.Download(t.Context(), "/v1/downloads/bad", &bytes.Buffer{}); ErrorCode(err) != "forbidden" || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	if _, err := c.Download(t.Context(), "/v1/downloads/busy", &bytes.Buffer{}); ErrorCode(err) != "rate_limited" || calls.Load() != 2 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
	if _, err := c.Download(t.Context(), "http://[::1", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "URL") {
		t.Fatalf("err %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestDownload_fails_on_a_short_body_or_a_failing_writer(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/renders/rnd_gone" {
			apiErr(w, 404, "not_found", "no such resource", "")
			return
		}
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("only 17 bytes now"))
	})
	var out bytes.Buffer
	if n, err := c.Download(t.Context(), "/v1/downloads/tok", &out); !errors.Is(err, io.ErrUnexpectedEOF) || n != 17 {
		t.Fatalf("a short body: %d bytes, err %v", n, err)
	}
	if _, err := c.Download(t.Context(), "/v1/downloads/tok", failingWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("a failing writer: %v", err)
	}
	if _, err := c.DownloadRender(t.Context(), "rnd_gone", &out); !IsNotFound(err) {
		t.Fatalf("an unknown render: %v", err)
	}
}
