package kafka

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/breaker"
)

// fakeProducer fails every message of a send with the next of errs (nil:
// the send succeeds).
type fakeProducer struct {
	sarama.SyncProducer
	errs   []error
	sends  int
	closed bool
}

func (f *fakeProducer) SendMessages(msgs []*sarama.ProducerMessage) error {
	f.sends++
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	if err == nil {
		return nil
	}
	var perrs sarama.ProducerErrors
	for _, m := range msgs {
		perrs = append(perrs, &sarama.ProducerError{Msg: m, Err: err})
	}
	return perrs
}

func (f *fakeProducer) Close() error { f.closed = true; return nil }

func testBatch(t *testing.T) []Outgoing {
	return []Outgoing{{Topic: "renderd.renders", Message: exampleMessage(t)}}
}

// sarama's producer refuses every send for 10 s once a breaker opened,
// even to a cluster that is back: the publisher replaces it, and keeps
// an ordinary failure's producer.
func TestBatchPublisher_replaces_a_producer_whose_breaker_opened(t *testing.T) {
	first := &fakeProducer{errs: []error{sarama.ErrNotEnoughReplicas, breaker.ErrBreakerOpen}}
	second := &fakeProducer{}
	dialErr := errors.New("kafka: client has run out of available brokers to talk to")
	// The first redial finds Kafka still away, the second one back.
	dials := []struct {
		p   *fakeProducer
		err error
	}{{first, nil}, {nil, dialErr}, {second, nil}}
	dial := func() (sarama.SyncProducer, error) {
		d := dials[0]
		dials = dials[1:]
		if d.err != nil {
			return nil, d.err
		}
		return d.p, nil
	}
	pub, err := newBatchPublisher(dial, CloudEventsMarshaler{})
	if err != nil {
		t.Fatal(err)
	}

	var pe *PublishError
	if err := pub.Publish(testBatch(t)); !errors.As(err, &pe) || !errors.Is(err, sarama.ErrNotEnoughReplicas) {
		t.Fatalf("an ordinary failure: %v", err)
	}
	if pub.spent {
		t.Fatal("an ordinary failure replaces the producer")
	}
	if err := pub.Publish(testBatch(t)); !errors.Is(err, breaker.ErrBreakerOpen) {
		t.Fatalf("the breaker's refusal: %v", err)
	}
	if err := pub.Publish(testBatch(t)); !errors.Is(err, dialErr) || errors.As(err, &pe) {
		t.Fatalf("Kafka still away: %v, want the dial's error naming no message", err)
	}
	if first.sends != 2 || first.closed {
		t.Fatalf("a failed redial still sent on, or closed, the old producer: %d sends, closed %v", first.sends, first.closed)
	}
	if err := pub.Publish(testBatch(t)); err != nil {
		t.Fatalf("Kafka back: %v", err)
	}
	if !first.closed || second.sends != 1 || pub.spent {
		t.Fatalf("old closed %v, new sends %d, spent %v", first.closed, second.sends, pub.spent)
	}
}
