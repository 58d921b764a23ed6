package client

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tusFake is a tus server of one upload, for the uploader's logic (the real
// one, tusd in renderd, is cmd/renderd's TestSDK_resumable_upload). fail,
// when set, may answer a PATCH itself after reading part of it.
type tusFake struct {
	t          *testing.T
	mu         sync.Mutex
	length     int64
	data       []byte
	metadata   string
	patches    int
	terminated bool
	finished   bool // recorded: HEAD is 404, as renderd's
	fail       func(w http.ResponseWriter, r *http.Request, patch int) bool
}

func (f *tusFake) handler(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/v1/uploads") && r.Method != http.MethodOptions && r.Header.Get("Tus-Resumable") != "1.0.0" {
		f.t.Errorf("%s %s without Tus-Resumable", r.Method, r.URL)
	}
	if r.Header.Get("Authorization") != "Bearer rdk_test" {
		f.t.Errorf("%s %s without the key", r.Method, r.URL)
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/uploads":
		f.length, _ = strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
		f.metadata = r.Header.Get("Upload-Metadata")
		w.Header().Set("Location", "http://"+r.Host+"/v1/uploads/up1")
		w.Header().Set("Upload-Expires", "Sat, 05 Dec 2026 10:00:00 GMT")
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodHead && r.URL.Path == "/v1/uploads/up1" && f.finished:
		w.WriteHeader(http.StatusNotFound)
	case r.Method == http.MethodHead && r.URL.Path == "/v1/uploads/up1":
		w.Header().Set("Upload-Offset", strconv.Itoa(len(f.data)))
		w.Header().Set("Upload-Length", strconv.FormatInt(f.length, 10))
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPatch && r.URL.Path == "/v1/uploads/up1":
		f.patches++
		if r.Header.Get("Content-Type") != "application/offset+octet-stream" {
			f.t.Errorf("PATCH Content-Type %q", r.Header.Get("Content-Type"))
		}
		if off, _ := strconv.Atoi(r.Header.Get("Upload-Offset")); off != len(f.data) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, "ERR_MISMATCHED_OFFSET: mismatched offset\n")
			return
		}
		if f.fail != nil && f.fail(w, r, f.patches) {
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.data = append(f.data, b...)
		w.Header().Set("Upload-Offset", strconv.Itoa(len(f.data)))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete && r.URL.Path == "/v1/uploads/up1":
		f.terminated = true
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/assets/ast_1":
		writeJSON(w, http.StatusOK, Asset{ID: "ast_1", Object: "asset", State: AssetProcessing})
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	}
}

func newTusFake(t *testing.T) (*tusFake, *testClient) {
	f := &tusFake{t: t}
	return f, newTestClient(t, f.handler)
}

func upload(t *testing.T, tc *testClient, u Resumable, data []byte, progress ProgressFunc) (*Asset, error) {
	tc.uploader = u
	return tc.UploadSource(t.Context(), "ast_1", bytes.NewReader(data), int64(len(data)), progress)
}

