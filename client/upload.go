package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// ProgressFunc is told, as an upload's body is read, how many bytes were
// sent so far and the total (-1 when unknown). It runs on the sending
// goroutine: return quickly.
type ProgressFunc func(sent, total int64)

// UploadRequest is one part's bytes for an asset.
type UploadRequest struct {
	AssetID string
	Part    Part
	Body    io.Reader
	// Size is Body's length in bytes, sent as Content-Length; -1 when
	// unknown (the body is then sent chunked, and the server stops it once
	// it passes the account's storage quota).
	Size     int64
	Progress ProgressFunc // may be nil
}

// Uploader sends a part's bytes and returns the asset as the API answers
// the upload. The default sends one plain PUT /v1/assets/{id}/{part}.
//
// Resumable is the other one (resumable uploads, the tus protocol at
// /v1/uploads); WithUploader plugs either in, leaving Upload, UploadSource,
// UploadAudio and their callers unchanged. An Uploader is handed the
// Client: BaseURL and Do to send requests of its own with the client's key,
// GetAsset to answer with the asset once done.
type Uploader interface {
	Upload(ctx context.Context, c *Client, req UploadRequest) (*Asset, error)
}

// WithUploader replaces the plain PUT uploader (see Uploader).
func WithUploader(u Uploader) Option { return func(c *Client) { c.uploader = u } }

// Upload sends one part of an asset through the client's Uploader; by
// default one PUT, answered 202 once the bytes are stored: the asset is
// then probed, and WaitAsset waits for it. An upload is never retried by
// the client (a body read once cannot be sent again): a 429 or 503 comes
// back as an *APIError with RetryAfter, and 408 upload_too_slow stored
// nothing, so the whole upload may be sent again.
func (c *Client) Upload(ctx context.Context, req UploadRequest) (*Asset, error) {
	if req.Part != PartSource && req.Part != PartAudio {
		return nil, fmt.Errorf("renderd client: upload: part %q: want %q or %q", req.Part, PartSource, PartAudio)
	}
	if req.Body == nil {
		return nil, fmt.Errorf("renderd client: upload: no body")
	}
	if c.uploader != nil {
		return c.uploader.Upload(ctx, c, req)
	}
	return c.putPart(ctx, req)
}

// UploadSource uploads an asset's source media (PUT /v1/assets/{id}/source).
func (c *Client) UploadSource(ctx context.Context, assetID string, body io.Reader, size int64, progress ProgressFunc) (*Asset, error) {
	return c.Upload(ctx, UploadRequest{AssetID: assetID, Part: PartSource, Body: body, Size: size, Progress: progress})
}

// UploadAudio uploads an asset's client-extracted audio (PUT
// /v1/assets/{id}/audio).
func (c *Client) UploadAudio(ctx context.Context, assetID string, body io.Reader, size int64, progress ProgressFunc) (*Asset, error) {
	return c.Upload(ctx, UploadRequest{AssetID: assetID, Part: PartAudio, Body: body, Size: size, Progress: progress})
}

// putPart is the plain uploader: one PUT of the whole part.
func (c *Client) putPart(ctx context.Context, req UploadRequest) (*Asset, error) {
	op := opUploadSource
	if req.Part == PartAudio {
		op = opUploadAudio
	}
	body := &progressReader{r: req.Body, total: req.Size, report: req.Progress}
	if req.Size < 0 {
		body.total = -1
	}
	// io.NopCloser hides Body's own type, so net/http neither guesses a
	// length nor closes the caller's reader.
	hr, err := http.NewRequestWithContext(ctx, op.Method, c.url(op.path(req.AssetID), nil), io.NopCloser(body))
	if err != nil {
		return nil, fmt.Errorf("renderd client: %s: %w", op.ID, err)
	}
	hr.ContentLength = body.total
	if body.total == 0 {
		hr.Body = http.NoBody
	}
	hr.Header.Set("Content-Type", "application/octet-stream")
	res, err := c.send(hr, op)
	if err != nil {
		return nil, err
	}
	return decodeAsset(op, res)
}

// progressReader counts the bytes read from r and reports them.
type progressReader struct {
	r      io.Reader
	total  int64
	sent   atomic.Int64
	report ProgressFunc
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		sent := p.sent.Add(int64(n))
		if p.report != nil {
			p.report(sent, p.total)
		}
	}
	return n, err
}
