package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one renderd API with one API key. It is safe for concurrent
// use.
type Client struct {
	base      *url.URL
	key       string
	http      *http.Client
	retry     RetryPolicy
	poll      PollPolicy
	uploader  Uploader
	userAgent string
	sleep     func(ctx context.Context, d time.Duration) error // tests make it instant
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (timeouts, transport, proxies). The
// default is a client without an overall timeout: uploads and downloads
// may take long; bound each call with its context instead.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetry sets the retry policy of requests safe to repeat.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithPoll sets how WaitRender and WaitAsset poll.
func WithPoll(p PollPolicy) Option { return func(c *Client) { c.poll = p } }

// WithUserAgent sets the User-Agent of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// RetryPolicy bounds the retries of 429 and 503 answers. Only requests safe
// to repeat are retried: GETs; POST /v1/renders, which the API makes
// idempotent by its content signature (docs/renders.md: a live render with
// the same signature answers 200 with that render); and the two deletes
// whose repeat the API answers as the first (DELETE /v1/assets/{id} and
// /v1/renders/{id}). Every other write is answered at once with its
// *APIError, whose RetryAfter says when to try again: a 503 may follow a
// write that committed (ports/httpapi/openapi.json), and a streamed
// upload's body cannot be sent twice.
type RetryPolicy struct {
	// MaxAttempts counts the first try: 1 never retries. Zero means 4.
	MaxAttempts int
	// MinBackoff is the first wait when the answer names none (no
	// Retry-After); it doubles per attempt, with jitter, up to MaxBackoff.
	// Zero means 500 ms.
	MinBackoff time.Duration
	// MaxBackoff caps the computed backoff (zero: 30 s). A Retry-After is
	// honoured as a floor even above it: the server refuses earlier tries.
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = 500 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	return p
}

// backoff is the wait before attempt n+1 (n ≥ 1) after an answer with
// retryAfter (0: none): the server's word when it gives one, else an
// exponential backoff with full jitter on its upper half.
func (p RetryPolicy) backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := p.MinBackoff << min(n-1, 20)
	if d <= 0 || d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// New returns a client of the API at baseURL (e.g. http://127.0.0.1:8080)
// that authenticates with apiKey (which may be empty for the open routes
// and downloads).
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("renderd client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("renderd client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	c := &Client{base: u, key: apiKey, http: &http.Client{}, userAgent: "renderd-go-client/1", sleep: sleepCtx}
	for _, o := range opts {
		o(c)
	}
	c.retry = c.retry.withDefaults()
	c.poll = c.poll.withDefaults()
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// call is one API request: the operation, its path's parameters in order,
// its query, and a JSON body (nil: none).
type call struct {
	op     operation
	params []string
	query  url.Values
	body   any
	header http.Header // extra request headers (the tus protocol's)
}

// result is an answer that was not an error.
type result struct {
	status int
	header http.Header
	body   []byte
}

// do sends c, retrying when c's operation is safe to repeat, and returns a
// 2xx answer or the *APIError (or transport error) of the last try.
func (c *Client) do(ctx context.Context, k call) (*result, error) {
	var body []byte
	if k.body != nil {
		var err error
		if body, err = json.Marshal(k.body); err != nil {
			return nil, fmt.Errorf("renderd client: %s: encode body: %w", k.op.ID, err)
		}
	}
	u := c.url(k.op.path(k.params...), k.query)
	for attempt := 1; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, k.op.Method, u, rd)
		if err != nil {
			return nil, fmt.Errorf("renderd client: %s: %w", k.op.ID, err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for name, v := range k.header {
			req.Header[name] = v
		}
		res, err := c.send(req, k.op)
		if err == nil {
			return res, nil
		}
		var api *APIError
		if !errors.As(err, &api) || !api.Temporary() || !k.op.Idempotent || attempt >= c.retry.MaxAttempts {
			return nil, err
		}
		if err := c.sleep(ctx, c.retry.backoff(attempt, api.RetryAfter)); err != nil {
			return nil, fmt.Errorf("renderd client: %s: waiting to retry after %w: %w", k.op.ID, api, err)
		}
	}
}

// url is the base URL with path (escaped already: op.path) and query q.
func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.RawPath = strings.TrimSuffix(u.EscapedPath(), "/") + path
	var err error
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		u.Path, u.RawPath = u.RawPath, "" // unreachable: op.path escapes every parameter
	}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// BaseURL is the API's base URL, as New was given it (without a trailing
// slash).
func (c *Client) BaseURL() string { return c.base.String() }

// Do sends req as the client's other requests go, with its API key and
// User-Agent, for what the typed methods do not cover (an Uploader's own
// protocol). It neither retries nor reads the answer: close its body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	req.Header.Set("User-Agent", c.userAgent)
	return c.http.Do(req)
}

// send sends one request and reads its whole answer: a 2xx as a result,
// anything else as an *APIError.
func (c *Client) send(req *http.Request, op operation) (*result, error) {
	res, err := c.roundTrip(req, op)
	if err != nil {
		return nil, err
	}
	if res.status/100 != 2 {
		return nil, decodeError(res.status, res.header, res.body, time.Now())
	}
	return res, nil
}

// roundTrip sends one request and reads its whole answer, whatever its
// status.
func (c *Client) roundTrip(req *http.Request, op operation) (*result, error) {
	if c.key != "" && !op.Open {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("renderd client: %s: %w", op.ID, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("renderd client: %s: read answer: %w", op.ID, err)
	}
	return &result{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// maxBody bounds a JSON answer read into memory; the largest the API sends
// (a page of 100 renders) is far below it.
const maxBody = 32 << 20

// decodeJSON decodes a 2xx answer's body into v.
func decodeJSON(op operation, res *result, v any) error {
	if err := json.Unmarshal(res.body, v); err != nil {
		return fmt.Errorf("renderd client: %s: decode %d answer: %w", op.ID, res.status, err)
	}
	return nil
}

// pending reports a write's answer that is a read-your-writes stub
// (openapi.json's description, "Read your writes").
func pending(h http.Header) bool {
	return strings.EqualFold(h.Get("Renderd-Read-Your-Writes"), "timeout")
}

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3), relative to now; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, maxRetryAfter)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter*time.Second)
		}
	}
	return 0
}

// maxRetryAfter caps a Retry-After, in seconds: a garbled header must not
// park a caller for days (its context bounds the wait too).
const maxRetryAfter = 3600
