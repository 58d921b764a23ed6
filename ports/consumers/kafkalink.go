package consumers

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/outage"
)

// reconnectRetry is how long a subscriber that could not reach Kafka waits
// before trying again. Each try already spends sarama's metadata retries,
// so a short wait costs little, and the consumer resumes soon after the
// broker returns.
const reconnectRetry = 250 * time.Millisecond

// subscriberConfig is one consumer group's subscriber configuration and
// logger, both tied to a tracker of its link to Kafka. During a broker
// outage watermill-kafka
// logs an ERROR for every failed reconnect, every failed group session
// and every partition's every retry; here each consumer says it lost
// Kafka once (WARN) and that it is back once (INFO, when its group
// session starts again), and the retries in between are DEBUG.
//
// sessions counts the group's live sessions of the subscriber (0 or 1):
// the router's readiness (Router.Ready).
func subscriberConfig(cfg Config, group string, log *slog.Logger) (_ wmkafka.SubscriberConfig, _ watermill.LoggerAdapter, sessions *atomic.Int32) {
	link := outage.NewTracker(log.With("consumer_group", group), "consumer lost Kafka, retrying", "consumer reached Kafka again", time.Now)
	wmlog := linkLogger{LoggerAdapter: watermillLogger(log), link: link}
	sc := kafka.ConsumerConfig(cfg.ClientID)
	// A static member (KIP-345) of its group, under a name of its own:
	// watermill-kafka answers any failed group session by closing the
	// group and its client and joining afresh, so a dynamic member would
	// come back as a new member every time. When the group's coordinator
	// dies, the member it had cannot leave; the new coordinator loads it
	// and holds the rejoin until that member's session times out
	// (Consumer.Group.Session.Timeout), after the cluster has already
	// moved the group. Rejoining under the same instance id replaces the
	// old member at once. Static members do not leave on close, so the
	// router removes them itself (Router.leave).
	sc.Consumer.Group.InstanceId = instanceID(cfg.ClientID)
	sessions = new(atomic.Int32)
	return wmkafka.SubscriberConfig{
		Brokers:               cfg.Brokers,
		Unmarshaler:           tolerantUnmarshaler{kafka.CloudEventsMarshaler{}},
		OverwriteSaramaConfig: sc,
		ConsumerGroup:         group,
		NackResendSleep:       nackResendSleep,
		ReconnectRetrySleep:   reconnectRetry,
		Tracer:                sessionTracer{link: link, sessions: sessions},
	}, wmlog, sessions
}

// instanceID names one subscriber's membership of its group: unique to the
// subscriber (two live members under one id fence each other), the same
// for all its reconnects.
func instanceID(clientID string) string {
	return fmt.Sprintf("%s-%d-%s", clientID, os.Getpid(), rand.Text()[:10])
}

// watermillLogger is log for watermill, which narrates every subscription
// at info level: that is debug detail for us.
func watermillLogger(log *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}

// linkLogger hands watermill-kafka's errors to the tracker; every one of
// them is the subscriber failing to talk to Kafka.
type linkLogger struct {
	watermill.LoggerAdapter
	link   *outage.Tracker
	fields watermill.LogFields
}

func (l linkLogger) Error(msg string, err error, fields watermill.LogFields) {
	all := l.fields.Add(fields)
	attrs := make([]any, 0, 2*len(all))
	for k, v := range all {
		if k != "consumer_group" && k != "provider" { // the tracker's logger says the first; the second is always kafka
			attrs = append(attrs, k, v)
		}
	}
	l.link.Failed(fmt.Errorf("%s: %w", msg, err), attrs...)
}

func (l linkLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return linkLogger{LoggerAdapter: l.LoggerAdapter.With(fields), link: l.link, fields: l.fields.Add(fields)}
}

// sessionTracer tells the tracker when a consumer-group session starts:
// the consumer has joined its group and been given its partitions, so it
// reaches Kafka again. watermill-kafka offers no other hook there. It also
// counts the live sessions, for readiness: sarama calls Setup once the
// group has synced (it is stable and this member holds its assignment,
// possibly no partition at all) and Cleanup when the session ends (a
// rebalance, a lost coordinator, a close).
type sessionTracer struct {
	link     *outage.Tracker
	sessions *atomic.Int32
}

func (s sessionTracer) WrapConsumerGroupHandler(h sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler {
	return sessionStart{ConsumerGroupHandler: h, link: s.link, sessions: s.sessions}
}
func (sessionTracer) WrapConsumer(c sarama.Consumer) sarama.Consumer { return c }
func (sessionTracer) WrapPartitionConsumer(c sarama.PartitionConsumer) sarama.PartitionConsumer {
	return c
}
func (sessionTracer) WrapSyncProducer(_ *sarama.Config, p sarama.SyncProducer) sarama.SyncProducer {
	return p
}

type sessionStart struct {
	sarama.ConsumerGroupHandler
	link     *outage.Tracker
	sessions *atomic.Int32
}

// Setup counts the session before the handler's own Setup: if that fails,
// sarama still releases the session with Cleanup, which uncounts it.
func (s sessionStart) Setup(sess sarama.ConsumerGroupSession) error {
	s.link.Succeeded()
	s.sessions.Add(1)
	return s.ConsumerGroupHandler.Setup(sess)
}

func (s sessionStart) Cleanup(sess sarama.ConsumerGroupSession) error {
	s.sessions.Add(-1)
	return s.ConsumerGroupHandler.Cleanup(sess)
}
