package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Resumable uploads speak the tus protocol 1.0 (https://tus.io/protocols/
// resumable-upload) at /v1/uploads, with its creation, termination and
// expiration extensions (openapi.json, "Start a resumable upload"): an
// upload is created for an asset's part with its length, its bytes are sent
// in PATCHes from an offset, and after a dropped connection a HEAD tells
// the offset to go on from. The server records and probes the part when
// its last byte arrives, as after a PUT.

var (
	opCreateUpload    = write("createUpload", http.MethodPost, "/v1/uploads")
	opDescribeUploads = operation{ID: "describeUploads", Method: http.MethodOptions, Path: "/v1/uploads", Idempotent: true}
	opGetUploadOffset = operation{ID: "getUploadOffset", Method: http.MethodHead, Path: "/v1/uploads/{id}", Idempotent: true}
	opResumeUpload    = write("resumeUpload", http.MethodPatch, "/v1/uploads/{id}")
	opTerminateUpload = write("terminateUpload", http.MethodDelete, "/v1/uploads/{id}")
)

// tusVersion is the protocol version every tus request names.
const tusVersion = "1.0.0"

// Upload is a resumable upload as the server knows it.
type Upload struct {
	// ID names the upload in /v1/uploads/{id}.
	ID string
	// Offset is how many bytes the server holds; the next PATCH starts
	// there.
	Offset int64
	// Length is the upload's size in bytes.
	Length int64
	// Expires is when the server removes the upload if it is not finished
	// (RENDERD_UPLOAD_TTL after its creation); zero when not told.
	Expires time.Time
}

// CreateUploadRequest starts a resumable upload of one part of an asset.
type CreateUploadRequest struct {
	AssetID string
	Part    Part
	// Size is the part's length in bytes (the protocol's Upload-Length):
	// required, the server reserves the account's storage for it.
	Size int64
}

// UploadCapabilities is what the server's tus endpoint offers.
type UploadCapabilities struct {
	Versions   []string // Tus-Version
	Extensions []string // Tus-Extension
	MaxSize    int64    // Tus-Max-Size, 0 when not told
}

func tusHeader() http.Header { return http.Header{"Tus-Resumable": {tusVersion}} }

// CreateUpload calls POST /v1/uploads (tus creation). It is refused, as a
// PUT of the part would be, with 404 for an asset not the caller's, 409 for
// a part that cannot take an upload now and 413 over the size limit or the
// account's storage quota.
func (c *Client) CreateUpload(ctx context.Context, req CreateUploadRequest) (*Upload, error) {
	if req.Size < 0 {
		return nil, fmt.Errorf("renderd client: %s: the size is required (%d)", opCreateUpload.ID, req.Size)
	}
	h := tusHeader()
	h.Set("Upload-Length", strconv.FormatInt(req.Size, 10))
	b64 := base64.StdEncoding.EncodeToString
	h.Set("Upload-Metadata", "asset_id "+b64([]byte(req.AssetID))+",part "+b64([]byte(req.Part)))
	res, err := c.do(ctx, call{op: opCreateUpload, header: h})
	if err != nil {
		return nil, err
	}
	loc := res.header.Get("Location")
	i := strings.LastIndexByte(loc, '/')
	if i < 0 || i == len(loc)-1 {
		return nil, fmt.Errorf("renderd client: %s: no upload URL in Location %q", opCreateUpload.ID, loc)
	}
	up := &Upload{ID: loc[i+1:], Length: req.Size}
	up.Expires, _ = http.ParseTime(res.header.Get("Upload-Expires"))
	return up, nil
}

// GetUploadOffset calls HEAD /v1/uploads/{id}: where to resume the upload
// from. An upload another account made, finished or expired is 404.
func (c *Client) GetUploadOffset(ctx context.Context, id string) (*Upload, error) {
	res, err := c.do(ctx, call{op: opGetUploadOffset, params: []string{id}, header: tusHeader()})
	if err != nil {
		return nil, err
	}
	up := &Upload{ID: id}
	if up.Offset, err = headerInt(res.header, "Upload-Offset"); err != nil {
		return nil, fmt.Errorf("renderd client: %s: %w", opGetUploadOffset.ID, err)
	}
	if up.Length, err = headerInt(res.header, "Upload-Length"); err != nil {
		return nil, fmt.Errorf("renderd client: %s: %w", opGetUploadOffset.ID, err)
	}
	up.Expires, _ = http.ParseTime(res.header.Get("Upload-Expires"))
	return up, nil
}

// ResumeUpload calls PATCH /v1/uploads/{id}: n bytes of body from offset,
// which must be the server's (GetUploadOffset; else 409). It returns the
// server's offset after them. The PATCH that brings the last byte also
// records the part, and the asset is probed next (WaitAsset). A PATCH is
// never retried: after a failure, ask GetUploadOffset where to go on from.
func (c *Client) ResumeUpload(ctx context.Context, id string, offset int64, body io.Reader, n int64) (int64, error) {
	op := opResumeUpload
	hr, err := http.NewRequestWithContext(ctx, op.Method, c.url(op.path(id), nil), io.NopCloser(body))
	if err != nil {
		return 0, fmt.Errorf("renderd client: %s: %w", op.ID, err)
	}
	hr.ContentLength = n
	if n == 0 {
		hr.Body = http.NoBody
	}
	hr.Header = tusHeader()
	hr.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	hr.Header.Set("Content-Type", "application/offset+octet-stream")
	res, err := c.send(hr, op)
	if err != nil {
		return 0, err
	}
	next, err := headerInt(res.header, "Upload-Offset")
	if err != nil {
		return 0, fmt.Errorf("renderd client: %s: %w", op.ID, err)
	}
	return next, nil
}

// TerminateUpload calls DELETE /v1/uploads/{id} (tus termination): the
// upload's bytes are removed and its part is free for another upload.
func (c *Client) TerminateUpload(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: opTerminateUpload, params: []string{id}, header: tusHeader()})
	return err
}

