package domain

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the domain. Ports map them to stable API codes with
// errors.Is; the wrapping error carries the detail.
var (
	// ErrValidation: the request is well-formed but invalid (422).
	ErrValidation = errors.New("validation_error")
	// ErrConflict: the request clashes with the aggregate's state (409).
	ErrConflict = errors.New("conflict")
	// ErrNotFound: no such aggregate for this account (404).
	ErrNotFound = errors.New("not_found")
	// ErrLimit: one of the account's limits refuses the request for now
	// (429); the same request may succeed later.
	ErrLimit = errors.New("limit_exceeded")
	// ErrQuota: the request's content would take the account past a quota
	// that waiting does not restore, such as its storage (413).
	ErrQuota = errors.New("quota_exceeded")
	// ErrUnavailable: a dependency (the database) cannot answer now, so the
	// request cannot be decided (503 service_unavailable); the same request
	// may succeed once it is back.
	ErrUnavailable = errors.New("service_unavailable")
)

// ValidationError is a 422 naming the offending field.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// Invalid returns a ValidationError.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ConflictError is a 409 with a stable code (e.g. asset_not_ready).
type ConflictError struct {
	Code    string
	Message string
}

func (e *ConflictError) Error() string        { return e.Code + ": " + e.Message }
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Conflict returns a ConflictError.
func Conflict(code, format string, args ...any) error {
	return &ConflictError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// LimitError is a 429 with a stable code (too_many_renders, rate_limited…):
// the request is valid, but a limit of the account is reached. Policy names
// the limit and Quota is its size, as the RateLimit-Policy header states
// them; Window is the period a rate's quota refills over (0 for a limit on
// work in flight, such as renders queued). RetryAfter is when a retry may
// succeed.
type LimitError struct {
	Code       string
	Message    string
	Policy     string
	Quota      int64
	Window     time.Duration
	RetryAfter time.Duration
}

func (e *LimitError) Error() string        { return e.Code + ": " + e.Message }
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// QuotaError is a 413 with a stable code (storage_quota_exceeded): what the
// request brings would take the account past a quota.
type QuotaError struct {
	Code    string
	Message string
}

func (e *QuotaError) Error() string        { return e.Code + ": " + e.Message }
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }
