package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/domain"
)

var dlNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// dlTokens is a fake DownloadTokens: known tokens map to a grant or an error,
// anything else is invalid. It records what it was asked.
type dlTokens struct {
	known map[string]dlResult
	seen  []string
	at    []time.Time
}

type dlResult struct {
	grant domain.DownloadGrant
	err   error
}

func (f *dlTokens) Verify(token string, now time.Time) (domain.DownloadGrant, error) {
	f.seen, f.at = append(f.seen, token), append(f.at, now)
	if r, ok := f.known[token]; ok {
		return r.grant, r.err
	}
	return domain.DownloadGrant{}, fmt.Errorf("fake: %w", domain.ErrDownloadInvalid)
}

// dlBlobs is the local blob store over dir.
func dlBlobs(t *testing.T, dir string) *blob.Local {
	t.Helper()
	store, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// presigning is a store that hands out URLs of its own, as S3 does: only
// what the download handler needs, over the local store's blobs. It
// records what it was asked for.
type presigning struct {
	DownloadBlobs
	err         error
	key         string
	filename    string
	contentType string
	expires     time.Time
}

func (p *presigning) DownloadURL(_ context.Context, key string, as blob.Attachment, expires time.Time) (string, bool, error) {
	p.key, p.filename, p.contentType, p.expires = key, as.Filename, as.ContentType, expires
	if p.err != nil {
		return "", false, p.err
	}
	return "https://s3.example/bucket/" + key + "?X-Amz-Signature=abc", true, nil
}

const dlContent = "0123456789abcdef"

type dlFixture struct {
	h      http.Handler
	tokens *dlTokens
	mod    time.Time
}

func newDownloads(t *testing.T) dlFixture {
	t.Helper()
	return newDownloadsOver(t, func(b DownloadBlobs) DownloadBlobs { return b })
}

// newDownloadsOver serves the fixture's blobs through the store wrap makes
// of the local one.
func newDownloadsOver(t *testing.T, wrap func(DownloadBlobs) DownloadBlobs) dlFixture {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "renders", "rnd_1"), 0o750); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "renders", "rnd_1", "output.mp4")
	if err := os.WriteFile(file, []byte(dlContent), 0o640); err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC)
	if err := os.Chtimes(file, mod, mod); err != nil {
		t.Fatal(err)
	}
	exp := dlNow.Add(15 * time.Minute)
	tokens := &dlTokens{known: map[string]dlResult{
		"good":    {grant: domain.DownloadGrant{Key: "renders/rnd_1/output.mp4", Filename: "rnd_1.mp4", Expires: exp}},
		"long":    {grant: domain.DownloadGrant{Key: "renders/rnd_1/output.mp4", Filename: "rnd_1.mp4", Expires: dlNow.Add(24 * time.Hour)}},
		"short":   {grant: domain.DownloadGrant{Key: "renders/rnd_1/output.mp4", Filename: "rnd_1.mp4", Expires: dlNow.Add(90 * time.Second)}},
		"audio":   {grant: domain.DownloadGrant{Key: "renders/rnd_1/output.mp4", Filename: "rnd_1.MP3", Expires: exp}},
		"unknown": {grant: domain.DownloadGrant{Key: "renders/rnd_1/output.mp4", Filename: "rnd_1.bin", Expires: exp}},
		"hostile": {grant: domain.DownloadGrant{Key: "renders/rnd_1/output.mp4", Filename: "a\"b\r\nX-Evil: 1.mp4", Expires: exp}},
		"dir":     {grant: domain.DownloadGrant{Key: "renders/rnd_1", Filename: "rnd_1.mp4", Expires: exp}},
		"missing": {grant: domain.DownloadGrant{Key: "renders/rnd_2/output.mp4", Filename: "rnd_2.mp4", Expires: exp}},
		"expired": {err: fmt.Errorf("fake: %w", domain.ErrDownloadExpired)},
		"broken":  {err: errors.New("verifier exploded")},
	}}
	r := mux.NewRouter()
	r.Handle("/v1/downloads/{token}", DownloadHandler(tokens, wrap(dlBlobs(t, dir)), slog.New(slog.DiscardHandler), func() time.Time { return dlNow })).
		Methods(http.MethodGet, http.MethodHead)
	return dlFixture{h: withRequestID(r), tokens: tokens, mod: mod}
}

