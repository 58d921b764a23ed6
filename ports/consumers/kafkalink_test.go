package consumers

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/testenv"
)

// A consumer cut off from Kafka logs the outage once when it begins and
// once when it ends, with the real errors watermill-kafka and sarama
// report in between at DEBUG, and it resumes consuming once Kafka is back.
func TestConsumer_a_kafka_outage_is_logged_once_lost_and_once_regained(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topics := kafka.Topics{Prefix: testenv.TopicPrefix(t)}
	if err := kafka.EnsureTopics(t.Context(), brokers, topics.All(), kafka.TopicSettings{Partitions: 4, ReplicationFactor: -1}, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	topic := topics.All()[0]
	proxy := testenv.NewFaultProxy(t, "tcp", brokers[0])
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	cfg, wmlog, sessions := subscriberConfig(Config{Brokers: brokers, ClientID: "renderd-test-outage"}, topics.Prefix+"outage", log)
	testenv.DialThrough(cfg.OverwriteSaramaConfig, proxy)
	sub, err := wmkafka.NewSubscriber(cfg, wmlog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	msgs, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(brokers, kafka.ProducerConfig("renderd-test-outage"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	send := func(value string) {
		t.Helper()
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(value), Value: sarama.StringEncoder(value)}); err != nil {
			t.Fatal(err)
		}
	}
	receive := func(value string) time.Time {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case m := <-msgs:
				m.Ack()
				if string(m.Payload) == value {
					return time.Now()
				}
			case <-deadline:
				t.Fatalf("%q was not consumed within a minute", value)
			}
		}
	}
	send("before")
	receive("before")
	// Consuming, so in a session: what readiness counts (Router.Ready).
	if n := sessions.Load(); n != 1 {
		t.Errorf("%d live sessions while consuming, want 1", n)
	}

	proxy.Cut()
	time.Sleep(12 * time.Second) // past the group session's timeout (10 s)
	// Kafka out of reach ends the session: the consumer is not ready.
	testenv.Eventually(t, 30*time.Second, "the session to end without Kafka", func() bool { return sessions.Load() == 0 })
	send("during")
	proxy.Restore()
	restored := time.Now()
	took := receive("during").Sub(restored)
	t.Logf("consuming again %s after Kafka returned", took.Round(time.Millisecond))
	if n := sessions.Load(); n != 1 {
		t.Errorf("%d live sessions once consuming again, want 1", n)
	}

	out := logs.String()
	count := func(s string) int { return strings.Count(out, s) }
	lost, regained := count(`level=WARN msg="consumer lost Kafka, retrying"`), count(`level=INFO msg="consumer reached Kafka again"`)
	retries := count(`level=DEBUG msg="consumer lost Kafka, retrying"`)
	t.Logf("outage logged as %d WARN, %d INFO, %d retries at DEBUG", lost, regained, retries)
	if lost != 1 || regained != 1 || count("level=ERROR") != 0 || count("level=WARN") != 1 {
		t.Errorf("want one WARN when Kafka was lost, one INFO when it came back and no ERROR; got:\n%s", notDebug(out))
	}
	if retries == 0 {
		t.Error("no failure reached the tracker: the outage went unseen")
	}
}

func notDebug(log string) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
