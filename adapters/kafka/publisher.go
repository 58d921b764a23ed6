package kafka

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/eapache/go-resiliency/breaker"
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
//
// It outlives sarama's circuit breakers. sarama's producer opens a
// breaker for 10 s on a topic, or a partition, whose metadata it failed to
// read three times in a row, and fails every message bound there at once
// until it closes: after Kafka has been away (a cluster restart, say),
// that is up to 10 s of refused sends to a cluster that is back. A send
// refused so marks the producer spent, and the next Publish first
// connects a new producer, whose breakers are closed, once Kafka answers.
type BatchPublisher struct {
	dial      func() (sarama.SyncProducer, error)
	marshaler wmkafka.Marshaler

	mu       sync.Mutex // Publish and Close
	producer sarama.SyncProducer
	spent    bool // a send met an open breaker: connect a new producer
}

// NewBatchPublisher connects a producer configured by ProducerConfig.
func NewBatchPublisher(brokers []string, cfg *sarama.Config, marshaler wmkafka.Marshaler) (*BatchPublisher, error) {
	return newBatchPublisher(func() (sarama.SyncProducer, error) { return sarama.NewSyncProducer(brokers, cfg) }, marshaler)
}

func newBatchPublisher(dial func() (sarama.SyncProducer, error), marshaler wmkafka.Marshaler) (*BatchPublisher, error) {
	producer, err := dial()
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &BatchPublisher{dial: dial, marshaler: marshaler, producer: producer}, nil
}

// Key is the message's record key: its partition key, the aggregate id.
func (o Outgoing) Key() string { return recordKey(o.Message) }

// PublishError is a publish that failed for some of a batch's messages; the
// others were written. Failed holds the failed messages' indexes in the
// batch, in ascending order.
type PublishError struct {
	Failed []int
	Err    error // the first failure's cause
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("publish: %d messages failed, first: %v", len(e.Failed), e.Err)
}

func (e *PublishError) Unwrap() error { return e.Err }

// Publish sends msgs. An error that is a *PublishError names the messages
// that failed (every other one was written); any other error may have
// written any of them.
func (p *BatchPublisher) Publish(msgs []Outgoing) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.spent {
		// While Kafka is still away this fails as fast as the old
		// producer would, having sent nothing.
		fresh, err := p.dial()
		if err != nil {
			return fmt.Errorf("publish: a new producer, for one whose circuit breaker is open: %w", err)
		}
		_ = p.producer.Close() // nothing in flight: SendMessages returned
		p.producer, p.spent = fresh, false
	}
	batch := make([]*sarama.ProducerMessage, 0, len(msgs))
	index := make(map[*sarama.ProducerMessage]int, len(msgs))
	for i, m := range msgs {
		pm, err := p.marshaler.Marshal(m.Topic, m.Message)
		if err != nil {
			return err
		}
		batch = append(batch, pm)
		index[pm] = i
	}
	err := p.producer.SendMessages(batch)
	if err == nil {
		return nil
	}
	var perrs sarama.ProducerErrors
	if !errors.As(err, &perrs) || len(perrs) == 0 {
		return fmt.Errorf("publish: %w", err)
	}
	failed := make([]int, 0, len(perrs))
	for _, pe := range perrs {
		if errors.Is(pe.Err, breaker.ErrBreakerOpen) {
			p.spent = true
		}
		i, ok := index[pe.Msg]
		if !ok {
			return fmt.Errorf("publish: a failure names a message not in the batch: %w", pe.Err)
		}
		failed = append(failed, i)
	}
	slices.Sort(failed)
	return &PublishError{Failed: slices.Compact(failed), Err: perrs[0].Err}
}

// Close flushes and closes the producer.
func (p *BatchPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.producer.Close()
}
