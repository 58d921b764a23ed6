package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
	// ReplicationFactor is AutoReplication (0), BrokerDefault (-1) or the
	// number of copies of every partition.
	ReplicationFactor int16
}

const (
	// AutoReplication counts the cluster's brokers and keeps min(3,
	// brokers) copies of every partition (Replication).
	AutoReplication int16 = 0
	// BrokerDefault takes the broker's default.replication.factor and
	// min.insync.replicas.
	BrokerDefault int16 = -1
)

// Replication is the replication factor and min.insync.replicas of the
// topics renderd creates, for the setting and the cluster's broker count.
// Auto keeps min(3, brokers) copies. With two copies or more, a write is
// acknowledged once two replicas hold it (producers ask for acks=all,
// ProducerConfig), so an acknowledged event survives the loss of any one
// broker; a single copy can only ask for one. With BrokerDefault both are
// the broker's, and minISR is 0.
func Replication(setting int16, brokers int) (rf, minISR int16) {
	switch {
	case setting == BrokerDefault:
		return BrokerDefault, 0
	case setting == AutoReplication:
		rf = int16(min(max(brokers, 1), 3)) //nolint:gosec // at most 3
	default:
		rf = setting
	}
	if rf >= 2 {
		return rf, 2
	}
	return rf, 1
}

// EnsureTopics creates the missing topics of names with unlimited retention
// (the event log is kept whole; a rebuilt projection still reads the event
// store, not offset 0) and the replication of Replication. Existing topics
// are left as they are (with a warning when they keep fewer copies than
// renderd would make). Several processes may race to create a topic: losing
// that race is fine.
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
	count := 0
	if s.ReplicationFactor == AutoReplication {
		cluster, _, err := admin.DescribeCluster()
		if err != nil {
			return fmt.Errorf("describe the kafka cluster: %w", err)
		}
		count = len(cluster)
	}
	rf, minISR := Replication(s.ReplicationFactor, count)
	retention := "-1"
	configs := map[string]*string{"retention.ms": &retention}
	if minISR > 0 {
		isr := strconv.Itoa(int(minISR))
		configs["min.insync.replicas"] = &isr
	}
	var created []string
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if t, ok := existing[name]; ok {
			if rf > 0 && t.ReplicationFactor < rf {
				log.Warn("kafka topic keeps fewer copies than renderd would make: raise them with a partition reassignment",
					"topic", name, "replication_factor", t.ReplicationFactor, "wanted", rf)
			}
			continue
		}
		err := admin.CreateTopic(name, &sarama.TopicDetail{
			NumPartitions:     s.Partitions,
			ReplicationFactor: rf,
			ConfigEntries:     configs,
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
		if err == nil {
			log.Info("kafka topic created", "topic", name, "partitions", s.Partitions, "replication_factor", rf, "min_insync_replicas", minISR)
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
