package eventschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	jsondec "github.com/segmentio/encoding/json"

	"github.com/renderd/renderd/domain"
)

// errNotAnObject rejects payloads such as `null` or `[]`, which encoding/json
// would otherwise decode into a zero event without complaint.
var errNotAnObject = errors.New("payload is not a JSON object")

// maxMicros bounds wire durations at 2^53 µs (about 285 years): below it a
// float64 holds every whole microsecond exactly, and the product with
// time.Microsecond cannot overflow an int64.
const maxMicros = 1 << 53

// secondsFromDuration converts a duration to seconds for the wire.
//
// Precision is one microsecond: the duration is rounded to whole microseconds
// first, so that what is written is exactly what durationFromSeconds reads
// back. Dividing an exact integer by the exact 1e9 yields the double nearest
// to the decimal value, and encoding/json prints the shortest decimal that
// reads back as that double: 1500ms is written as 1.5, 1ms as 0.001.
func secondsFromDuration(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Second)
}

// durationFromSeconds converts wire seconds back to a duration, rounded to the
// nearest microsecond. Rounding (not truncation) is what makes millisecond and
// microsecond values round-trip exactly: 1.234*1e6 is 1234000.0000000002 in
// binary floating point.
func durationFromSeconds(field string, s float64) (time.Duration, error) {
	micros := math.Round(s * 1e6)
	if math.IsNaN(micros) || math.Abs(micros) > maxMicros {
		return 0, fmt.Errorf("%s: %v seconds is out of range", field, s)
	}
	return time.Duration(micros) * time.Microsecond, nil
}

// formatTime writes a time as RFC 3339 in UTC, keeping sub-second digits.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// parseTime reads an RFC 3339 time and returns it in UTC.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	return t.UTC(), nil
}

// segmentV1 keeps the REST API's shape for kept segments: seconds, no suffix.
type segmentV1 struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// segmentsToWire returns nil for no segments so that omitempty omits them.
func segmentsToWire(segs []domain.Segment) []segmentV1 {
	if len(segs) == 0 {
		return nil
	}
	out := make([]segmentV1, len(segs))
	for i, s := range segs {
		out[i] = segmentV1{Start: secondsFromDuration(s.Start), End: secondsFromDuration(s.End)}
	}
	return out
}

func segmentsFromWire(field string, segs []segmentV1) ([]domain.Segment, error) {
	if len(segs) == 0 {
		return nil, nil
	}
	out := make([]domain.Segment, len(segs))
	for i, s := range segs {
		start, err := durationFromSeconds(fmt.Sprintf("%s[%d].start", field, i), s.Start)
		if err != nil {
			return nil, err
		}
		end, err := durationFromSeconds(fmt.Sprintf("%s[%d].end", field, i), s.End)
		if err != nil {
			return nil, err
		}
		out[i] = domain.Segment{Start: start, End: end}
	}
	return out, nil
}

// wirePayload is implemented by every wire struct: the explicit mapping back
// to its domain event.
type wirePayload interface {
	toDomain() (domain.Event, error)
}

// decodePayload decodes one wire struct and maps it to the domain. Unknown
// fields are ignored on purpose: a newer producer may have added optional
// fields (forward compatibility).
func decodePayload[W wirePayload](data []byte) (domain.Event, error) {
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errNotAnObject
	}
	var w W
	// segmentio's decoder is a drop-in for encoding/json's, tested against
	// its suite, at a third of the cost: every projector and replay
	// decodes every event it reads.
	if err := jsondec.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	return w.toDomain()
}

// encodePayload writes compact JSON without HTML escaping: failure messages
// often contain '<' or '&', and consumers should see them as written.
func encodePayload(w any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
