package kafka

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Outgoing is one message bound for a topic.
type Outgoing struct {
	Topic   string
	Message *message.Message
}

// BatchPublisher sends batches of messages and returns once Kafka has
// acknowledged all of them. watermill-kafka's Publisher waits for each
// message in turn; the relay needs whole batches in flight to keep up, and
// sarama's idempotent producer keeps each partition's order within a batch.
type BatchPublisher struct {
	producer  sarama.SyncProducer
	marshaler wmkafka.Marshaler
}

// NewBatchPublisher connects a producer configured by ProducerConfig.
func NewBatchPublisher(brokers []string, cfg *sarama.Config, marshaler wmkafka.Marshaler) (*BatchPublisher, error) {
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &BatchPublisher{producer: producer, marshaler: marshaler}, nil
}

// Publish sends msgs. On error some of them may have been written: the
// caller sends the whole batch again (consumers dedupe by event id).
func (p *BatchPublisher) Publish(msgs []Outgoing) error {
	batch := make([]*sarama.ProducerMessage, 0, len(msgs))
	for _, m := range msgs {
		pm, err := p.marshaler.Marshal(m.Topic, m.Message)
		if err != nil {
			return err
		}
		batch = append(batch, pm)
	}
	if err := p.producer.SendMessages(batch); err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			return fmt.Errorf("publish %d of %d messages failed, first: %w", len(perrs), len(batch), perrs[0].Err)
		}
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// Close flushes and closes the producer.
func (p *BatchPublisher) Close() error { return p.producer.Close() }
