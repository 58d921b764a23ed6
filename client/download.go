package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Download copies a render's output from downloadURL (a Render's
// DownloadURL: GET /v1/downloads/{token}, the token its credential) to w
// and returns the bytes written. On an S3 store the API answers 302 to a
// presigned URL of the object store, which is followed (openapi.json,
// operation download). A 429 is retried like a GET's (before any byte is
// written); 410 download_expired comes back as an *APIError:
// DownloadRender then fetches a fresh URL.
func (c *Client) Download(ctx context.Context, downloadURL string, w io.Writer) (int64, error) {
	u, err := c.base.Parse(downloadURL) // a relative URL is the API's own
	if err != nil {
		return 0, fmt.Errorf("renderd client: download: URL: %w", err)
	}
	for attempt := 1; ; attempt++ {
		n, err := c.downloadOnce(ctx, u, w)
		var api *APIError
		if err == nil || !errors.As(err, &api) || !api.Temporary() || attempt >= c.retry.MaxAttempts {
			return n, err
		}
		if err := c.sleep(ctx, c.retry.backoff(attempt, api.RetryAfter)); err != nil {
			return 0, fmt.Errorf("renderd client: download: waiting to retry after %w: %w", api, err)
		}
	}
}

func (c *Client) downloadOnce(ctx context.Context, u *url.URL, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, fmt.Errorf("renderd client: download: %w", err)
	}
	// No Authorization: the token is the credential, and the redirect
	// leaves for the object store.
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("renderd client: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, decodeError(resp.StatusCode, resp.Header, raw, time.Now())
	}
	// A body cut short of its Content-Length is an error of the copy
	// (io.ErrUnexpectedEOF from net/http).
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("renderd client: download: after %d bytes: %w", n, err)
	}
	return n, nil
}

// ErrNotDownloadable: DownloadRender was asked for a render that is not
// completed, or whose output passed its retention and was removed.
var ErrNotDownloadable = errors.New("renderd client: the render has no output to download")

// DownloadRender fetches the render for a fresh download URL and copies its
// output to w. A URL that expired in between (410 download_expired) is
// fetched again once.
func (c *Client) DownloadRender(ctx context.Context, renderID string, w io.Writer) (int64, error) {
	for try := 0; ; try++ {
		r, err := c.GetRender(ctx, renderID)
		if err != nil {
			return 0, err
		}
		if r.State != RenderCompleted || r.OutputExpired || r.DownloadURL == "" {
			return 0, fmt.Errorf("%w: render %s is %s (output expired: %t)", ErrNotDownloadable, renderID, r.State, r.OutputExpired)
		}
		n, err := c.Download(ctx, r.DownloadURL, w)
		if try == 0 && n == 0 && ErrorCode(err) == "download_expired" {
			continue
		}
		return n, err
	}
}
