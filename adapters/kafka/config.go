// Package kafka holds renderd's Kafka adapters (sarama, through watermill-kafka
// where it fits): topic names and creation, the CloudEvents Kafka binding,
// the batch publisher the relay ships events with, and consumer settings.
package kafka

import (
	"time"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
)

// protocolVersion is the Kafka protocol sarama speaks. Kafka 4 removed the
// protocol versions older than 2.1, which is sarama's default.
var protocolVersion = sarama.V3_6_0_0

// ProducerConfig is the sarama configuration of an event-log producer: every
// write acknowledged by all in-sync replicas, and the idempotent producer so
// that sarama's retries can neither duplicate nor reorder a partition.
func ProducerConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = protocolVersion
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer; keeps order
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Retry.Max = 10
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Producer.Partitioner = sarama.NewHashPartitioner // FNV-1a of the key: one producer type per topic
	c.Producer.Compression = sarama.CompressionLZ4
	// Linger 1 ms: a relay batch goes out in one produce request. Flushing
	// as fast as possible sends its first message alone and the rest after
	// that request's answer (one request in flight, for the idempotent
	// producer): two round trips to the broker for every batch.
	c.Producer.Flush.Frequency = time.Millisecond
	c.Metadata.Retry.Max = 10
	return c
}

// ConsumerConfig is the sarama configuration of renderd's consumer groups.
func ConsumerConfig(clientID string) *sarama.Config {
	c := wmkafka.DefaultSaramaSubscriberConfig()
	c.ClientID = clientID
	c.Version = protocolVersion
	// A group that joins after events were published must still see them;
	// the default (newest) silently skips them.
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Wait at most this long for data on an idle partition; short, so that
	// a consumer sees a new event promptly after a quiet spell.
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	// After a broker outage, resume soon after it returns: sarama's
	// defaults wait 2 s between a partition's retries and between attempts
	// to join the group.
	c.Consumer.Retry.Backoff = 250 * time.Millisecond
	c.Consumer.Group.Rebalance.Retry.Backoff = 250 * time.Millisecond
	return c
}
