package eventschema

import "errors"

// ErrUnknownEventType reports a wire name (or a Go event type) the codec or
// validator has no mapping for. Match it with errors.Is; errors.As with
// *UnknownEventTypeError recovers the offending name.
var ErrUnknownEventType = errors.New("unknown event type")

// ErrInvalidPayload reports a payload that does not satisfy its wire name's
// JSON Schema. The wrapped *jsonschema.ValidationError carries the details.
var ErrInvalidPayload = errors.New("invalid event payload")

// ErrMissingAttribute and ErrInvalidAttribute report CloudEvents attributes
// that cannot be turned back into event metadata.
var (
	ErrMissingAttribute = errors.New("missing cloudevents attribute")
	ErrInvalidAttribute = errors.New("invalid cloudevents attribute")
)

// UnknownEventTypeError names what was not recognised: a wire name, or a Go
// type for Marshal.
type UnknownEventTypeError struct {
	Name string
}

func (e *UnknownEventTypeError) Error() string {
	return "eventschema: unknown event type " + e.Name
}

// Is makes errors.Is(err, ErrUnknownEventType) hold.
func (e *UnknownEventTypeError) Is(target error) bool {
	return target == ErrUnknownEventType
}
