package webhooks

import (
	"context"
	"net/http"
	"time"
)

// Sender sends one attempt; it never fails, every outcome is a Result.
// adapters/webhooks.Sender implements it.
type Sender interface {
	Send(ctx context.Context, m Message) Result
}

// Message is one delivery attempt to send.
type Message struct {
	URL string
	// ID is the webhook-id: the event id, the same on every retry, so that
	// receivers can deduplicate.
	ID string
	// Timestamp is the webhook-timestamp (sent in unix seconds): the time of
	// this attempt. Zero means the time Send starts.
	Timestamp time.Time
	// Body is the JSON payload, sent byte for byte as signed.
	Body []byte
	// Secrets sign the message: the current secret first, plus a rotated-out
	// one while it is still valid.
	Secrets []string
}

// Result is the outcome of one attempt, for the delivery log.
type Result struct {
	At time.Time
	// StatusCode is 0 when no response arrived.
	StatusCode int
	Latency    time.Duration
	// Error is "" when a response arrived (whatever its status), and a short
	// reason otherwise: timeout, refused destination, connection refused...
	// It never contains a secret.
	Error string
	// Body is an excerpt of the response body: at most
	// adapters/webhooks.MaxExcerpt bytes of valid UTF-8 without NUL (invalid
	// bytes become U+FFFD), when BodyKept.
	Body string
	// BodyKept is true when the response came from a public address outside
	// every allow prefix (adapters/webhooks.Guard.KeepBody): a body from an
	// address an allow prefix opens is not read back to the customer, who
	// could otherwise read the operator's internal services through the
	// delivery log.
	BodyKept bool
	// RetryAfter is the response's Retry-After (seconds or HTTP date), 0 when
	// absent or unparsable, capped at 24 h.
	RetryAfter time.Duration
}

// OK reports a successful delivery: a 2xx response.
func (r Result) OK() bool { return r.StatusCode >= 200 && r.StatusCode <= 299 }

// Gone reports a 410 response: the receiver asks for the endpoint to be
// disabled.
func (r Result) Gone() bool { return r.StatusCode == http.StatusGone }
