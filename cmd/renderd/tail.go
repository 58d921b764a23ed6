package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path"
	"strconv"
	"sync"

	"github.com/IBM/sarama"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/eventschema"
)

// tailFlags are `renderd events tail`'s own flags.
func tailFlags(typ *string, fromBeginning *bool, limit *int) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.StringVar(typ, "type", "", "only events whose type matches this pattern (render.*, asset.ready; versioned names like render.completed.v1 match too)")
		fs.BoolVar(fromBeginning, "from-beginning", false, "start at the oldest retained event instead of new ones")
		fs.IntVar(limit, "limit", 0, "stop after this many events (0: run until interrupted)")
	}
}

// tailLine is one event as `renderd events tail` prints it: its CloudEvents
// attributes, where it sits in Kafka, and its data.
type tailLine struct {
	Topic      string            `json:"topic"`
	Partition  int32             `json:"partition"`
	Offset     int64             `json:"offset"`
	Key        string            `json:"key"`
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Attributes map[string]string `json:"attributes"`
	Data       json.RawMessage   `json:"data"`
}

// eventsTail prints the event topics as JSON lines: a consumer for ad-hoc
// analysis that joins no consumer group (it moves no one's offsets).
func eventsTail(ctx context.Context, cfg Config, pattern string, fromBeginning bool, limit int, stdout io.Writer) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("%w: --type %q: %v", errUsage, pattern, err)
	}
	if len(cfg.KafkaBrokers) == 0 {
		return fmt.Errorf("%w: KAFKA_BROKERS is required", errUsage)
	}
	consumer, err := sarama.NewConsumer(cfg.KafkaBrokers, kafka.ConsumerConfig("renderd-events-tail"))
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer consumer.Close()
	offset := sarama.OffsetNewest
	if fromBeginning {
		offset = sarama.OffsetOldest
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	messages := make(chan *sarama.ConsumerMessage)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	for _, topic := range (kafka.Topics{Prefix: cfg.TopicPrefix}).All() {
		partitions, err := consumer.Partitions(topic)
		if err != nil {
			return fmt.Errorf("kafka topic %s: %w", topic, err)
		}
		for _, p := range partitions {
			pc, err := consumer.ConsumePartition(topic, p, offset)
			if err != nil {
				return fmt.Errorf("kafka %s/%d: %w", topic, p, err)
			}
			wg.Go(func() {
				defer pc.AsyncClose()
				for {
					select {
					case <-ctx.Done():
						return
					case m, ok := <-pc.Messages():
						if !ok {
							return
						}
						select {
						case messages <- m:
						case <-ctx.Done():
							return
						}
					}
				}
			})
		}
	}
	enc := json.NewEncoder(stdout)
	printed := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-messages:
			line, ok, err := tailOf(m, pattern)
			if err != nil {
				line = tailLine{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key),
					Attributes: map[string]string{"error": err.Error()}}
			} else if !ok {
				continue
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
			if printed++; limit > 0 && printed >= limit {
				return nil
			}
		}
	}
}

// tailOf decodes one record; ok is false when its type does not match.
func tailOf(m *sarama.ConsumerMessage, pattern string) (tailLine, bool, error) {
	msg, err := kafka.CloudEventsMarshaler{}.Unmarshal(m)
	if err != nil {
		return tailLine{}, false, err
	}
	wire := msg.Metadata.Get(eventschema.AttrType)
	public := eventschema.PublicType(wire)
	if pattern != "" {
		a, _ := path.Match(pattern, public)
		b, _ := path.Match(pattern, wire)
		if !a && !b {
			return tailLine{}, false, nil
		}
	}
	// The attributes the line does not show elsewhere, and where the record
	// sits in Kafka (docs/events.md, section 6).
	attrs := make(map[string]string, len(msg.Metadata)+3)
	for k, v := range msg.Metadata {
		switch k {
		case eventschema.AttrID, eventschema.AttrSpecVersion, eventschema.AttrDataContentType, eventschema.ExtPartitionKey:
		default:
			attrs[k] = v
		}
	}
	attrs["kafkatopic"] = m.Topic
	attrs["kafkapartition"] = strconv.FormatInt(int64(m.Partition), 10)
	attrs["kafkaoffset"] = strconv.FormatInt(m.Offset, 10)
	data := json.RawMessage(msg.Payload)
	if !json.Valid(data) {
		data, _ = json.Marshal(string(msg.Payload))
	}
	return tailLine{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), ID: msg.UUID,
		Type: wire, Attributes: attrs, Data: data}, true, nil
}
