package eventschema

import (
	"errors"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"time"

	"github.com/renderd/renderd/domain"
)

// CloudEvents attribute names: the context attributes renderd sets, then its
// extensions. Extension names may use only a-z and 0-9 (CloudEvents 1.0,
// "Attribute Naming Convention"), hence no separators. They are part of the
// wire contract (docs/events.md, section 2), as the wire names are.
const (
	AttrSpecVersion     = "specversion"
	AttrID              = "id"
	AttrSource          = "source"
	AttrType            = "type"
	AttrSubject         = "subject"
	AttrTime            = "time"
	AttrDataContentType = "datacontenttype"
	AttrDataSchema      = "dataschema"

	ExtStreamType    = "streamtype"
	ExtStreamVersion = "streamversion"
	ExtPosition      = "position"
	ExtAccountID     = "accountid"
	ExtCorrelationID = "correlationid"
	ExtCausationID   = "causationid"
	// ExtPartitionKey is the CloudEvents Partitioning extension: the
	// aggregate id, which the Kafka binding also makes the record key, so
	// one aggregate's events share a partition and stay in order.
	ExtPartitionKey = "partitionkey"
	// ExtTraceParent and ExtTraceState are the CloudEvents Distributed
	// Tracing extension: the W3C trace context (traceparent, tracestate)
	// of the work that recorded the event (domain.Metadata), so that a
	// consumer continues its trace. Optional: left out when the event was
	// recorded untraced, and a consumer ignores a malformed one.
	ExtTraceParent = "traceparent"
	ExtTraceState  = "tracestate"
)

const (
	specVersion  = "1.0"
	contentJSON  = "application/json"
	sourcePrefix = "/renderd/"
)

// SourceOf is the CloudEvents source of an aggregate type's events, e.g.
// "/renderd/renders".
func SourceOf(t domain.AggregateType) string {
	return sourcePrefix + string(t) + "s"
}

// CloudEventAttributes returns the CloudEvents attributes of a recorded event
// whose payload was marshalled under wireName, by name: the required and
// optional context attributes, then renderd's extensions. Empty optional
// extensions (account, correlation, causation, an unassigned position) are
// left out rather than sent empty. The map is the metadata of the event's
// Kafka message (adapters/kafka), which the relay ships.
func (c *Codec) CloudEventAttributes(r domain.Recorded, wireName string) (map[string]string, error) {
	t, ok := c.types[wireName]
	if !ok {
		return nil, fmt.Errorf("eventschema: cloudevents: %w", &UnknownEventTypeError{Name: wireName})
	}
	switch {
	case r.ID == "":
		return nil, fmt.Errorf("eventschema: cloudevents: recorded event has no id")
	case r.StreamID == "":
		return nil, fmt.Errorf("eventschema: cloudevents: event %s has no stream id", r.ID)
	case r.StreamType != t.aggregate:
		return nil, fmt.Errorf("eventschema: cloudevents: event %s: stream type %q does not carry %s", r.ID, r.StreamType, wireName)
	case r.StreamVersion < 1:
		return nil, fmt.Errorf("eventschema: cloudevents: event %s: stream version %d is not positive", r.ID, r.StreamVersion)
	case r.Position < 0:
		return nil, fmt.Errorf("eventschema: cloudevents: event %s: position %d is negative", r.ID, r.Position)
	case r.OccurredAt.IsZero():
		return nil, fmt.Errorf("eventschema: cloudevents: event %s has no occurred-at time", r.ID)
	}

	attrs := make(map[string]string, 17)
	attrs[AttrSpecVersion] = specVersion
	attrs[AttrID] = r.ID
	attrs[AttrSource] = SourceOf(r.StreamType)
	attrs[AttrType] = wireName
	attrs[AttrSubject] = r.StreamID
	attrs[AttrTime] = formatTime(r.OccurredAt)
	attrs[AttrDataContentType] = contentJSON
	attrs[AttrDataSchema] = SchemaID(wireName)
	attrs[ExtStreamType] = string(r.StreamType)
	attrs[ExtStreamVersion] = strconv.FormatInt(r.StreamVersion, 10)
	attrs[ExtPartitionKey] = r.StreamID
	if r.Position > 0 {
		attrs[ExtPosition] = strconv.FormatInt(r.Position, 10)
	}
	if r.AccountID != "" {
		attrs[ExtAccountID] = r.AccountID
	}
	if r.CorrelationID != "" {
		attrs[ExtCorrelationID] = r.CorrelationID
	}
	if r.CausationID != "" {
		attrs[ExtCausationID] = r.CausationID
	}
	if r.TraceParent != "" {
		attrs[ExtTraceParent] = r.TraceParent
		if r.TraceState != "" {
			attrs[ExtTraceState] = r.TraceState
		}
	}
	return attrs, nil
}

