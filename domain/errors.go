package domain

import (
	"errors"
	"fmt"
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
