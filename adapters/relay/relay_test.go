package relay_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/relay"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// fixture is a fresh database, fresh topics and a way to start relays.
type fixture struct {
	t       *testing.T
	pool    *pgxpool.Pool
	store   *postgres.EventStore
	codec   *eventschema.Codec
	topics  kafka.Topics
	brokers []string
	notify  *postgres.CommitNotifier
}

func newFixture(t *testing.T) *fixture {
	pool := testenv.Postgres(t)
	codec := eventschema.NewCodec()
	f := &fixture{t: t, pool: pool, codec: codec, brokers: testenv.KafkaBrokers(t),
		topics: kafka.Topics{Prefix: testenv.TopicPrefix(t)}}
	f.notify = postgres.NewCommitNotifier(pool, testenv.Logger(t))
	go f.notify.Run(t.Context()) //nolint:errcheck // ends with the test
	f.store = postgres.NewEventStore(pool, codec, f.notify)
	err := kafka.EnsureTopics(t.Context(), f.brokers, f.topics.All(), kafka.TopicSettings{Partitions: 4, ReplicationFactor: -1}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// startRelay runs a relay until the returned stop is called or the test ends.
func (f *fixture) startRelay(name string, batch int) (stop func()) {
	f.t.Helper()
	return f.startRelayVia(name, batch, f.pool.Config().ConnConfig, kafka.ProducerConfig("relay-test"), nil)
}

// startRelayWith is startRelay with the real publisher wrapped by wrap.
func (f *fixture) startRelayWith(name string, batch int, wrap func(relay.Publisher) relay.Publisher) (stop func()) {
	f.t.Helper()
	return f.startRelayVia(name, batch, f.pool.Config().ConnConfig, kafka.ProducerConfig("relay-test"), wrap)
}

// startRelayVia runs a relay that reaches the database with conf and
// Kafka with producer (through fault proxies, say), its publisher wrapped
// by wrap unless wrap is nil.
func (f *fixture) startRelayVia(name string, batch int, conf *pgx.ConnConfig, producer *sarama.Config,
	wrap func(relay.Publisher) relay.Publisher) (stop func()) {
	f.t.Helper()
	pub, err := kafka.NewBatchPublisher(f.brokers, producer, kafka.CloudEventsMarshaler{})
	if err != nil {
		f.t.Fatal(err)
	}
	var relayPub relay.Publisher = pub
	if wrap != nil {
		relayPub = wrap(pub)
	}
	connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, conf) }
	r, err := relay.New(relay.Config{Name: name, BatchSize: batch, PollInterval: 200 * time.Millisecond, StandbyRetry: 100 * time.Millisecond},
		connect, relayPub, relay.CloudEventsMapper(f.codec, f.topics), testenv.Logger(f.t))
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; _ = pub.Close() }) }
	f.t.Cleanup(stop)
	return stop
}

func (f *fixture) appendEvent(ctx context.Context, stream string, ev domain.Event) (domain.Recorded, error) {
	return testenv.AppendNext(ctx, f.store, stream, ev)
}

func (f *fixture) consumeAll(timeout time.Duration, stop func([]testenv.Consumed) bool) []testenv.Consumed {
	f.t.Helper()
	return testenv.Consume(f.t, f.brokers, f.topics.All(), timeout, stop)
}

