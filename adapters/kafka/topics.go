package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/renderd/renderd/domain"
)

// Topics names renderd's Kafka topics: one per aggregate type, so one
// aggregate's events share a topic and, keyed by aggregate id, a partition.
type Topics struct {
	Prefix string // e.g. "renderd."
}

// For returns the topic of an aggregate type's events, e.g. "renderd.renders".
func (t Topics) For(a domain.AggregateType) string { return t.Prefix + string(a) + "s" }

// All returns every topic, in a stable order.
func (t Topics) All() []string {
	var names []string
	for _, a := range domain.AggregateTypes() {
		names = append(names, t.For(a))
	}
	return names
}

// TopicSettings is how renderd creates missing topics.
type TopicSettings struct {
	Partitions int32
	// ReplicationFactor -1 takes the broker's default.replication.factor.
	ReplicationFactor int16
}

// EnsureTopics creates the missing topics of names with unlimited retention
// (the event log is kept whole; a rebuilt projection still reads the event
// store, not offset 0). Existing topics are left as they are. Several
// processes may race to create a topic: losing that race is fine.
func EnsureTopics(ctx context.Context, brokers []string, names []string, s TopicSettings, log *slog.Logger) error {
	cfg := sarama.NewConfig()
	cfg.ClientID = "renderd-admin"
	cfg.Version = protocolVersion
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()

	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	retention := "-1"
	var created []string
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, ok := existing[name]; ok {
			continue
		}
		err := admin.CreateTopic(name, &sarama.TopicDetail{
			NumPartitions:     s.Partitions,
			ReplicationFactor: s.ReplicationFactor,
			ConfigEntries:     map[string]*string{"retention.ms": &retention},
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
		if err == nil {
			log.Info("kafka topic created", "topic", name, "partitions", s.Partitions)
		}
		created = append(created, name)
	}
	return waitForLeaders(ctx, brokers, cfg, created)
}

// waitForLeaders returns once every partition of topics is served by its
// leader: a new topic rejects produce and fetch requests until then, and its
// metadata can name a leader a moment before that leader answers.
func waitForLeaders(ctx context.Context, brokers []string, cfg *sarama.Config, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	for {
		err := allServed(client, topics)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v are not served yet: %w", topics, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// allServed asks each partition's leader for its newest offset.
func allServed(client sarama.Client, topics []string) error {
	if err := client.RefreshMetadata(topics...); err != nil {
		return err
	}
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return fmt.Errorf("%s has no partitions yet", t)
		}
		for _, p := range parts {
			if _, err := client.GetOffset(t, p, sarama.OffsetNewest); err != nil {
				return fmt.Errorf("%s/%d: %w", t, p, err)
			}
		}
	}
	return nil
}
