package kafka_test

import (
	"net"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/testenv"
)

// A group's lag is what it has yet to consume: every message for a group
// that never committed, the rest once it committed part of the topic.
func TestConsumerLag_counts_the_messages_a_group_has_yet_to_consume(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.TopicPrefix(t) + "lag"
	if err := kafka.EnsureTopics(t.Context(), brokers, []string{topic}, kafka.TopicSettings{Partitions: 2, ReplicationFactor: -1}, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	cfg := kafka.ProducerConfig("lag-test")
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for i := range 5 {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Key: sarama.StringEncoder([]string{"a", "b"}[i%2]),
			Value: sarama.StringEncoder("x")})
		if err != nil {
			t.Fatal(err)
		}
	}
	fresh := kafka.GroupTopic{Group: topic + ".fresh", Topic: topic}
	partly := kafka.GroupTopic{Group: topic + ".partly", Topic: topic}
	commit(t, brokers, partly, 2) // two messages of the first partition it got to consume

	lags, err := kafka.ConsumerLag(t.Context(), brokers, []kafka.GroupTopic{fresh, partly})
	if err != nil {
		t.Fatal(err)
	}
	if lags[fresh] != 5 || lags[partly] != 3 {
		t.Fatalf("lags %v; want 5 for the group that never committed, 3 for the one that consumed 2", lags)
	}
	collector := kafka.ConsumerLagCollector(brokers, []kafka.GroupTopic{fresh, partly}, testenv.Logger(t))
	if n := testutil.CollectAndCount(collector, "renderd_consumer_lag_messages"); n != 2 {
		t.Fatalf("series: %d, want one per group", n)
	}
}

// commit records the group's offset on the partition that holds the keys'
// messages first (whichever: the hash partitioner decides), as a consumer
// that consumed n of them would.
func commit(t *testing.T, brokers []string, g kafka.GroupTopic, n int64) {
	t.Helper()
	cfg := kafka.ConsumerConfig("lag-test")
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var part int32 = -1
	for _, p := range []int32{0, 1} {
		high, err := client.GetOffset(g.Topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if high >= n {
			part = p
			break
		}
	}
	if part < 0 {
		t.Fatalf("no partition of %s holds %d messages", g.Topic, n)
	}
	// A commit outside any generation, as a standalone consumer makes it:
	// the group has no members to fence it. A new group's coordinator may
	// still be loading: ask again.
	req := &sarama.OffsetCommitRequest{Version: 4, ConsumerGroup: g.Group, ConsumerGroupGeneration: -1, RetentionTime: -1}
	req.AddBlock(g.Topic, part, n, 0, "")
	testenv.Eventually(t, 30*time.Second, "the offset to be committed", func() bool {
		if err := client.RefreshCoordinator(g.Group); err != nil {
			return false
		}
		coord, err := client.Coordinator(g.Group)
		if err != nil {
			return false
		}
		res, err := coord.CommitOffset(req)
		if err != nil {
			return false
		}
		for _, parts := range res.Errors {
			for _, kerr := range parts {
				if kerr != sarama.ErrNoError {
					t.Logf("commit: %v", kerr)
					return false
				}
			}
		}
		return true
	})
}

// A broker that refuses connections costs a scrape no more than the
// collector's timeout, and leaves it without the series.
func TestConsumerLagCollector_exports_nothing_when_kafka_is_down(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there now
	g := kafka.GroupTopic{Group: "renderd.projector.renders.v1", Topic: "renders"}
	if _, err := kafka.ConsumerLag(t.Context(), []string{down}, []kafka.GroupTopic{g}); err == nil {
		t.Fatal("ConsumerLag with Kafka down: no error")
	}
	collector := kafka.ConsumerLagCollector([]string{down}, []kafka.GroupTopic{g}, testenv.Logger(t))
	if n := testutil.CollectAndCount(collector); n != 0 {
		t.Fatalf("series with Kafka down: %d, want none", n)
	}
}

// A broker that accepts connections and never answers is the slow case:
// the scrape gives up at the timeout, with no series, while the read goes
// on alone.
func TestConsumerLagCollector_does_not_wait_for_a_broker_that_never_answers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	g := kafka.GroupTopic{Group: "renderd.projector.renders.v1", Topic: "renders"}
	collector := kafka.ConsumerLagCollector([]string{ln.Addr().String()}, []kafka.GroupTopic{g}, testenv.Logger(t))
	if n := testutil.CollectAndCount(collector); n != 0 {
		t.Fatalf("series with a silent broker: %d, want none", n)
	}
}