func TestRelay_ships_committed_events_as_cloudevents(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.startRelay("relay", 100)
	recs := map[string]domain.Recorded{}
	for stream, ev := range map[string]domain.Event{
		"ast_1": domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "clip.mp4"},
		"cut_1": domain.CutFailed{Code: "segments_out_of_range", Message: "beyond the end"},
		"rnd_1": domain.RenderCancelled{Attempt: 1},
	} {
		r, err := f.appendEvent(ctx, stream, ev)
		if err != nil {
			t.Fatal(err)
		}
		recs[r.ID] = r
	}

	validator, err := eventschema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.consumeAll(30*time.Second, testenv.AtLeast(3)) {
		r, ok := recs[c.Event.ID()]
		if !ok {
			t.Fatalf("unexpected event %s", c.Event.ID())
		}
		wire, _, _ := f.codec.Marshal(r.Event)
		ev := c.Event
		checks := []struct{ name, got, want string }{
			{"specversion", ev.SpecVersion(), "1.0"},
			{"type", ev.Type(), wire},
			{"source", ev.Source(), eventschema.SourceOf(r.StreamType)},
			{"subject", ev.Subject(), r.StreamID},
			{"key", c.Key, r.StreamID},
			{"topic", c.Topic, f.topics.For(r.StreamType)},
			{"time", ev.Time().Format(time.RFC3339Nano), r.OccurredAt.Format(time.RFC3339Nano)},
			{"datacontenttype", ev.DataContentType(), "application/json"},
			{"dataschema", ev.DataSchema(), eventschema.SchemaID(wire)},
			{"streamversion", fmt.Sprint(ev.Extensions()["streamversion"]), "1"},
			{"position", fmt.Sprint(ev.Extensions()["position"]), strconv.FormatInt(r.Position, 10)},
			{"accountid", fmt.Sprint(ev.Extensions()["accountid"]), "acc_1"},
			{"correlationid", fmt.Sprint(ev.Extensions()["correlationid"]), "req_1"},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Errorf("%s: %s = %q, want %q", wire, ch.name, ch.got, ch.want)
			}
		}
		if err := validator.Validate(ev.Type(), ev.Data()); err != nil {
			t.Errorf("%s: data does not validate: %v", wire, err)
		}
		decoded, err := f.codec.Unmarshal(ev.Type(), ev.Data())
		if err != nil || fmt.Sprint(decoded) != fmt.Sprint(r.Event) {
			t.Errorf("%s: decoded %v (%v), want %v", wire, decoded, err, r.Event)
		}
	}
}

func TestRelay_never_ships_a_rolled_back_transaction(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.startRelay("relay", 100)
	var rolledBack string
	err := f.store.Transact(ctx, []string{"rnd_rb"}, func(ctx context.Context, tx commands.Tx) error {
		recs, err := tx.Append(ctx, "rnd_rb", commands.NoStream(),
			domain.Metadata{AccountID: "acc_1", OccurredAt: time.Now()}, domain.RenderCancelled{})
		if err != nil {
			return err
		}
		rolledBack = recs[0].ID
		return fmt.Errorf("the command changed its mind")
	})
	if err == nil || rolledBack == "" {
		t.Fatalf("transaction: %v", err)
	}
	marker, err := f.appendEvent(ctx, "rnd_marker", domain.RenderCancelled{})
	if err != nil {
		t.Fatal(err)
	}
	got := f.consumeAll(30*time.Second, func(c []testenv.Consumed) bool {
		return slices.ContainsFunc(c, func(c testenv.Consumed) bool { return c.Event.ID() == marker.ID })
	})
	for _, c := range got {
		if c.Event.ID() == rolledBack {
			t.Fatal("a rolled-back event reached Kafka")
		}
	}
}

func TestRelay_eight_writers_over_twenty_aggregates_keep_per_aggregate_order(t *testing.T) {
	f := newFixture(t)
	f.startRelay("relay", 50)
	n := testenv.AppendConcurrently(t, t.Context(), f.store, 8, 20, 100)
	testenv.CheckOrder(t, f.consumeAll(60*time.Second, testenv.Distinct(n)), n)
}

func TestRelay_killed_mid_stream_and_restarted_loses_nothing(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	stop := f.startRelay("relay", 20)
	done := make(chan int)
	go func() { done <- testenv.AppendConcurrently(t, ctx, f.store, 8, 20, 100) }()
	time.Sleep(300 * time.Millisecond) // mid-stream
	stop()
	// A fresh database connection proves the leader lock died with the
	// killed relay's session.
	f.startRelay("relay", 20)
	n := <-done
	testenv.CheckOrder(t, f.consumeAll(60*time.Second, testenv.Distinct(n)), n)
}

