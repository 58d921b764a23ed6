package relay_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/relay"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// benchEntries is a relay batch of n render.completed entries over 50 streams.
func benchEntries(n int) []postgres.LogEntry {
	codec := eventschema.NewCodec()
	_, data, err := codec.Marshal(domain.RenderCompleted{Attempt: 2, BlobKey: "renders/rnd_x/attempt-2.mp4", SizeBytes: 27398112, Duration: 43076 * time.Millisecond, EncodeTime: 21337 * time.Millisecond, Width: 720, Height: 1280})
	if err != nil {
		panic(err)
	}
	out := make([]postgres.LogEntry, n)
	for i := range out {
		out[i] = benchEntry(i, data)
	}
	return out
}

func benchEntry(i int, data []byte) postgres.LogEntry {
	return postgres.LogEntry{
		Checkpoint: postgres.Checkpoint{TransactionID: uint64(1000 + i), Position: int64(1000 + i)},
		Recorded: domain.Recorded{
			ID: fmt.Sprintf("0b5e6f0e-2a1d-4c3b-9e8f-%012d", i), StreamID: fmt.Sprintf("rnd_%03d", i%50), StreamType: domain.AggregateRender,
			StreamVersion: int64(1 + i/50), Position: int64(1000 + i),
			Metadata: domain.Metadata{AccountID: "acc_3d9f1b27", CorrelationID: "req_01JDX6Q4M3ZC9T8B7A6V5N4K2H", OccurredAt: time.Date(2025, 11, 27, 3, 40, 12, 345678000, time.UTC)},
		},
		WireName: eventschema.RenderCompletedV1, Data: data,
	}
}

// BenchmarkRelayPath_entry_to_record is the relay's CPU per event between
// the log and sarama: mapping an entry to its message and marshalling it.
func BenchmarkRelayPath_entry_to_record(b *testing.B) {
	entries := benchEntries(500)
	toMsg := relay.CloudEventsMapper(eventschema.NewCodec(), kafka.Topics{Prefix: "renderd."})
	m := kafka.CloudEventsMarshaler{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		out, err := toMsg(entries[i%len(entries)])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Marshal(out.Topic, out.Message); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayPath_publish_batches_to_kafka publishes batches of 500 to a
// fresh topic on the real Kafka, as the relay does.
func BenchmarkRelayPath_publish_batches_to_kafka(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	topics := kafka.Topics{Prefix: testenv.TopicPrefix(b)}
	if err := kafka.EnsureTopics(b.Context(), brokers, topics.All(), kafka.TopicSettings{Partitions: 12, ReplicationFactor: -1}, testenv.Logger(b)); err != nil {
		b.Fatal(err)
	}
	pub, err := kafka.NewBatchPublisher(brokers, kafka.ProducerConfig("relay-bench"), kafka.CloudEventsMarshaler{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	toMsg := relay.CloudEventsMapper(eventschema.NewCodec(), topics)
	entries := benchEntries(500)
	b.ResetTimer()
	for b.Loop() {
		msgs := make([]kafka.Outgoing, len(entries))
		for i, e := range entries {
			if msgs[i], err = toMsg(e); err != nil {
				b.Fatal(err)
			}
		}
		if err := pub.Publish(msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(entries))/b.Elapsed().Seconds(), "events/s")
}
