package httpapi

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/domain"
)

var (
	errDownloadForbidden = &apiError{status: http.StatusForbidden, code: "forbidden",
		message: "this download link is not valid"}
	errDownloadExpired = &apiError{status: http.StatusGone, code: "download_expired",
		message: "this download link has expired: fetch the render again for a fresh download_url"}
	errDownloadGone = &apiError{status: http.StatusNotFound, code: "not_found",
		message: "the file behind this download link no longer exists"}
)

// maxDownloadToken bounds the token read from the path before it reaches the
// verifier; real tokens are far shorter.
const maxDownloadToken = 4096

// DownloadTokens verifies download tokens; *blob.Signer implements it.
// Failures must match domain.ErrDownloadInvalid or domain.ErrDownloadExpired
// (errors.Is); any other error is answered 500.
type DownloadTokens interface {
	Verify(token string, now time.Time) (domain.DownloadGrant, error)
}

// BlobOpener opens a stored blob; a missing one is an error matching
// fs.ErrNotExist.
type BlobOpener interface {
	Open(key string) (*os.File, error)
}

// DownloadHandler serves GET and HEAD /v1/downloads/{token}: the token (from
// mux.Vars) is the credential, so the route takes no API key. It answers the
// blob with Range and conditional request support, or 403 forbidden (bad
// token), 410 download_expired, 404 not_found (blob gone). now defaults to
// time.Now; tokens, blobs and log are required (it panics without them, at
// wiring time).
func DownloadHandler(tokens DownloadTokens, blobs BlobOpener, log *slog.Logger, now func() time.Time) http.Handler {
	if tokens == nil || blobs == nil || log == nil {
		panic("httpapi: DownloadHandler needs tokens, blobs and a logger")
	}
	if now == nil {
		now = time.Now
	}
	d := &downloads{tokens: tokens, blobs: blobs, log: log, now: now}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.serve(w, r); err != nil {
			writeError(w, r, log, err)
		}
	})
}

type downloads struct {
	tokens DownloadTokens
	blobs  BlobOpener
	log    *slog.Logger
	now    func() time.Time
}

func (d *downloads) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return errMethod
	}
	token := mux.Vars(r)["token"]
	if token == "" || len(token) > maxDownloadToken {
		return errDownloadForbidden
	}
	now := d.now()
	grant, err := d.tokens.Verify(token, now)
	switch {
	case errors.Is(err, domain.ErrDownloadExpired):
		d.log.DebugContext(r.Context(), "download token expired", "correlation_id", requestID(r.Context()))
		return errDownloadExpired
	case errors.Is(err, domain.ErrDownloadInvalid):
		// The token itself is never logged: it is a credential.
		d.log.DebugContext(r.Context(), "download token rejected", "error", err, "correlation_id", requestID(r.Context()))
		return errDownloadForbidden
	case err != nil:
		return err
	}

	f, err := d.blobs.Open(grant.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return errDownloadGone
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return errDownloadGone
	}

	name := downloadFilename(grant.Filename)
	h := w.Header()
	h.Set("Content-Type", downloadContentType(name))
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(maxAge(grant.Expires, now), 10))
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers Range (206, and 416 as text/plain), HEAD,
	// If-Modified-Since, If-Range and friends.
	http.ServeContent(w, r, name, info.ModTime(), f)
	return nil
}

// maxAge is the whole seconds left until expires, never negative.
func maxAge(expires, now time.Time) int64 {
	return max(int64(expires.Sub(now)/time.Second), 0)
}

// downloadFilename keeps only [A-Za-z0-9._-] of the granted name (it goes
// into a quoted header value), whatever the verifier let through.
func downloadFilename(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	out := strings.TrimLeft(string(b), ".")
	if out == "" {
		return "download"
	}
	return out
}

func downloadContentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".mp4":
		return "video/mp4"
	case ".mov":
		return "video/quicktime"
	case ".m4a":
		return "audio/mp4"
	case ".mp3":
		return "audio/mpeg"
	}
	return "application/octet-stream"
}