// DescribeUploads calls OPTIONS /v1/uploads: the protocol versions,
// extensions and largest upload the server takes.
func (c *Client) DescribeUploads(ctx context.Context) (*UploadCapabilities, error) {
	res, err := c.do(ctx, call{op: opDescribeUploads})
	if err != nil {
		return nil, err
	}
	list := func(name string) []string {
		var out []string
		for _, v := range strings.Split(res.header.Get(name), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	caps := &UploadCapabilities{Versions: list("Tus-Version"), Extensions: list("Tus-Extension")}
	if res.header.Get("Tus-Max-Size") != "" {
		if caps.MaxSize, err = headerInt(res.header, "Tus-Max-Size"); err != nil {
			return nil, fmt.Errorf("renderd client: %s: %w", opDescribeUploads.ID, err)
		}
	}
	return caps, nil
}

// headerInt reads a header holding a count of bytes.
func headerInt(h http.Header, name string) (int64, error) {
	n, err := strconv.ParseInt(h.Get(name), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a count of bytes", name, h.Get(name))
	}
	return n, nil
}

// Resumable is an Uploader (WithUploader) that sends a part as a resumable
// upload: the bytes go in PATCHes of at most ChunkSize, and when one fails
// (a dropped connection, a 5xx, a 429, an offset the server disagrees
// with) the uploader asks the server for its offset and sends again only
// what the server does not hold. Memory stays at one chunk whatever the
// part's size: the chunk being sent is kept until the server has it all,
// so any io.Reader will do. A failure it gives up on terminates the upload,
// so the part is free again for another upload.
//
// UploadRequest.Size is required (the protocol's Upload-Length).
type Resumable struct {
	// ChunkSize bounds each PATCH's body, and the bytes held to send again.
	// Zero means 16 MiB.
	ChunkSize int64
	// Attempts bounds the failed tries in a row, without a byte of
	// progress, before the upload gives up. Zero means 5. The waits
	// between them follow the client's RetryPolicy (Retry-After first).
	Attempts int
	// OnCreate, if set, is told the upload's id once the server made it.
	OnCreate func(id string)
}

// Upload implements Uploader.
func (u Resumable) Upload(ctx context.Context, c *Client, req UploadRequest) (*Asset, error) {
	if req.Size < 0 {
		return nil, errors.New("renderd client: resumable upload: the size is required (UploadRequest.Size)")
	}
	up, err := c.CreateUpload(ctx, CreateUploadRequest{AssetID: req.AssetID, Part: req.Part, Size: req.Size})
	if err != nil {
		return nil, err
	}
	if u.OnCreate != nil {
		u.OnCreate(up.ID)
	}
	if err := u.send(ctx, c, up, req); err != nil {
		// The part stays held for the upload's lifetime otherwise: free
		// it, even when ctx is what ended the upload.
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if terr := c.TerminateUpload(stop, up.ID); terr != nil && !IsNotFound(terr) {
			return nil, fmt.Errorf("%w (and terminating upload %s: %v)", err, up.ID, terr)
		}
		return nil, err
	}
	return c.GetAsset(ctx, req.AssetID)
}

// send sends req's body as upload up, chunk by chunk. An upload of no
// bytes is complete once created.
func (u Resumable) send(ctx context.Context, c *Client, up *Upload, req UploadRequest) error {
	size := u.ChunkSize
	if size <= 0 {
		size = 16 << 20
	}
	attempts := u.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	buf := make([]byte, min(size, max(req.Size, 1)))
	var offset int64 // the server's
	for offset < req.Size {
		// The next chunk, [start, end).
		start := offset
		n, err := io.ReadFull(req.Body, buf[:min(int64(len(buf)), req.Size-start)])
		if err != nil {
			return fmt.Errorf("renderd client: resumable upload: read the body at byte %d of %d: %w", start, req.Size, err)
		}
		chunk, end := buf[:n], start+int64(n)
		for failures := 0; offset < end; {
			body := &progressReader{r: bytes.NewReader(chunk[offset-start:]), report: req.Progress, total: req.Size}
			body.sent.Store(offset)
			next, err := c.ResumeUpload(ctx, up.ID, offset, body, end-offset)
			if err == nil && next > offset && next <= end {
				offset, failures = next, 0
				continue
			}
			if err == nil {
				err = fmt.Errorf("renderd client: resumable upload: the server answered offset %d to a PATCH of bytes %d to %d", next, offset, end)
			}
			if ctx.Err() != nil || !resumable(err) {
				return err
			}
			if failures++; failures >= attempts {
				return fmt.Errorf("renderd client: resumable upload: %d tries in a row without progress at byte %d: %w", failures, offset, err)
			}
			var retryAfter time.Duration
			if api := (*APIError)(nil); errors.As(err, &api) {
				retryAfter = api.RetryAfter
			}
			if err := c.sleep(ctx, c.retry.backoff(failures, retryAfter)); err != nil {
				return err
			}
			at, herr := c.GetUploadOffset(ctx, up.ID)
			switch {
			case herr != nil && end == req.Size && IsNotFound(herr) && !answered(err):
				// The last PATCH arrived whole but its answer was lost:
				// the server recorded the part, and the upload is gone.
				// (A last PATCH answered 503 leaves the upload complete,
				// for the server to record once it can.)
				return nil
			case herr != nil && (ctx.Err() != nil || !resumable(herr)):
				return fmt.Errorf("renderd client: resumable upload: asking for the offset after %v: %w", err, herr)
			case herr != nil:
				continue // the PATCH again from where it was
			case at.Offset < start || at.Offset > end:
				return fmt.Errorf("renderd client: resumable upload: the server holds %d bytes, outside the chunk kept to send again (bytes %d to %d)", at.Offset, start, end)
			case at.Offset > offset:
				failures = 0 // the failed PATCH stored some bytes: progress
			}
			offset = at.Offset
		}
	}
	return nil
}

// answered reports whether err is the API's answer, not a lost one.
func answered(err error) bool {
	var api *APIError
	return errors.As(err, &api)
}

// resumable reports whether an upload may go on after err: a transport
// error (a dropped connection), a 5xx, a 429, or tus's offset mismatch (a
// 409 without renderd's error body); not a refusal for good (the part, the
// size, an upload expired or another's, renderd's 409 at the last byte).
func resumable(err error) bool {
	var api *APIError
	if !errors.As(err, &api) {
		return true
	}
	return api.Temporary() || api.StatusCode >= 500 || api.StatusCode == http.StatusConflict && api.Code == ""
}
