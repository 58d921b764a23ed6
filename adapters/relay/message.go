package relay

import (
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// CloudEventsMapper maps log entries to Kafka messages: the topic of the
// entry's aggregate type, the stored JSON as data, and the CloudEvents
// attributes eventschema defines (see kafka.CloudEventsMarshaler).
func CloudEventsMapper(codec *eventschema.Codec, topics kafka.Topics) func(postgres.LogEntry) (kafka.Outgoing, error) {
	return func(e postgres.LogEntry) (kafka.Outgoing, error) {
		attrs, err := codec.CloudEventAttributes(domain.Recorded{
			ID: e.ID, StreamID: e.StreamID, StreamType: e.StreamType, StreamVersion: e.StreamVersion,
			Position: e.Checkpoint.Position, Metadata: e.Metadata,
		}, e.WireName)
		if err != nil {
			return kafka.Outgoing{}, err
		}
		msg := message.NewMessage(e.ID, e.Data)
		for _, a := range attrs {
			msg.Metadata.Set(a.Name, a.Value)
		}
		return kafka.Outgoing{Topic: topics.For(e.StreamType), Message: msg}, nil
	}
}