func TestRelay_standby_takes_over_when_the_leader_dies(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	stopLeader := f.startRelay("relay", 100)
	if _, err := f.appendEvent(ctx, "rnd_a", domain.RenderCancelled{}); err != nil {
		t.Fatal(err)
	}
	f.consumeAll(30*time.Second, testenv.AtLeast(1))
	f.startRelay("relay", 100) // standby: the leader holds the lock
	var leaderPIDs int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&leaderPIDs); err != nil {
		t.Fatal(err)
	}
	if leaderPIDs != 1 {
		t.Fatalf("%d relays hold the leader lock, want 1", leaderPIDs)
	}
	stopLeader()
	if _, err := f.appendEvent(ctx, "rnd_b", domain.RenderCancelled{}); err != nil {
		t.Fatal(err)
	}
	f.consumeAll(30*time.Second, testenv.Distinct(2))
}

func TestEnsureTopics_creates_topics_with_unlimited_retention_once(t *testing.T) {
	f := newFixture(t) // created them
	err := kafka.EnsureTopics(t.Context(), f.brokers, f.topics.All(), kafka.TopicSettings{Partitions: 4, ReplicationFactor: -1}, testenv.Logger(t))
	if err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	admin := f.admin()
	for _, topic := range f.topics.All() {
		res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}}}, sarama.DescribeConfigsOptions{})
		if err != nil || len(res) != 1 {
			t.Fatalf("describe %s: %v", topic, err)
		}
		if entries := res[0].Configs; len(entries) != 1 || entries[0].Value != "-1" {
			t.Errorf("%s: retention.ms = %+v, want -1", topic, entries)
		}
		meta, err := admin.DescribeTopics([]string{topic})
		if err != nil || len(meta) != 1 || len(meta[0].Partitions) != 4 {
			t.Errorf("%s: %d partitions (%v), want 4", topic, len(meta[0].Partitions), err)
		}
	}
}

// arrivals reads every partition of the fixture's topics from the oldest
// offset for the rest of the test and tells when each event id arrived.
type arrivals struct {
	mu   sync.Mutex
	at   map[string]time.Time
	seen chan struct{} // nudged on every arrival
}

func (f *fixture) watch() *arrivals {
	f.t.Helper()
	a := &arrivals{at: map[string]time.Time{}, seen: make(chan struct{}, 1)}
	consumer, err := sarama.NewConsumer(f.brokers, kafka.ConsumerConfig("relay-test-watch"))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = consumer.Close() })
	for _, topic := range f.topics.All() {
		parts, err := consumer.Partitions(topic)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, p := range parts {
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				f.t.Fatal(err)
			}
			f.t.Cleanup(func() { _ = pc.Close() }) // before the consumer's
			go func() {
				for m := range pc.Messages() {
					for _, h := range m.Headers {
						if string(h.Key) == "ce_id" {
							a.mu.Lock()
							if _, dup := a.at[string(h.Value)]; !dup {
								a.at[string(h.Value)] = time.Now()
							}
							a.mu.Unlock()
							select {
							case a.seen <- struct{}{}:
							default:
							}
						}
					}
				}
			}()
		}
	}
	return a
}

// await returns when id arrived, failing t after timeout.
func (a *arrivals) await(t *testing.T, id string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		at, ok := a.at[id]
		a.mu.Unlock()
		if ok {
			return at
		}
		select {
		case <-a.seen:
		case <-deadline:
			t.Fatalf("event %s did not reach Kafka within %s", id, timeout)
		}
	}
}

