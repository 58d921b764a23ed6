package kafka

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/renderd/renderd/eventschema"
)

// The CloudEvents Kafka protocol binding, binary content mode: an attribute
// is the header "ce_" + its name, except datacontenttype, which is the plain
// "content-type" header.
const (
	headerPrefix      = "ce_"
	contentTypeHeader = "content-type"
)

// contextAttributes are the CloudEvents context attributes, in the order of
// their headers on a record: ahead of the extensions, which follow in no
// stable order (docs/events.md, section 2).
var contextAttributes = []string{
	eventschema.AttrID, eventschema.AttrSource, eventschema.AttrSpecVersion, eventschema.AttrType,
	eventschema.AttrDataContentType, eventschema.AttrDataSchema, eventschema.AttrSubject, eventschema.AttrTime,
}

// CloudEventsMarshaler maps watermill messages to Kafka records in the
// CloudEvents Kafka protocol binding, binary content mode, and back
// (docs/events.md, section 2). A message's metadata are its event's
// CloudEvents attributes by name (eventschema.Codec.CloudEventAttributes),
// id included, which is also its UUID; its payload is the JSON data, the
// record value. Each attribute is a record header, and the partitionkey
// attribute (the aggregate id) is also the record key, so one aggregate's
// events share a partition and stay in order.
type CloudEventsMarshaler struct{}

// Marshal implements watermill-kafka's Marshaler.
func (CloudEventsMarshaler) Marshal(topic string, msg *message.Message) (*sarama.ProducerMessage, error) {
	if id := msg.Metadata[eventschema.AttrID]; id != msg.UUID {
		return nil, fmt.Errorf("message %s: metadata id %q differs", msg.UUID, id)
	}
	key := recordKey(msg)
	if key == "" {
		return nil, fmt.Errorf("message %s: no partition key to key the record by", msg.UUID)
	}
	headers := make([]sarama.RecordHeader, 0, len(msg.Metadata))
	for _, name := range contextAttributes {
		if value, ok := msg.Metadata[name]; ok {
			headers = append(headers, sarama.RecordHeader{Key: []byte(headerOf(name)), Value: []byte(value)})
		}
	}
	for name, value := range msg.Metadata {
		if !slices.Contains(contextAttributes, name) {
			headers = append(headers, sarama.RecordHeader{Key: []byte(headerOf(name)), Value: []byte(value)})
		}
	}
	pm := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Headers: headers}
	if len(msg.Payload) > 0 {
		pm.Value = sarama.ByteEncoder(msg.Payload)
	}
	return pm, nil
}

// recordKey is the Kafka record key of a message: its partition key.
func recordKey(msg *message.Message) string { return msg.Metadata[eventschema.ExtPartitionKey] }

// errNotBinary is a record that is not a CloudEvent in binary content mode.
var errNotBinary = errors.New("not a CloudEvent in binary content mode")

// Unmarshal implements watermill-kafka's Unmarshaler. Headers that carry no
// attribute are left out; an attribute given twice is refused, as is a
// record without the spec version (no CloudEvent in binary mode) or an id.
// Checking the attributes is for whoever reads them
// (eventschema.Codec.RecordedFromAttributes).
func (CloudEventsMarshaler) Unmarshal(cm *sarama.ConsumerMessage) (*message.Message, error) {
	where := func(err error) error {
		return fmt.Errorf("%s/%d@%d: %w", cm.Topic, cm.Partition, cm.Offset, err)
	}
	attrs := make(message.Metadata, len(cm.Headers))
	for _, h := range cm.Headers {
		name, ok := attributeOf(string(h.Key))
		if !ok {
			continue
		}
		if _, dup := attrs[name]; dup {
			return nil, where(fmt.Errorf("%w: attribute %s given more than once", errNotBinary, name))
		}
		attrs[name] = string(h.Value)
	}
	if _, ok := attrs[eventschema.AttrSpecVersion]; !ok {
		return nil, where(errNotBinary)
	}
	id := attrs[eventschema.AttrID]
	if id == "" {
		return nil, where(fmt.Errorf("%w: no id", errNotBinary))
	}
	msg := message.NewMessage(id, cm.Value)
	msg.Metadata = attrs
	return msg, nil
}

// headerOf is the Kafka header of the attribute name.
func headerOf(name string) string {
	if name == eventschema.AttrDataContentType {
		return contentTypeHeader
	}
	return headerPrefix + name
}

// attributeOf is the inverse of headerOf. It reports false for headers that
// carry no CloudEvents attribute. Keys are lowercased first: attribute names
// are lowercase by definition, so this only forgives a producer that
// capitalised a header such as "Content-Type".
func attributeOf(header string) (string, bool) {
	k := strings.ToLower(header)
	switch {
	case k == contentTypeHeader:
		return eventschema.AttrDataContentType, true
	case strings.HasPrefix(k, headerPrefix) && len(k) > len(headerPrefix):
		return k[len(headerPrefix):], true
	}
	return "", false
}
