package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"
	cebinding "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
)

// Metadata keys of a watermill message that CloudEventsMarshaler maps onto
// CloudEvents context attributes. Any other key is an extension attribute.
// The message UUID is the CloudEvents id and its payload the JSON data.
const (
	AttrType            = "type"
	AttrSource          = "source"
	AttrSubject         = "subject"
	AttrTime            = "time"
	AttrDataSchema      = "dataschema"
	attrSpecVersion     = "specversion"
	attrID              = "id"
	attrDataContentType = "datacontenttype"
	// attrPartitionKey is the CloudEvents partitioning extension, which the
	// Kafka binding maps onto the record key.
	attrPartitionKey = "partitionkey"
)

// CloudEventsMarshaler maps watermill messages to Kafka records in the
// CloudEvents Kafka protocol binding, binary mode (ce_* headers, JSON value),
// and back. The record key is the subject: the aggregate id, so one
// aggregate's events share a partition and stay in order.
type CloudEventsMarshaler struct{}

// Marshal implements watermill-kafka's Marshaler.
func (CloudEventsMarshaler) Marshal(topic string, msg *message.Message) (*sarama.ProducerMessage, error) {
	ev := cloudevents.New(cloudevents.CloudEventsVersionV1)
	ev.SetID(msg.UUID)
	for key, value := range msg.Metadata {
		switch key {
		case attrSpecVersion:
			if value != cloudevents.CloudEventsVersionV1 {
				return nil, fmt.Errorf("message %s: unsupported specversion %q", msg.UUID, value)
			}
		case attrID:
			if value != msg.UUID {
				return nil, fmt.Errorf("message %s: metadata id %q differs", msg.UUID, value)
			}
		case attrDataContentType:
			if value != cloudevents.ApplicationJSON {
				return nil, fmt.Errorf("message %s: data content type %q is not JSON", msg.UUID, value)
			}
		case AttrType:
			ev.SetType(value)
		case AttrSource:
			ev.SetSource(value)
		case AttrSubject:
			ev.SetSubject(value)
		case AttrTime:
			t, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				return nil, fmt.Errorf("message %s: time: %w", msg.UUID, err)
			}
			ev.SetTime(t)
		case AttrDataSchema:
			ev.SetDataSchema(value)
		default:
			ev.SetExtension(key, value)
		}
	}
	if ev.Subject() == "" {
		return nil, fmt.Errorf("message %s: no subject to key the record by", msg.UUID)
	}
	ev.SetExtension(attrPartitionKey, ev.Subject())
	ev.SetDataContentType(cloudevents.ApplicationJSON)
	ev.DataEncoded = msg.Payload
	if err := ev.Validate(); err != nil {
		return nil, fmt.Errorf("message %s: %w", msg.UUID, err)
	}

	pm := &sarama.ProducerMessage{Topic: topic}
	if err := cebinding.WriteProducerMessage(context.Background(), binding.ToMessage(&ev), pm); err != nil {
		return nil, fmt.Errorf("message %s: %w", msg.UUID, err)
	}
	return pm, nil
}

// Unmarshal implements watermill-kafka's Unmarshaler.
func (CloudEventsMarshaler) Unmarshal(cm *sarama.ConsumerMessage) (*message.Message, error) {
	ev, err := binding.ToEvent(context.Background(), cebinding.NewMessageFromConsumerMessage(cm))
	if err != nil {
		return nil, fmt.Errorf("%s/%d@%d: not a CloudEvent: %w", cm.Topic, cm.Partition, cm.Offset, err)
	}
	msg := message.NewMessage(ev.ID(), ev.Data())
	msg.Metadata.Set(AttrType, ev.Type())
	msg.Metadata.Set(AttrSource, ev.Source())
	msg.Metadata.Set(AttrSubject, ev.Subject())
	msg.Metadata.Set(AttrTime, ev.Time().UTC().Format(time.RFC3339Nano))
	if ds := ev.DataSchema(); ds != "" {
		msg.Metadata.Set(AttrDataSchema, ds)
	}
	for name, value := range ev.Extensions() {
		if name == attrPartitionKey {
			continue
		}
		msg.Metadata.Set(name, fmt.Sprint(value))
	}
	return msg, nil
}