func (f dlFixture) do(t *testing.T, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/", nil)
	req.URL.Path, req.URL.RawPath = target, "" // any bytes, as a client could send them
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func wantHeaders(t *testing.T, rec *httptest.ResponseRecorder, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func wantAPIError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d (%s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not an error: %v", rec.Body, err)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("error %+v, want code %q with a message", body.Error, code)
	}
	for _, k := range []string{"Content-Disposition", "Cache-Control"} {
		if v := rec.Header().Get(k); v != "" {
			t.Errorf("an error response carries %s: %q", k, v)
		}
	}
}

func TestDownload_serves_the_whole_file_with_its_headers(t *testing.T) {
	f := newDownloads(t)
	rec := f.do(t, http.MethodGet, "/v1/downloads/good")
	if rec.Code != http.StatusOK || rec.Body.String() != dlContent {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
	wantHeaders(t, rec, map[string]string{
		"Content-Type":           "video/mp4",
		"Content-Disposition":    `attachment; filename="rnd_1.mp4"`,
		"Cache-Control":          "private, max-age=900",
		"Content-Length":         "16",
		"Accept-Ranges":          "bytes",
		"Last-Modified":          f.mod.Format(http.TimeFormat),
		"X-Content-Type-Options": "nosniff",
	})
	if rec.Header().Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	if len(f.tokens.seen) != 1 || f.tokens.seen[0] != "good" || !f.tokens.at[0].Equal(dlNow) {
		t.Errorf("verifier saw %q at %v", f.tokens.seen, f.tokens.at)
	}
}

func TestDownload_max_age_counts_down_to_the_expiry(t *testing.T) {
	for _, tc := range []struct {
		left time.Duration
		want int64
	}{{15 * time.Minute, 900}, {1500 * time.Millisecond, 1}, {999 * time.Millisecond, 0}, {-time.Second, 0}} {
		if got := maxAge(dlNow.Add(tc.left), dlNow); got != tc.want {
			t.Errorf("maxAge with %v left = %d, want %d", tc.left, got, tc.want)
		}
	}
}

func TestDownload_content_type_follows_the_file_extension(t *testing.T) {
	for name, want := range map[string]string{
		"a.mp4": "video/mp4", "a.mov": "video/quicktime", "a.m4a": "audio/mp4", "a.mp3": "audio/mpeg",
		"A.MOV": "video/quicktime", "a.bin": "application/octet-stream", "a": "application/octet-stream",
		"a.mp4.txt": "application/octet-stream",
	} {
		if got := downloadContentType(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	f := newDownloads(t)
	for token, want := range map[string]string{"audio": "audio/mpeg", "unknown": "application/octet-stream"} {
		rec := f.do(t, http.MethodGet, "/v1/downloads/"+token)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != want {
			t.Errorf("%s: %d %q, want 200 %q", token, rec.Code, rec.Header().Get("Content-Type"), want)
		}
	}
}

func TestDownload_serves_a_byte_range(t *testing.T) {
	f := newDownloads(t)
	rec := f.do(t, http.MethodGet, "/v1/downloads/good", "Range", "bytes=2-5")
	if rec.Code != http.StatusPartialContent || rec.Body.String() != dlContent[2:6] {
		t.Fatalf("got %d %q, want 206 %q", rec.Code, rec.Body, dlContent[2:6])
	}
	wantHeaders(t, rec, map[string]string{
		"Content-Range":       "bytes 2-5/16",
		"Content-Length":      "4",
		"Content-Type":        "video/mp4",
		"Content-Disposition": `attachment; filename="rnd_1.mp4"`,
	})

	rec = f.do(t, http.MethodGet, "/v1/downloads/good", "Range", "bytes=100-")
	if rec.Code != http.StatusRequestedRangeNotSatisfiable || rec.Header().Get("Content-Range") != "bytes */16" {
		t.Errorf("unsatisfiable range: %d %q", rec.Code, rec.Header().Get("Content-Range"))
	}
}

func TestDownload_answers_conditional_requests(t *testing.T) {
	f := newDownloads(t)
	rec := f.do(t, http.MethodGet, "/v1/downloads/good", "If-Modified-Since", f.mod.Format(http.TimeFormat))
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-Modified-Since: %d %q, want 304", rec.Code, rec.Body)
	}
}

func TestDownload_HEAD_has_the_headers_and_no_body(t *testing.T) {
	f := newDownloads(t)
	rec := f.do(t, http.MethodHead, "/v1/downloads/good")
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("got %d with a %d-byte body", rec.Code, rec.Body.Len())
	}
	wantHeaders(t, rec, map[string]string{
		"Content-Type":        "video/mp4",
		"Content-Length":      "16",
		"Content-Disposition": `attachment; filename="rnd_1.mp4"`,
		"Cache-Control":       "private, max-age=900",
	})
}

func TestDownload_errors(t *testing.T) {
	for _, tc := range []struct {
		token  string
		status int
		code   string
	}{
		{"not-a-token", http.StatusForbidden, "forbidden"},
		{"expired", http.StatusGone, "download_expired"},
		{"missing", http.StatusNotFound, "not_found"},
		{"dir", http.StatusNotFound, "not_found"},
		{"broken", http.StatusInternalServerError, "internal"},
	} {
		t.Run(tc.token, func(t *testing.T) {
			f := newDownloads(t)
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				rec := f.do(t, method, "/v1/downloads/"+tc.token)
				if method == http.MethodHead {
					if rec.Code != tc.status {
						t.Errorf("HEAD: %d, want %d", rec.Code, tc.status)
					}
					continue
				}
				wantAPIError(t, rec, tc.status, tc.code)
			}
		})
	}
}

func TestDownload_token_with_odd_characters_is_forbidden_never_a_server_error(t *testing.T) {
	f := newDownloads(t)
	for _, token := range []string{
		"%00", "\x00", "a b", "a\tb", "ü", "\xff\xfe", "good\n", "good%20", "'\"<>", "a;b", "a?b", "good#x",
		"%2e%2e", "...", "~!@$^&*()+={}[]|\\:,", strings.Repeat("A", maxDownloadToken+1), strings.Repeat("A", 1<<16),
	} {
		wantAPIError(t, f.do(t, http.MethodGet, "/v1/downloads/"+token), http.StatusForbidden, "forbidden")
	}
	for _, seen := range f.tokens.seen {
		if len(seen) > maxDownloadToken {
			t.Errorf("a %d-byte token reached the verifier", len(seen))
		}
	}
	// "." and ".." never reach the handler: the router cleans the path.
	for _, token := range []string{".", ".."} {
		if rec := f.do(t, http.MethodGet, "/v1/downloads/"+token); rec.Code != http.StatusMovedPermanently {
			t.Errorf("token %q: %d, want the router's 301", token, rec.Code)
		}
	}
}

func TestDownload_file_name_is_quoted_safely_whatever_the_verifier_grants(t *testing.T) {
	f := newDownloads(t)
	rec := f.do(t, http.MethodGet, "/v1/downloads/hostile")
	if rec.Code != http.StatusOK {
		t.Fatalf("got %d", rec.Code)
	}
	if got, want := rec.Header().Get("Content-Disposition"), `attachment; filename="a_b__X-Evil__1.mp4"`; got != want {
		t.Errorf("Content-Disposition %q, want %q", got, want)
	}
	if rec.Header().Get("X-Evil") != "" {
		t.Error("a header was injected")
	}
}

func TestDownload_without_a_token_or_with_another_method(t *testing.T) {
	h := DownloadHandler(&dlTokens{}, dlBlobs(t, t.TempDir()), slog.New(slog.DiscardHandler), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/downloads/", nil)) // no mux vars
	wantAPIError(t, rec, http.StatusForbidden, "forbidden")

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/downloads/x", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestDownloadHandler_needs_its_dependencies(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic without a verifier")
		}
	}()
	DownloadHandler(nil, dlBlobs(t, t.TempDir()), slog.New(slog.DiscardHandler), nil)
}