// blips cuts the relay off a dependency six times in a row, for 0.3 s to
// 0.8 s each, commits an event during each outage, and fails t unless the
// relay publishes it within the bound of the dependency's return. The
// issue's target is a second; the bound is twice that, for a busy machine
// (six engineers' tests share two cores), and the figures are logged.
func (f *fixture) blips(t *testing.T, dependency string, proxy *testenv.FaultProxy, arrived *arrivals) {
	t.Helper()
	const outages = 6
	const bound = 2 * time.Second
	var worst time.Duration
	for i := range outages {
		proxy.Cut()
		rec, err := f.appendEvent(t.Context(), fmt.Sprintf("rnd_%d", i), domain.RenderCancelled{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+100*i) * time.Millisecond)
		proxy.Restore()
		restored := time.Now()
		took := arrived.await(t, rec.ID, 30*time.Second).Sub(restored)
		t.Logf("outage %d: published %s after %s returned", i+1, took.Round(time.Millisecond), dependency)
		worst = max(worst, took)
		if took > bound {
			t.Errorf("outage %d: the relay published %s after %s returned, want within %s", i+1, took.Round(time.Millisecond), dependency, bound)
		}
	}
	t.Logf("worst recovery over %d outages of %s: %s", outages, dependency, worst.Round(time.Millisecond))
}

// warm waits for the relay to lead and publish.
func (f *fixture) warm(t *testing.T, arrived *arrivals) {
	t.Helper()
	first, err := f.appendEvent(t.Context(), "rnd_warm", domain.RenderCancelled{})
	if err != nil {
		t.Fatal(err)
	}
	arrived.await(t, first.ID, 30*time.Second)
}

// The target: after a dependency blip shorter than a second, the
// relay publishes again within a second of the dependency's return,
// however many outages came before. Each outage here is a Postgres
// restart as the relay sees it (every connection dropped, new ones
// refused), and the event waiting for the relay is committed during it.
// Two relays run, so a standby's retries are covered too: whichever wins
// the lock after an outage publishes.
func TestRelay_publishes_within_a_second_of_postgres_returning_after_repeated_outages(t *testing.T) {
	f := newFixture(t)
	proxy, dsn := testenv.ProxyPostgres(t, f.pool.Config().ConnString())
	conf, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	arrived := f.watch()
	f.startRelayVia("relay", 100, conf, kafka.ProducerConfig("relay-test"), nil)
	f.startRelayVia("relay", 100, conf, kafka.ProducerConfig("relay-test"), nil) // a standby, which goes through the same outages
	f.warm(t, arrived)
	f.blips(t, "Postgres", proxy, arrived)
}

// The same target with Kafka as the dependency that blips.
func TestRelay_publishes_within_a_second_of_kafka_returning_after_repeated_outages(t *testing.T) {
	f := newFixture(t)
	proxy := testenv.NewFaultProxy(t, "tcp", f.brokers[0])
	producer := kafka.ProducerConfig("relay-test")
	testenv.DialThrough(producer, proxy)
	arrived := f.watch()
	f.startRelayVia("relay", 100, f.pool.Config().ConnConfig, producer, nil)
	f.warm(t, arrived)
	f.blips(t, "Kafka", proxy, arrived)
}

// A standby bids for the lock every StandbyRetry, so it takes over soon
// after the leader's connection dies without Postgres going away.
func TestRelay_standby_takes_over_within_a_second_of_the_leaders_connection_dying(t *testing.T) {
	f := newFixture(t)
	leaderProxy, dsn := testenv.ProxyPostgres(t, f.pool.Config().ConnString())
	leaderConf, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	arrived := f.watch()
	f.startRelayVia("relay", 100, leaderConf, kafka.ProducerConfig("relay-test"), nil)
	f.warm(t, arrived) // the first relay leads
	f.startRelay("relay", 100)
	time.Sleep(300 * time.Millisecond) // the standby has bid and lost

	leaderProxy.Cut() // for good: only the leader's connection dies
	cut := time.Now()
	rec, err := f.appendEvent(t.Context(), "rnd_after", domain.RenderCancelled{})
	if err != nil {
		t.Fatal(err)
	}
	took := arrived.await(t, rec.ID, 30*time.Second).Sub(cut)
	t.Logf("the standby published %s after the leader's connection died", took.Round(time.Millisecond))
	if bound := time.Second; took > bound {
		t.Errorf("the standby took over after %s, want within %s", took.Round(time.Millisecond), bound)
	}
}

