package relay

import (
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/eventschema"
)

// CloudEventsMapper maps log entries to Kafka messages: the topic of the
// entry's aggregate type, the stored JSON as data (upcast, see below), and
// the CloudEvents attributes eventschema defines as metadata, which
// kafka.CloudEventsMarshaler turns into the record's headers and key.
//
// An entry stored under a retired wire name is published upcast to the
// current one (type, dataschema and data alike): consumers are promised the
// current contract, and an event committed before a breaking change but
// relayed after it must not stop the relay.
func CloudEventsMapper(codec *eventschema.Codec, topics kafka.Topics) func(postgres.LogEntry) (kafka.Outgoing, error) {
	return func(e postgres.LogEntry) (kafka.Outgoing, error) {
		wireName, data, err := codec.Upcast(e.WireName, e.Data)
		if err != nil {
			return kafka.Outgoing{}, err
		}
		attrs, err := codec.CloudEventAttributes(e.Recorded, wireName)
		if err != nil {
			return kafka.Outgoing{}, err
		}
		msg := message.NewMessage(e.ID, data)
		msg.Metadata = attrs
		return kafka.Outgoing{Topic: topics.For(e.StreamType), Message: msg}, nil
	}
}