// RecordedFromAttributes parses CloudEvents attributes, by name, back into
// everything of a domain.Recorded but its Event, and returns the wire name
// (the type attribute) to pass to Unmarshal with the message body. Unknown
// extensions are ignored, so that producers may add some, and so is
// partitionkey (the subject again). A type this codec does not know is not
// an error here (Unmarshal reports it), but a known type must belong to the
// stream type.
func (c *Codec) RecordedFromAttributes(attrs map[string]string) (domain.Recorded, string, error) {
	r, wireName, err := c.parseAttributes(attrs)
	if err != nil {
		return domain.Recorded{}, "", fmt.Errorf("eventschema: cloudevents: %w", err)
	}
	return r, wireName, nil
}

func (c *Codec) parseAttributes(attrs map[string]string) (domain.Recorded, string, error) {
	var r domain.Recorded
	set := attributeSet(attrs)

	v, err := set.required(AttrSpecVersion)
	if err != nil {
		return r, "", err
	}
	if v != specVersion {
		return r, "", invalidAttr(AttrSpecVersion, v, errors.New("want "+specVersion))
	}
	if r.ID, err = set.required(AttrID); err != nil {
		return r, "", err
	}
	wireName, err := set.required(AttrType)
	if err != nil {
		return r, "", err
	}
	if r.StreamID, err = set.required(AttrSubject); err != nil {
		return r, "", err
	}

	if v, err = set.required(ExtStreamType); err != nil {
		return r, "", err
	}
	r.StreamType = domain.AggregateType(v)
	if !slices.Contains(domain.AggregateTypes(), r.StreamType) {
		return r, "", invalidAttr(ExtStreamType, v, errors.New("not an aggregate type"))
	}
	if agg := c.AggregateOf(wireName); agg != "" && agg != r.StreamType {
		return r, "", invalidAttr(AttrType, wireName, fmt.Errorf("belongs on %s streams, not %s", agg, v))
	}
	if v, err = set.required(AttrSource); err != nil {
		return r, "", err
	}
	if want := SourceOf(r.StreamType); v != want {
		return r, "", invalidAttr(AttrSource, v, errors.New("want "+want))
	}

	if v, err = set.required(AttrTime); err != nil {
		return r, "", err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return r, "", invalidAttr(AttrTime, v, err)
	}
	r.OccurredAt = t.UTC()

	if v, ok := set[AttrDataContentType]; ok {
		if mt, _, err := mime.ParseMediaType(v); err != nil || mt != contentJSON {
			return r, "", invalidAttr(AttrDataContentType, v, errors.New("want "+contentJSON))
		}
	}

	if v, err = set.required(ExtStreamVersion); err != nil {
		return r, "", err
	}
	if r.StreamVersion, err = parsePositive(ExtStreamVersion, v); err != nil {
		return r, "", err
	}
	if v, ok := set[ExtPosition]; ok {
		if r.Position, err = parsePositive(ExtPosition, v); err != nil {
			return r, "", err
		}
	}

	r.AccountID = set[ExtAccountID]
	r.CorrelationID = set[ExtCorrelationID]
	r.CausationID = set[ExtCausationID]
	// Kept as sent, unchecked: tracing is best effort, and a consumer
	// parsing a malformed context starts a new trace instead
	// (telemetry.StartFrom) rather than refusing the event.
	r.TraceParent = set[ExtTraceParent]
	r.TraceState = set[ExtTraceState]
	return r, wireName, nil
}

// attributeSet is attributes by name.
type attributeSet map[string]string

// required treats an empty value as missing: every required attribute of
// ours is meaningless when empty.
func (s attributeSet) required(name string) (string, error) {
	if v := s[name]; v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%w %s", ErrMissingAttribute, name)
}

func parsePositive(name, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, invalidAttr(name, v, err)
	}
	if n < 1 {
		return 0, invalidAttr(name, v, errors.New("must be positive"))
	}
	return n, nil
}

func invalidAttr(name, value string, err error) error {
	return fmt.Errorf("%w %s=%q: %w", ErrInvalidAttribute, name, value, err)
}
