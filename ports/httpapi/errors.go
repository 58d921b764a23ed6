package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// apiError is an error the port itself decides (malformed request, auth…).
type apiError struct {
	status  int
	code    string
	message string
	field   string
	// challenge is a 401's WWW-Authenticate value.
	challenge string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func badRequest(field, message string) error {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", message: message, field: field}
}

var (
	// errUnauthorized: no bearer key was presented; errInvalidKey: one was,
	// and it is malformed, unknown, revoked or expired. Both challenge the
	// client to the Bearer scheme (RFC 6750 §3), the latter with
	// error="invalid_token".
	errUnauthorized = &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "a valid API key is required: Authorization: Bearer <key>",
		challenge: `Bearer realm="renderd"`}
	errInvalidKey = &apiError{status: http.StatusUnauthorized, code: "unauthorized",
		message:   "the API key is not valid (unknown, revoked or expired): Authorization: Bearer <key>",
		challenge: `Bearer realm="renderd", error="invalid_token"`}
	errNotFound = &apiError{status: http.StatusNotFound, code: "not_found", message: "no such resource"}
	errMethod   = &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: "this method is not allowed here"}
	errTooLarge = &apiError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large", message: "the request body is too large"}
	// errRequestTimeout: a JSON body did not arrive within the timeout
	// (Timeouts.JSON).
	errRequestTimeout = &apiError{status: http.StatusRequestTimeout, code: "request_timeout",
		message: "the request body did not arrive in time"}
	// errUploadTooSlow: an upload fell below the minimum transfer rate
	// (Timeouts.MinRate over Timeouts.Window); nothing of it is stored.
	errUploadTooSlow = &apiError{status: http.StatusRequestTimeout, code: "upload_too_slow",
		message: "the upload was slower than the minimum transfer rate and was cut off; nothing was stored, retry it"}
)

// errorBody is the one error shape of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError maps any error to its HTTP response. It is the only place
// that does: handlers return errors and never pick a status themselves.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var (
		api      *apiError
		invalid  *domain.ValidationError
		conflict *domain.ConflictError
		limit    *domain.LimitError
		quota    *domain.QuotaError
		tooLarge *http.MaxBytesError
	)
	status, body := http.StatusInternalServerError, errorDetail{Code: "internal", Message: "something went wrong on our side; it has been logged"}
	switch {
	case errors.As(err, &api):
		status, body = api.status, errorDetail{Code: api.code, Message: api.message, Field: api.field}
		if api.challenge != "" {
			w.Header().Set("WWW-Authenticate", api.challenge)
		}
	case errors.Is(err, projections.ErrBadCursor):
		// A page cursor this list did not hand out is the request's fault,
		// on the field cursor: with the list's own reason when it gives
		// one (a ValidationError), not as a 422.
		status, body = http.StatusBadRequest, errorDetail{Code: "invalid_request", Field: "cursor",
			Message: "this cursor was not handed out by this list; start again without it"}
		if errors.As(err, &invalid) && invalid.Message != "" {
			body.Message = "the cursor " + invalid.Message
		}
	case errors.As(err, &tooLarge), errors.Is(err, errBodyTooLarge):
		status, body = http.StatusRequestEntityTooLarge, errorDetail{Code: errTooLarge.code, Message: errTooLarge.message}
	case errors.As(err, &invalid):
		status, body = http.StatusUnprocessableEntity, errorDetail{Code: "validation_error", Message: invalid.Message, Field: invalid.Field}
	case errors.As(err, &conflict):
		status, body = http.StatusConflict, errorDetail{Code: conflict.Code, Message: conflict.Message}
	case errors.As(err, &quota):
		status, body = http.StatusRequestEntityTooLarge, errorDetail{Code: quota.Code, Message: quota.Message}
	case errors.As(err, &limit):
		status, body = http.StatusTooManyRequests, errorDetail{Code: limit.Code, Message: limit.Message}
		setLimitHeaders(w.Header(), limit)
	case errors.Is(err, domain.ErrNotFound):
		status, body = http.StatusNotFound, errorDetail{Code: errNotFound.code, Message: errNotFound.message}
	case errors.Is(err, domain.ErrUnavailable):
		status, body = http.StatusServiceUnavailable, errorDetail{Code: "service_unavailable", Message: "the service cannot answer right now (a dependency is unreachable); retry after Retry-After seconds"}
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetry))
	case errors.Is(err, commands.ErrConcurrencyConflict):
		status, body = http.StatusConflict, errorDetail{Code: "concurrent_update", Message: "the resource changed while this request ran; retry it"}
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away mid-request: nobody reads this answer.
		log.InfoContext(r.Context(), "request abandoned by the client", "method", r.Method, "path", logPath(r), "correlation_id", requestID(r.Context()))
		return
	}
	if status == http.StatusServiceUnavailable {
		// An outage (Postgres restarting), not a bug: readyz reports it too.
		log.WarnContext(r.Context(), "request refused: a dependency is unavailable", "error", err, "method", r.Method, "path", logPath(r), "correlation_id", requestID(r.Context()))
	} else if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "error", err, "method", r.Method, "path", logPath(r), "correlation_id", requestID(r.Context()))
	}
	writeJSON(w, status, errorBody{Error: body})
}

// unavailableRetry is the Retry-After of a 503 service_unavailable, in
// seconds: a fast Postgres restart is over in about a second, and the pool
// connects again on the next request; a client that retries sooner only adds
// load while it comes back.
const unavailableRetry = 1

// outage marks err with domain.ErrUnavailable when isDown (Config.Unavailable)
// says a dependency could not answer, so writeError answers 503. Not while
// the request's context is done: its client went away, or its own connection
// failed, and a reset socket or a cancelled query then looks like an outage
// without being one.
func outage(r *http.Request, isDown func(error) bool, err error) error {
	if r.Context().Err() != nil || errors.Is(err, domain.ErrUnavailable) || !isDown(err) {
		return err
	}
	return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
}

// setLimitHeaders states a refusing limit: Retry-After (whole seconds, at
// least 1), and the limit with nothing remaining in the RateLimit-Policy and
// RateLimit fields of the IETF httpapi draft (draft-ietf-httpapi-ratelimit-
// headers): "<policy>";q=<quota>[;w=<window>] and "<policy>";r=0;t=<retry>.
func setLimitHeaders(h http.Header, l *domain.LimitError) {
	retry := ceilSeconds(l.RetryAfter)
	h.Set("Retry-After", strconv.FormatInt(retry, 10))
	if l.Policy == "" {
		return
	}
	h.Set("RateLimit-Policy", policyField(l.Policy, l.Quota, l.Window))
	h.Set("RateLimit", `"`+l.Policy+`";r=0;t=`+strconv.FormatInt(retry, 10))
}

// policyField is a RateLimit-Policy item: "<name>";q=<quota>, and
// ;w=<window seconds> for a rate (window > 0).
func policyField(name string, quota int64, window time.Duration) string {
	f := `"` + name + `";q=` + strconv.FormatInt(quota, 10)
	if window > 0 {
		f += ";w=" + strconv.FormatInt(ceilSeconds(window), 10)
	}
	return f
}

// ceilSeconds rounds d up to whole seconds, at least 1: a client told to
// wait 0 s would retry at once.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