func TestResumable_sends_chunks_with_progress_and_answers_the_asset(t *testing.T) {
	f, tc := newTusFake(t)
	data := bytes.Repeat([]byte("0123456789"), 10_000) // 100 kB
	var calls [][2]int64
	var created string
	a, err := upload(t, tc, Resumable{ChunkSize: 30_000, OnCreate: func(id string) { created = id }}, data,
		func(sent, total int64) { calls = append(calls, [2]int64{sent, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "ast_1" || a.State != AssetProcessing || created != "up1" {
		t.Fatalf("asset %+v, created %q", a, created)
	}
	if !bytes.Equal(f.data, data) || f.length != int64(len(data)) || f.patches != 4 || f.terminated {
		t.Fatalf("server: %d bytes of %d in %d PATCHes (terminated %t)", len(f.data), f.length, f.patches, f.terminated)
	}
	b64 := base64.StdEncoding.EncodeToString
	if want := "asset_id " + b64([]byte("ast_1")) + ",part " + b64([]byte("source")); f.metadata != want {
		t.Fatalf("Upload-Metadata %q, want %q", f.metadata, want)
	}
	for i, c := range calls {
		if c[1] != int64(len(data)) || i > 0 && c[0] <= calls[i-1][0] {
			t.Fatalf("progress %d: %v after %v", i, c, calls[max(i-1, 0)])
		}
	}
	if last := calls[len(calls)-1]; last[0] != int64(len(data)) {
		t.Fatalf("last progress %v", last)
	}
}

// A PATCH cut off after part of its body: the uploader asks for the offset
// and sends only the rest, and the server ends with the same bytes.
func TestResumable_resumes_a_dropped_PATCH_from_the_servers_offset(t *testing.T) {
	f, tc := newTusFake(t)
	data := bytes.Repeat([]byte("abcdefgh"), 50_000) // 400 kB, one chunk
	f.fail = func(w http.ResponseWriter, r *http.Request, patch int) bool {
		if patch != 1 {
			return false
		}
		part := make([]byte, 150_000)
		n, _ := io.ReadFull(r.Body, part)
		f.data = append(f.data, part[:n]...)
		// The connection drops: no answer.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return true
		}
		conn.Close()
		return true
	}
	if _, err := upload(t, tc, Resumable{}, data, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.data, data) || f.patches != 2 {
		t.Fatalf("server holds %d of %d bytes after %d PATCHes", len(f.data), len(data), f.patches)
	}
	if w := tc.waits(); len(w) != 1 {
		t.Fatalf("waits %v: want one backoff before asking for the offset", w)
	}
}

// The last PATCH arrives whole and the server records the part, but the
// answer is lost: HEAD is then 404, and the upload is done, not failed.
func TestResumable_a_lost_answer_to_the_last_PATCH_is_success(t *testing.T) {
	f, tc := newTusFake(t)
	f.fail = func(w http.ResponseWriter, r *http.Request, patch int) bool {
		b, _ := io.ReadAll(r.Body)
		f.data, f.finished = append(f.data, b...), true
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
	data := []byte("all of it")
	a, err := upload(t, tc, Resumable{}, data, nil)
	if err != nil || a.ID != "ast_1" || !bytes.Equal(f.data, data) || f.patches != 1 || f.terminated {
		t.Fatalf("asset %+v, err %v; server %q after %d PATCHes, terminated %t", a, err, f.data, f.patches, f.terminated)
	}
}

// A last PATCH answered 503 leaves the upload complete on the server, to
// be recorded once the outage ends: HEAD shows every byte, and the upload
// is done. Answered 503 and then gone (404), it is an error, not a lost
// answer.
func TestResumable_a_503_at_the_last_byte(t *testing.T) {
	for _, kept := range []bool{true, false} {
		f, tc := newTusFake(t)
		f.fail = func(w http.ResponseWriter, r *http.Request, patch int) bool {
			if patch > 1 {
				return false
			}
			b, _ := io.ReadAll(r.Body)
			f.data, f.finished = append(f.data, b...), !kept
			apiErr(w, http.StatusServiceUnavailable, "service_unavailable", "later", "")
			return true
		}
		_, err := upload(t, tc, Resumable{}, []byte("all of it"), nil)
		if kept && (err != nil || f.patches != 1 || f.terminated) {
			t.Errorf("kept: err %v after %d PATCHes, terminated %t", err, f.patches, f.terminated)
		}
		if !kept && (err == nil || !IsNotFound(err)) {
			t.Errorf("gone: err %v, want the HEAD's 404", err)
		}
	}
}

// renderd's 409 with its error body (not tus's offset mismatch, a 409 in
// text) is a refusal, and the upload is terminated so the part is free
// again.
func TestResumable_a_refusal_is_typed_and_terminates_the_upload(t *testing.T) {
	f, tc := newTusFake(t)
	f.fail = func(w http.ResponseWriter, r *http.Request, patch int) bool {
		_, _ = io.Copy(io.Discard, r.Body)
		apiErr(w, http.StatusConflict, "upload_in_progress", "another upload took this part", "")
		return true
	}
	_, err := upload(t, tc, Resumable{}, []byte("some bytes"), nil)
	if ErrorCode(err) != "upload_in_progress" || f.patches != 1 || !f.terminated {
		t.Fatalf("err %v after %d PATCHes, terminated %t", err, f.patches, f.terminated)
	}
}

func TestResumable_gives_up_after_Attempts_honouring_Retry_After(t *testing.T) {
	f, tc := newTusFake(t)
	f.fail = func(w http.ResponseWriter, r *http.Request, patch int) bool {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "7")
		apiErr(w, http.StatusServiceUnavailable, "service_unavailable", "later", "")
		return true
	}
	_, err := upload(t, tc, Resumable{Attempts: 3}, []byte("some bytes"), nil)
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "3 tries") {
		t.Fatalf("err %v", err)
	}
	if f.patches != 3 || !f.terminated {
		t.Fatalf("%d PATCHes, terminated %t", f.patches, f.terminated)
	}
	if w := tc.waits(); len(w) != 2 || w[0] != 7*time.Second || w[1] != 7*time.Second {
		t.Fatalf("waits %v, want the Retry-After twice", w)
	}
}

// The server holding bytes the uploader no longer has (before the chunk it
// keeps) cannot be resumed by it: an error, never a corrupt upload.
func TestResumable_an_offset_outside_the_kept_chunk_is_an_error(t *testing.T) {
	f, tc := newTusFake(t)
	f.fail = func(w http.ResponseWriter, r *http.Request, patch int) bool {
		if patch != 2 {
			return false
		}
		_, _ = io.Copy(io.Discard, r.Body)
		f.data = f.data[:2] // the server lost bytes of the first chunk
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}
	_, err := upload(t, tc, Resumable{ChunkSize: 4}, []byte("0123456789"), nil)
	if err == nil || !strings.Contains(err.Error(), "outside the chunk") || !f.terminated {
		t.Fatalf("err %v, terminated %t", err, f.terminated)
	}
}

func TestResumable_needs_the_size(t *testing.T) {
	_, tc := newTusFake(t)
	tc.uploader = Resumable{}
	if _, err := tc.UploadSource(t.Context(), "ast_1", strings.NewReader("x"), -1, nil); err == nil || !strings.Contains(err.Error(), "size is required") {
		t.Fatalf("err %v", err)
	}
}

func TestUploadRequests_one_by_one(t *testing.T) {
	f, tc := newTusFake(t)
	up, err := tc.CreateUpload(t.Context(), CreateUploadRequest{AssetID: "ast_1", Part: PartAudio, Size: 6})
	if err != nil || up.ID != "up1" || up.Length != 6 || !up.Expires.Equal(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("created %+v, %v", up, err)
	}
	if next, err := tc.ResumeUpload(t.Context(), up.ID, 0, strings.NewReader("abc"), 3); err != nil || next != 3 {
		t.Fatalf("PATCH: %d, %v", next, err)
	}
	// A PATCH from a stale offset: tus's 409, typed without a code.
	if _, err := tc.ResumeUpload(t.Context(), up.ID, 0, strings.NewReader("abc"), 3); err == nil || ErrorCode(err) != "" || !strings.Contains(err.Error(), "409") {
		t.Fatalf("stale PATCH: %v", err)
	}
	if at, err := tc.GetUploadOffset(t.Context(), up.ID); err != nil || at.Offset != 3 || at.Length != 6 {
		t.Fatalf("HEAD: %+v, %v", at, err)
	}
	if err := tc.TerminateUpload(t.Context(), up.ID); err != nil || !f.terminated {
		t.Fatalf("DELETE: %v", err)
	}
	if _, err := tc.CreateUpload(t.Context(), CreateUploadRequest{AssetID: "ast_1", Part: PartSource, Size: -1}); err == nil {
		t.Fatal("a creation without a size was sent")
	}
}

func TestDescribeUploads_reads_the_tus_headers(t *testing.T) {
	tc := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions {
			t.Errorf("%s", r.Method)
		}
		w.Header().Set("Tus-Version", "1.0.0")
		w.Header().Set("Tus-Extension", "creation,termination, expiration")
		w.Header().Set("Tus-Max-Size", "1073741824")
		w.WriteHeader(http.StatusNoContent)
	})
	caps, err := tc.DescribeUploads(t.Context())
	if err != nil || len(caps.Versions) != 1 || len(caps.Extensions) != 3 || caps.Extensions[2] != "expiration" || caps.MaxSize != 1<<30 {
		t.Fatalf("%+v, %v", caps, err)
	}
}