func TestDownload_from_a_store_with_urls_of_its_own_redirects_to_one_that_dies_with_the_token_or_within_15_minutes(t *testing.T) {
	for token, want := range map[string]time.Time{
		"long":  dlNow.Add(15 * time.Minute),
		"short": dlNow.Add(90 * time.Second),
	} {
		t.Run(token, func(t *testing.T) {
			store := &presigning{}
			f := newDownloadsOver(t, func(b DownloadBlobs) DownloadBlobs { store.DownloadBlobs = b; return store })
			rec := f.do(t, http.MethodGet, "/v1/downloads/"+token, "Range", "bytes=2-5")
			if rec.Code != http.StatusFound || rec.Body.Len() != 0 {
				t.Fatalf("%d with %q, want an empty 302", rec.Code, rec.Body)
			}
			wantHeaders(t, rec, map[string]string{
				"Location":            "https://s3.example/bucket/renders/rnd_1/output.mp4?X-Amz-Signature=abc",
				"Cache-Control":       "no-store",
				"Content-Disposition": "",
			})
			if store.key != "renders/rnd_1/output.mp4" || store.filename != "rnd_1.mp4" || store.contentType != "video/mp4" || !store.expires.Equal(want) {
				t.Errorf("asked the store for %q as %q until %v, want until %v", store.key, store.filename, store.expires, want)
			}
		})
	}
}

