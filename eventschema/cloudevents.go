package eventschema

import (
	"errors"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/renderd/renderd/domain"
)

// CloudEvents attribute names. Extension names may use only a-z and 0-9
// (CloudEvents 1.0, "Attribute Naming Convention"), hence no separators.
const (
	attrSpecVersion     = "specversion"
	attrID              = "id"
	attrSource          = "source"
	attrType            = "type"
	attrSubject         = "subject"
	attrTime            = "time"
	attrDataContentType = "datacontenttype"
	attrDataSchema      = "dataschema"

	extStreamType    = "streamtype"
	extStreamVersion = "streamversion"
	extPosition      = "position"
	extAccountID     = "accountid"
	extCorrelationID = "correlationid"
	extCausationID   = "causationid"
)

const (
	specVersion   = "1.0"
	contentJSON   = "application/json"
	sourcePrefix  = "/renderd/"
	kafkaPrefix   = "ce_"
	kafkaCTHeader = "content-type"
)

// Attribute is one CloudEvents context attribute in its string form, ready to
// become a Kafka header (see KafkaHeader).
type Attribute struct {
	Name  string
	Value string
}

// KafkaHeader is the Kafka header key of the attribute in the binary content
// mode: "ce_" + name, except datacontenttype, which the Kafka protocol binding
// maps to the plain "content-type" header.
func (a Attribute) KafkaHeader() string {
	if a.Name == attrDataContentType {
		return kafkaCTHeader
	}
	return kafkaPrefix + a.Name
}

// AttributeFromKafkaHeader is the inverse of Attribute.KafkaHeader. It reports
// false for headers that carry no CloudEvents attribute. Keys are lowercased
// first: attribute names are lowercase by definition, so this only forgives a
// producer that capitalised a header such as "Content-Type".
func AttributeFromKafkaHeader(key, value string) (Attribute, bool) {
	k := strings.ToLower(key)
	switch {
	case k == kafkaCTHeader:
		return Attribute{Name: attrDataContentType, Value: value}, true
	case strings.HasPrefix(k, kafkaPrefix) && len(k) > len(kafkaPrefix):
		return Attribute{Name: k[len(kafkaPrefix):], Value: value}, true
	}
	return Attribute{}, false
}

// SourceOf is the CloudEvents source of an aggregate type's events, e.g.
// "/renderd/renders".
func SourceOf(t domain.AggregateType) string {
	return sourcePrefix + string(t) + "s"
}

// CloudEventAttributes returns the CloudEvents attributes of a recorded event
// whose payload was marshalled under wireName, in a stable order: the required
// and optional context attributes first, then renderd's extensions. Empty
// optional extensions (account, correlation, causation, an unassigned
// position) are left out rather than sent empty.
func (c *Codec) CloudEventAttributes(r domain.Recorded, wireName string) ([]Attribute, error) {
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

	attrs := []Attribute{
		{attrSpecVersion, specVersion},
		{attrID, r.ID},
		{attrSource, SourceOf(r.StreamType)},
		{attrType, wireName},
		{attrSubject, r.StreamID},
		{attrTime, formatTime(r.OccurredAt)},
		{attrDataContentType, contentJSON},
		{attrDataSchema, SchemaID(wireName)},
		{extStreamType, string(r.StreamType)},
		{extStreamVersion, strconv.FormatInt(r.StreamVersion, 10)},
	}
	if r.Position > 0 {
		attrs = append(attrs, Attribute{extPosition, strconv.FormatInt(r.Position, 10)})
	}
	for _, a := range []Attribute{
		{extAccountID, r.AccountID},
		{extCorrelationID, r.CorrelationID},
		{extCausationID, r.CausationID},
	} {
		if a.Value != "" {
			attrs = append(attrs, a)
		}
	}
	return attrs, nil
}

// RecordedFromAttributes parses CloudEvents attributes back into everything
// of a domain.Recorded but its Event, and returns the wire name (the type
// attribute) to pass to Unmarshal with the message body. Unknown extensions
// are ignored, so that producers may add some. A type this codec does not know
// is not an error here (Unmarshal reports it), but a known type must belong to
// the stream type.
func (c *Codec) RecordedFromAttributes(attrs []Attribute) (domain.Recorded, string, error) {
	r, wireName, err := c.parseAttributes(attrs)
	if err != nil {
		return domain.Recorded{}, "", fmt.Errorf("eventschema: cloudevents: %w", err)
	}
	return r, wireName, nil
}

func (c *Codec) parseAttributes(attrs []Attribute) (domain.Recorded, string, error) {
	var r domain.Recorded
	set, err := newAttributeSet(attrs)
	if err != nil {
		return r, "", err
	}

	v, err := set.required(attrSpecVersion)
	if err != nil {
		return r, "", err
	}
	if v != specVersion {
		return r, "", invalidAttr(attrSpecVersion, v, errors.New("want "+specVersion))
	}
	if r.ID, err = set.required(attrID); err != nil {
		return r, "", err
	}
	wireName, err := set.required(attrType)
	if err != nil {
		return r, "", err
	}
	if r.StreamID, err = set.required(attrSubject); err != nil {
		return r, "", err
	}

	if v, err = set.required(extStreamType); err != nil {
		return r, "", err
	}
	r.StreamType = domain.AggregateType(v)
	if !slices.Contains(domain.AggregateTypes(), r.StreamType) {
		return r, "", invalidAttr(extStreamType, v, errors.New("not an aggregate type"))
	}
	if agg := c.AggregateOf(wireName); agg != "" && agg != r.StreamType {
		return r, "", invalidAttr(attrType, wireName, fmt.Errorf("belongs on %s streams, not %s", agg, v))
	}
	if v, err = set.required(attrSource); err != nil {
		return r, "", err
	}
	if want := SourceOf(r.StreamType); v != want {
		return r, "", invalidAttr(attrSource, v, errors.New("want "+want))
	}

	if v, err = set.required(attrTime); err != nil {
		return r, "", err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return r, "", invalidAttr(attrTime, v, err)
	}
	r.OccurredAt = t.UTC()

	if v, ok := set[attrDataContentType]; ok {
		if mt, _, err := mime.ParseMediaType(v); err != nil || mt != contentJSON {
			return r, "", invalidAttr(attrDataContentType, v, errors.New("want "+contentJSON))
		}
	}

	if v, err = set.required(extStreamVersion); err != nil {
		return r, "", err
	}
	if r.StreamVersion, err = parsePositive(extStreamVersion, v); err != nil {
		return r, "", err
	}
	if v, ok := set[extPosition]; ok {
		if r.Position, err = parsePositive(extPosition, v); err != nil {
			return r, "", err
		}
	}

	r.AccountID = set[extAccountID]
	r.CorrelationID = set[extCorrelationID]
	r.CausationID = set[extCausationID]
	return r, wireName, nil
}

// attributeSet indexes attributes by name.
type attributeSet map[string]string

func newAttributeSet(attrs []Attribute) (attributeSet, error) {
	set := make(attributeSet, len(attrs))
	for _, a := range attrs {
		if _, dup := set[a.Name]; dup {
			return nil, invalidAttr(a.Name, a.Value, errors.New("given more than once"))
		}
		set[a.Name] = a.Value
	}
	return set, nil
}

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
