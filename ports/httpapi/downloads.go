package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/adapters/blob"
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

// DownloadBlobs is the blob store as downloads use it; every blob.Store
// implements it. A missing blob is an error matching fs.ErrNotExist.
type DownloadBlobs interface {
	Stat(ctx context.Context, key string) (blob.Info, error)
	Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// DownloadURL is a URL of the store's own serving the blob as an
	// attachment named filename until about expires; ok is false when the
	// store has none (a local folder).
	DownloadURL(ctx context.Context, key string, as blob.Attachment, expires time.Time) (url string, ok bool, err error)
}

// maxRedirectLife bounds how long the store's URL a download redirects to
// stays valid, however long the token has left: it is handed out anew on
// every request, so a client needs it only for the transfer it starts now.
const maxRedirectLife = 15 * time.Minute

// DownloadHandler serves GET and HEAD /v1/downloads/{token}: the token (from
// mux.Vars) is the credential, so the route takes no API key. When the
// store hands out URLs of its own (S3 presigned URLs), a GET is answered
// 302 Found to one, valid until the token expires or for maxRedirectLife,
// whichever comes first, and the store serves the bytes; otherwise, and for
// a HEAD, it serves the blob itself, with Range and conditional request
// support. Its errors: 403
// forbidden (bad token), 410 download_expired, 404 not_found (blob gone).
// now defaults to time.Now; tokens, blobs and log are required (it panics
// without them, at wiring time).
func DownloadHandler(tokens DownloadTokens, blobs DownloadBlobs, log *slog.Logger, now func() time.Time) http.Handler {
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
	blobs  DownloadBlobs
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

	// A blob that is gone is this API's 404, also before a redirect: the
	// store's own answer to a missing object is no error of this API's.
	info, err := d.blobs.Stat(r.Context(), grant.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return errDownloadGone
	}
	if err != nil {
		return err
	}
	name := downloadFilename(grant.Filename)
	h := w.Header()
	// A GET goes to the store's own URL when it has one. A HEAD is
	// answered here, from Stat: a presigned URL is good for the method it
	// was signed for alone, and a HEAD needs no bytes.
	if r.Method == http.MethodGet {
		until := grant.Expires
		if limit := now.Add(maxRedirectLife); limit.Before(until) {
			until = limit
		}
		url, ok, err := d.blobs.DownloadURL(r.Context(), grant.Key, blob.Attachment{Filename: name, ContentType: downloadContentType(name)}, until)
		if err != nil {
			return err
		}
		if ok {
			// The Location is a credential of its own: no cache keeps it.
			h.Set("Location", url)
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusFound)
			return nil
		}
	}

	h.Set("Content-Type", downloadContentType(name))
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(maxAge(grant.Expires, now), 10))
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers Range (206, and 416 as text/plain), HEAD,
	// If-Modified-Since, If-Range and friends.
	content := &blobContent{ctx: r.Context(), blobs: d.blobs, key: grant.Key, size: info.Size}
	defer content.Close()
	http.ServeContent(w, r, name, info.ModTime, content)
	return nil
}

// blobContent is a blob as the io.ReadSeeker http.ServeContent takes: a seek
// only moves the offset (the size is known), and the store is read from
// there on the first Read after it, so a HEAD, a 304 or a 416 reads nothing
// and a range reads from its start.
type blobContent struct {
	ctx   context.Context
	blobs DownloadBlobs
	key   string
	size  int64
	off   int64
	body  io.ReadCloser // open at off; nil until read
}

func (c *blobContent) Read(p []byte) (int, error) {
	if c.off >= c.size {
		return 0, io.EOF
	}
	if c.body == nil {
		body, err := c.blobs.Read(c.ctx, c.key, c.off, -1)
		if err != nil {
			return 0, err
		}
		c.body = body
	}
	n, err := c.body.Read(p)
	c.off += int64(n)
	return n, err
}

func (c *blobContent) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.off
	case io.SeekEnd:
		offset += c.size
	default:
		return 0, fmt.Errorf("seek: whence %d", whence)
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	if offset != c.off {
		_ = c.Close()
		c.off = offset
	}
	return c.off, nil
}

// Close closes the open read, if any.
func (c *blobContent) Close() error {
	if c.body == nil {
		return nil
	}
	err := c.body.Close()
	c.body = nil
	return err
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