// A presigned URL is good for GET alone: a HEAD is answered by renderd,
// from the store's Stat, without a redirect and without reading a byte.
func TestDownload_HEAD_from_a_store_with_urls_of_its_own_is_answered_here(t *testing.T) {
	store := &presigning{}
	reads := &countingReads{DownloadBlobs: store}
	f := newDownloadsOver(t, func(b DownloadBlobs) DownloadBlobs { store.DownloadBlobs = b; return reads })
	rec := f.do(t, http.MethodHead, "/v1/downloads/long")
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("got %d with a %d-byte body, want 200 and none", rec.Code, rec.Body.Len())
	}
	wantHeaders(t, rec, map[string]string{
		"Location":            "",
		"Content-Type":        "video/mp4",
		"Content-Length":      "16",
		"Content-Disposition": `attachment; filename="rnd_1.mp4"`,
	})
	if store.key != "" || len(reads.offsets) != 0 {
		t.Errorf("a HEAD asked for a URL of %q and read at %v", store.key, reads.offsets)
	}
}

func TestDownload_from_a_store_with_urls_of_its_own_is_404_for_a_missing_blob_and_500_when_the_store_fails(t *testing.T) {
	store := &presigning{}
	f := newDownloadsOver(t, func(b DownloadBlobs) DownloadBlobs { store.DownloadBlobs = b; return store })
	wantAPIError(t, f.do(t, http.MethodGet, "/v1/downloads/missing"), http.StatusNotFound, "not_found")
	if store.key != "" {
		t.Errorf("a URL of a missing blob was asked for: %q", store.key)
	}
	store.err = errors.New("presign: no credentials")
	rec := f.do(t, http.MethodGet, "/v1/downloads/good")
	wantAPIError(t, rec, http.StatusInternalServerError, "internal")
	if rec.Header().Get("Location") != "" {
		t.Error("a failed presign still redirects")
	}
}

// A store read is opened lazily at the offset ServeContent seeks to: a
// HEAD, a 304 and a 416 read nothing, a range reads from its start.
func TestDownload_reads_the_store_only_for_the_bytes_it_sends(t *testing.T) {
	reads := &countingReads{}
	f := newDownloadsOver(t, func(b DownloadBlobs) DownloadBlobs { reads.DownloadBlobs = b; return reads })
	f.do(t, http.MethodHead, "/v1/downloads/good")
	f.do(t, http.MethodGet, "/v1/downloads/good", "If-Modified-Since", f.mod.Format(http.TimeFormat))
	f.do(t, http.MethodGet, "/v1/downloads/good", "Range", "bytes=100-")
	if len(reads.offsets) != 0 {
		t.Fatalf("reads at %v, want none", reads.offsets)
	}
	rec := f.do(t, http.MethodGet, "/v1/downloads/good", "Range", "bytes=4-")
	if rec.Body.String() != dlContent[4:] || fmt.Sprint(reads.offsets) != "[4]" {
		t.Fatalf("body %q after reads at %v", rec.Body, reads.offsets)
	}
}

type countingReads struct {
	DownloadBlobs
	offsets []int64
}

func (c *countingReads) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	c.offsets = append(c.offsets, offset)
	return c.DownloadBlobs.Read(ctx, key, offset, length)
}