// watchedPublisher passes batches to the real publisher and reports the
// first partial failure and the first success after it.
type watchedPublisher struct {
	relay.Publisher
	partial   chan *kafka.PublishError
	recovered chan struct{}
	failed    bool
}

func (w *watchedPublisher) Publish(msgs []kafka.Outgoing) error {
	err := w.Publisher.Publish(msgs)
	var pe *kafka.PublishError
	switch {
	case errors.As(err, &pe) && !w.failed:
		w.failed = true
		w.partial <- pe
	case err == nil && w.failed:
		close(w.recovered)
		w.failed = false
	}
	return err
}

// A message larger than its topic's max.message.bytes is refused by the
// broker alone (a real partial failure); once the topic takes it, the relay
// sends it again without the rest of its batch, which was written.
func TestRelay_a_partly_failed_batch_sends_again_only_what_failed(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	admin := f.admin()
	assets := f.topics.For(domain.AggregateAsset)
	setMaxMessageBytes := func(v string) {
		t.Helper()
		if err := admin.AlterConfig(sarama.TopicResource, assets, map[string]*string{"max.message.bytes": &v}, false); err != nil {
			t.Fatal(err)
		}
	}
	setMaxMessageBytes("4096")

	// One batch: renders before and after an asset event too large for its
	// topic (random text, so that compression does not shrink it below).
	big := make([]byte, 16<<10)
	_, _ = rand.Read(big)
	n := 0
	appendOne := func(stream string, ev domain.Event) {
		t.Helper()
		if _, err := f.appendEvent(ctx, stream, ev); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for i := range 10 {
		appendOne(fmt.Sprintf("rnd_%d", i%4), domain.RenderCancelled{Attempt: i})
	}
	appendOne("ast_big", domain.AssetCreated{Kind: domain.AssetKindVideo, Name: hex.EncodeToString(big)})
	for i := range 10 {
		appendOne(fmt.Sprintf("rnd_%d", i%4), domain.RenderCancelled{Attempt: 10 + i})
	}

	w := &watchedPublisher{partial: make(chan *kafka.PublishError, 1), recovered: make(chan struct{})}
	f.startRelayWith("relay", 100, func(p relay.Publisher) relay.Publisher { w.Publisher = p; return w })
	var pe *kafka.PublishError
	select {
	case pe = <-w.partial:
	case <-time.After(30 * time.Second):
		t.Fatal("the batch did not fail in part")
	}
	if len(pe.Failed) != 1 || !errors.Is(pe, sarama.ErrMessageSizeTooLarge) {
		t.Fatalf("partial failure %v (failed %v), want the one large message refused", pe, pe.Failed)
	}
	t.Logf("the broker refused %v of %d: %v", pe.Failed, n, pe.Err)
	setMaxMessageBytes("1048576")
	select {
	case <-w.recovered:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay did not send the refused message again")
	}

	got := f.consumeAll(30*time.Second, testenv.Distinct(n))
	seen := map[string]int{}
	for _, c := range got {
		seen[c.Event.ID()]++
	}
	// The topics hold exactly the batch: nothing written twice.
	var records int64
	client, err := sarama.NewClient(f.brokers, kafka.ConsumerConfig("relay-test-offsets"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, topic := range f.topics.All() {
		parts, err := client.Partitions(topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				t.Fatal(err)
			}
			oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			records += newest - oldest
		}
	}
	if records != int64(n) || len(seen) != n {
		t.Fatalf("the topics hold %d records of %d events, want each of the %d once", records, len(seen), n)
	}
}

func (f *fixture) admin() sarama.ClusterAdmin {
	f.t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(f.brokers, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = admin.Close() })
	return admin
}
