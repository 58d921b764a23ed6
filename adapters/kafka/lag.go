package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/renderd/renderd/telemetry"
)

// GroupTopic is one consumer group reading one topic.
type GroupTopic struct{ Group, Topic string }

// How often consumer lag is read at most, how long a scrape waits for it,
// and how long one broker request may take. Lag moves by the message, and
// reading it costs a metadata request and one request per partition, so a
// few seconds' cache is enough; a broker that is down must cost a scrape
// no more than the timeout (the read goes on in the background, alone).
const (
	lagTTL         = 5 * time.Second
	lagTimeout     = time.Second
	lagNetworkWait = 2 * time.Second
)

// lagConfig is a short-lived client's: one attempt per request, short
// network timeouts, so that a read against a broker that is away ends in
// seconds rather than sarama's default half minute per dial.
func lagConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "renderd-lag"
	c.Version = protocolVersion
	c.Net.DialTimeout = lagNetworkWait
	c.Net.ReadTimeout = lagNetworkWait
	c.Net.WriteTimeout = lagNetworkWait
	c.Metadata.Retry.Max = 0
	c.Metadata.Full = true // NewClient refuses to start without (no topics named yet)
	c.Admin.Timeout = lagNetworkWait
	c.Admin.Retry.Max = 0
	return c
}

// ConsumerLag returns, per group, the messages it has yet to consume on
// its topic: the sum over the topic's partitions of the high-water mark
// less the group's committed offset. A partition the group never
// committed counts from the oldest offset the topic keeps, where
// ConsumerConfig starts such a group. A group whose offsets cannot be read
// is left out of the answer and named in the error.
func ConsumerLag(ctx context.Context, brokers []string, groups []GroupTopic) (map[GroupTopic]int64, error) {
	client, err := sarama.NewClient(brokers, lagConfig())
	if err != nil {
		return nil, fmt.Errorf("consumer lag: %w", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("consumer lag: %w", err)
	}
	defer admin.Close() //nolint:errcheck // closes the client too; nothing to do about a failure

	// Each topic's partitions and high-water marks once, whatever the
	// number of groups reading it.
	type partitions struct {
		ids  []int32
		high map[int32]int64
		err  error
	}
	topics := map[string]*partitions{}
	out := make(map[GroupTopic]int64, len(groups))
	var errs []error
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		p := topics[g.Topic]
		if p == nil {
			p = &partitions{high: map[int32]int64{}}
			p.ids, p.err = client.Partitions(g.Topic)
			for _, id := range p.ids {
				if p.err != nil {
					break
				}
				p.high[id], p.err = client.GetOffset(g.Topic, id, sarama.OffsetNewest)
			}
			topics[g.Topic] = p
		}
		if p.err != nil {
			errs = append(errs, fmt.Errorf("consumer lag of %s on %s: %w", g.Group, g.Topic, p.err))
			continue
		}
		lag, err := groupLag(client, admin, g, p.ids, p.high)
		if err != nil {
			errs = append(errs, fmt.Errorf("consumer lag of %s on %s: %w", g.Group, g.Topic, err))
			continue
		}
		out[g] = lag
	}
	return out, errors.Join(errs...)
}

// groupLag sums one group's lag over the topic's partitions.
func groupLag(client sarama.Client, admin sarama.ClusterAdmin, g GroupTopic, ids []int32, high map[int32]int64) (int64, error) {
	var res *sarama.OffsetFetchResponse
	for try := 0; ; try++ {
		var err error
		if res, err = admin.ListConsumerGroupOffsets(g.Group, map[string][]int32{g.Topic: ids}); err != nil {
			return 0, err
		}
		// A group's coordinator moves (a broker restarts) and a new one
		// loads its offsets first: ask where it is now, a few times.
		retry := res.Err == sarama.ErrNotCoordinatorForConsumer || res.Err == sarama.ErrOffsetsLoadInProgress ||
			res.Err == sarama.ErrConsumerCoordinatorNotAvailable
		if !retry || try == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if err := client.RefreshCoordinator(g.Group); err != nil {
			return 0, err
		}
	}
	if res.Err != sarama.ErrNoError {
		return 0, res.Err
	}
	var lag int64
	for _, id := range ids {
		b := res.GetBlock(g.Topic, id)
		if b == nil {
			return 0, fmt.Errorf("no offset for partition %d", id)
		}
		if b.Err != sarama.ErrNoError {
			return 0, b.Err
		}
		committed := b.Offset
		if committed < 0 { // never committed: the group starts at the oldest kept
			var err error
			if committed, err = client.GetOffset(g.Topic, id, sarama.OffsetOldest); err != nil {
				return 0, err
			}
		}
		lag += max(high[id]-committed, 0)
	}
	return lag, nil
}

// ConsumerLagCollector exports renderd_consumer_lag_messages{group,topic}
// for this process's consumer groups, read at scrape time. Every role with
// consumers exports its own groups' lag; a group whose lag cannot be read
// (the broker away, the group's coordinator moving) has no series until
// a read works, rather than its last numbers.
func ConsumerLagCollector(brokers []string, groups []GroupTopic, log *slog.Logger) *telemetry.Scrape {
	return telemetry.NewScrape(telemetry.ScrapeConfig{
		Name:  "consumer_lag",
		Descs: []*telemetry.Desc{telemetry.ConsumerLagDesc},
		Read: func(ctx context.Context) ([]telemetry.Sample, error) {
			lags, err := ConsumerLag(ctx, brokers, groups)
			samples := make([]telemetry.Sample, 0, len(lags))
			for _, g := range groups { // in the groups' order, not the map's
				if lag, ok := lags[g]; ok {
					samples = append(samples, telemetry.Sample{Desc: telemetry.ConsumerLagDesc, Value: float64(lag), Labels: []string{g.Group, g.Topic}})
				}
			}
			return samples, err
		},
		TTL: lagTTL, Timeout: lagTimeout, Log: log,
	})
}
