package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/relay"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

const relayRate = 500 // events/s appended in the background

// benchRelayLatency measures commit → consumed-from-Kafka latency while
// relayRate events/s are appended: the relay as `renderd serve` runs it
// (commit notifications, default batch and poll interval), and a plain
// consumer reading the topics.
func benchRelayLatency(ctx context.Context, e *env, d time.Duration) ([]result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notifier := postgres.NewCommitNotifier(e.pool, e.log)
	go notifier.Run(ctx) //nolint:errcheck
	store := postgres.NewEventStore(e.pool, e.codec, notifier)

	pub, err := kafka.NewBatchPublisher(e.brokers, kafka.ProducerConfig("bench-relay"), kafka.CloudEventsMarshaler{})
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	connect := func(ctx context.Context) (*pgx.Conn, error) {
		return pgx.ConnectConfig(ctx, e.pool.Config().ConnConfig)
	}
	r, err := relay.New(relay.Config{Name: "bench", BatchSize: 500, PollInterval: time.Second, StandbyRetry: time.Second},
		connect, pub, relay.CloudEventsMapper(e.codec, e.topics), e.log)
	if err != nil {
		return nil, err
	}
	go r.Run(ctx) //nolint:errcheck

	// Commit and receipt times are matched at the end: an event can arrive
	// before its writer has noted the commit time.
	var (
		mu        sync.Mutex
		committed = map[string]time.Time{}
		arrived   = map[string]time.Time{}
	)
	received := make(chan string, 4096)
	stopConsumer, err := consume(e, received)
	if err != nil {
		return nil, err
	}
	defer stopConsumer()
	go func() {
		for id := range received {
			now := time.Now()
			mu.Lock()
			if _, dup := arrived[id]; !dup {
				arrived[id] = now
			}
			mu.Unlock()
		}
	}()

	// Background load: writers each pace their share of relayRate. Events
	// committed in the first second warm up the producer and consumer and are
	// not counted.
	const writers = 10
	period := time.Second * writers / relayRate
	var wg sync.WaitGroup
	warm := time.Now().Add(time.Second)
	deadline := warm.Add(d)
	for w := range writers {
		wg.Go(func() {
			tick := time.NewTicker(period)
			defer tick.Stop()
			for i := 0; time.Now().Before(deadline); i++ {
				<-tick.C
				stream := fmt.Sprintf("rnd_lat_%d_%d", w, i%50)
				var id string
				err := store.Transact(ctx, []string{stream}, func(ctx context.Context, tx commands.Tx) error {
					recs, err := tx.Append(ctx, stream, commands.AnyVersion(),
						domain.Metadata{AccountID: "acc_bench", OccurredAt: time.Now()}, domain.RenderProgressed{Attempt: 1, Percent: i % 100})
					if err == nil {
						id = recs[0].ID
					}
					return err
				})
				if err != nil {
					return
				}
				if now := time.Now(); now.After(warm) {
					mu.Lock()
					committed[id] = now
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the tail arrive
	mu.Lock()
	var lat []time.Duration
	lost := 0
	for id, at := range committed {
		if got, ok := arrived[id]; ok {
			lat = append(lat, got.Sub(at))
		} else {
			lost++
		}
	}
	mu.Unlock()
	if len(lat) == 0 {
		return nil, fmt.Errorf("no event reached the consumer")
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	return []result{{
		name:   fmt.Sprintf("relay latency, commit → consumed, %d events/s background (%d samples, %d not seen)", relayRate, len(lat), lost),
		value:  fmt.Sprintf("p50 %s, p99 %s", ms(p50), ms(p99)),
		target: "p50 ≤ 20 ms, p99 ≤ 100 ms",
		ok:     p50 <= 20*time.Millisecond && p99 <= 100*time.Millisecond && lost == 0,
	}}, nil
}

// consume reads every partition of e's topics from the newest offset and
// sends each event id to out.
func consume(e *env, out chan<- string) (stop func(), err error) {
	consumer, err := sarama.NewConsumer(e.brokers, kafka.ConsumerConfig("bench-reader"))
	if err != nil {
		return nil, err
	}
	var pcs []sarama.PartitionConsumer
	for _, topic := range e.topics.All() {
		parts, err := consumer.Partitions(topic)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				return nil, err
			}
			pcs = append(pcs, pc)
			go func() {
				for m := range pc.Messages() {
					for _, h := range m.Headers {
						if string(h.Key) == "ce_id" {
							out <- string(h.Value)
						}
					}
				}
			}()
		}
	}
	return func() {
		for _, pc := range pcs {
			_ = pc.Close()
		}
		_ = consumer.Close()
	}, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
