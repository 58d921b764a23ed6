package testenv

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	cebinding "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/renderd/renderd/adapters/kafka"
)

// Consumed is one Kafka record, decoded with the CloudEvents SDK.
type Consumed struct {
	Key   string
	Topic string
	Event event.Event
}

// Consume reads every partition of topics from the oldest offset until stop
// holds for what was read so far; it fails t after timeout.
func Consume(t testing.TB, brokers, topics []string, timeout time.Duration, stop func([]Consumed) bool) []Consumed {
	t.Helper()
	consumer, err := sarama.NewConsumer(brokers, kafka.ConsumerConfig("renderd-test-reader"))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	out := make(chan Consumed, 1024)
	done := make(chan struct{})
	defer close(done)
	for _, topic := range topics {
		parts, err := consumer.Partitions(topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			go func() {
				for m := range pc.Messages() {
					ev, err := binding.ToEvent(context.Background(), cebinding.NewMessageFromConsumerMessage(m))
					if err != nil {
						t.Errorf("%s/%d@%d is not a CloudEvent: %v", m.Topic, m.Partition, m.Offset, err)
						continue
					}
					select {
					case out <- Consumed{Key: string(m.Key), Topic: m.Topic, Event: *ev}:
					case <-done:
						return
					}
				}
			}()
		}
	}
	var got []Consumed
	deadline := time.After(timeout)
	for !stop(got) {
		select {
		case c := <-out:
			got = append(got, c)
		case <-deadline:
			t.Fatalf("timed out after %s with %d messages", timeout, len(got))
		}
	}
	return got
}

// AtLeast stops Consume after n records.
func AtLeast(n int) func([]Consumed) bool { return func(c []Consumed) bool { return len(c) >= n } }

// Distinct stops Consume after n distinct event ids.
func Distinct(n int) func([]Consumed) bool {
	return func(c []Consumed) bool { return len(distinctIDs(c)) >= n }
}

func distinctIDs(c []Consumed) map[string]bool {
	ids := map[string]bool{}
	for _, m := range c {
		ids[m.Event.ID()] = true
	}
	return ids
}

// CheckOrder dedupes by event id (keeping the first delivery), fails t for
// every aggregate whose versions did not arrive as 1, 2, 3, … and unless
// exactly want distinct events arrived. It returns the duplicates seen.
func CheckOrder(t testing.TB, got []Consumed, want int) (duplicates int) {
	t.Helper()
	seen := map[string]bool{}
	last := map[string]int64{}
	violations := 0
	for _, c := range got {
		if seen[c.Event.ID()] {
			duplicates++
			continue
		}
		seen[c.Event.ID()] = true
		v, err := strconv.ParseInt(fmt.Sprint(c.Event.Extensions()["streamversion"]), 10, 64)
		if err != nil {
			t.Fatalf("streamversion: %v", err)
		}
		if subj := c.Event.Subject(); v != last[subj]+1 {
			violations++
			t.Errorf("%s: version %d arrived after %d", subj, v, last[subj])
		}
		last[c.Event.Subject()] = v
	}
	if len(seen) != want {
		t.Errorf("%d distinct events reached Kafka, want %d", len(seen), want)
	}
	t.Logf("%d distinct events, %d duplicates, %d order violations", len(seen), duplicates, violations)
	return duplicates
}

// deleteTopics removes every topic whose name starts with prefix; it is
// best effort (a test's cleanup must not fail the test).
func deleteTopics(brokers []string, prefix string) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return
	}
	for name := range topics {
		if strings.HasPrefix(name, prefix) {
			_ = admin.DeleteTopic(name)
		}
	}
}

// DialThrough makes a Kafka client with cfg reach the broker through p
// (a FaultProxy in front of it), so that a test can cut one client off the
// shared broker without stopping it. A proxy on the bootstrap address alone
// would not do: after bootstrap, sarama dials the address the broker
// advertises. Every dial goes to p, so this fits a single-broker stack
// (the local one, or a test container).
func DialThrough(cfg *sarama.Config, p *FaultProxy) {
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = proxyDialer{p.Addr()}
}

type proxyDialer struct{ addr string }

func (d proxyDialer) Dial(network, _ string) (net.Conn, error) { return net.Dial(network, d.addr) }
