package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// APIError is an answer outside 2xx: the API's error body
// {"error": {"code", "message", "field"?}} (openapi.json's description,
// "Errors"; schema Error) with its status and headers. Match on Code,
// which is stable; Message is for humans and may change.
type APIError struct {
	StatusCode int
	// Code is error.code, e.g. "asset_not_ready"; empty when the body was
	// not the API's error shape (a proxy's page, a 416's text), which
	// Message then quotes.
	Code    string
	Message string
	// Field names the offending request field or parameter, when the API
	// named one (e.g. "output.format", "limit").
	Field string
	// RequestID is the answer's X-Request-Id: quote it when reporting.
	RequestID string
	// RetryAfter is the answer's Retry-After (429 and 503), zero if none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "renderd: %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Field != "" {
		b.WriteString(" (field " + e.Field + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later: 429 (a rate
// limit or the queue bound) and 503 (a dependency is unreachable).
func (e *APIError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable
}

// ErrorCode returns err's API error code ("" when err is no *APIError).
func ErrorCode(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports whether err is the API's 404 not_found.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// decodeError builds the *APIError of a non-2xx answer. It never fails: a
// body that is not the API's error shape is kept, shortened, as Message.
func decodeError(status int, h http.Header, raw []byte, now time.Time) *APIError {
	e := &APIError{StatusCode: status, RequestID: h.Get("X-Request-Id"), RetryAfter: parseRetryAfter(h.Get("Retry-After"), now)}
	var body ErrorBody
	if err := json.Unmarshal(raw, &body); err == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
		return e
	}
	e.Message = quoteBody(raw)
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// quoteBody is the start of a body that is not JSON, as valid UTF-8.
func quoteBody(raw []byte) string {
	const limit = 200
	raw = bytes.TrimSpace(raw)
	if len(raw) > limit {
		raw = raw[:limit]
	}
	return strings.ToValidUTF8(string(raw), string(utf8.RuneError))
}
