package consumers_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/postgres/readmodel"
	pt "github.com/renderd/renderd/adapters/postgres/readmodel/readmodeltest"
	"github.com/renderd/renderd/adapters/relay"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/ports/consumers"
	"github.com/renderd/renderd/projections"
)

// fixture is the whole read path on the real stack: a fresh database, fresh
// topics, a relay shipping the event store to them, and the projections.
type fixture struct {
	t       *testing.T
	pool    *pgxpool.Pool
	store   *postgres.EventStore
	codec   *eventschema.Codec
	topics  kafka.Topics
	brokers []string
	assets  *projections.AssetProjector
	cuts    *projections.CutProjector
	renders *projections.RenderProjector
	queries *readmodel.Queries
	waiter  *readmodel.Waiter
}

func newFixture(t *testing.T) *fixture {
	pool := testenv.Postgres(t)
	codec := eventschema.NewCodec()
	log := testenv.Logger(t)
	notify := postgres.NewCommitNotifier(pool, log)
	f := &fixture{t: t, pool: pool, codec: codec, brokers: testenv.KafkaBrokers(t),
		topics: kafka.Topics{Prefix: testenv.TopicPrefix(t)}}
	f.store = postgres.NewEventStore(pool, codec, notify)
	rows := readmodel.NewStore(pool)
	f.assets = projections.NewAssetProjector(rows, f.store, log)
	f.cuts = projections.NewCutProjector(rows, f.store, log)
	f.renders = projections.NewRenderProjector(rows, f.store, log)
	f.queries = readmodel.NewQueries(pool)
	f.waiter = readmodel.NewWaiter(pool, log)
	f.background(notify.Run)
	f.background(f.waiter.Run)
	err := kafka.EnsureTopics(t.Context(), f.brokers, f.topics.All(), kafka.TopicSettings{Partitions: 4, ReplicationFactor: -1}, log)
	if err != nil {
		t.Fatal(err)
	}
	f.startRelay()
	return f
}

// background runs fn until the test ends, and waits for it to return.
func (f *fixture) background(fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(f.t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = fn(ctx) }()
	f.t.Cleanup(func() { cancel(); <-done })
}

func (f *fixture) startRelay() {
	f.t.Helper()
	pub, err := kafka.NewBatchPublisher(f.brokers, kafka.ProducerConfig("projector-test-relay"), kafka.CloudEventsMarshaler{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = pub.Close() })
	connect := func(ctx context.Context) (*pgx.Conn, error) {
		return pgx.ConnectConfig(ctx, f.pool.Config().ConnConfig)
	}
	r, err := relay.New(relay.Config{Name: "relay", BatchSize: 100, PollInterval: 200 * time.Millisecond, StandbyRetry: 100 * time.Millisecond},
		connect, pub, relay.CloudEventsMapper(f.codec, f.topics), testenv.Logger(f.t))
	if err != nil {
		f.t.Fatal(err)
	}
	f.background(r.Run)
}

// startRouter runs the projector router with its own consumer groups.
func (f *fixture) startRouter(groupPrefix string) {
	f.t.Helper()
	r, err := consumers.NewRouter(consumers.Config{Brokers: f.brokers, Topics: f.topics, GroupPrefix: groupPrefix},
		f.codec, consumers.ProjectorHandlers(consumers.Projections{Assets: f.assets, Cuts: f.cuts, Renders: f.renders}), testenv.Logger(f.t))
	if err != nil {
		f.t.Fatal(err)
	}
	f.background(r.Run)
	select {
	case <-r.Running():
	case <-time.After(30 * time.Second):
		f.t.Fatal("router did not start")
	}
}

// append writes events to stream, one transaction each, as commands do.
func (f *fixture) append(stream, account string, events ...domain.Event) []domain.Recorded {
	f.t.Helper()
	var recs []domain.Recorded
	for _, e := range events {
		r, err := pt.Append(f.t.Context(), f.store, stream, account, time.Now(), e)
		if err != nil {
			f.t.Fatal(err)
		}
		recs = append(recs, r...)
	}
	return recs
}

// await waits, as the API does after a write, until the read model shows
// version of stream.
func (f *fixture) await(stream string, version int64) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 60*time.Second)
	defer cancel()
	ok, err := f.waiter.WaitFor(ctx, stream, version)
	if err != nil || !ok {
		f.t.Fatalf("%s never reached v%d in the read model (%v)", stream, version, err)
	}
}

func TestProjectors_asset_and_cut_events_reach_the_read_models_through_kafka(t *testing.T) {
	f := newFixture(t)
	f.startRouter(testenv.TopicPrefix(t))

	now := time.Now()
	assetRecs := f.append("ast_k1", "acc_1", pt.VideoAsset(t, "ast_k1", "acc_1", now, pt.Ready)...)
	cutRecs := f.append("cut_k1", "acc_1", pt.CutRequested("ast_k1"),
		domain.CutCompleted{Segments: []domain.Segment{{Start: time.Second, End: 3 * time.Second}}, Duration: 2 * time.Second})
	f.append("ast_k2", "acc_2", pt.FailedAsset(t, "ast_k2", "acc_2", now)...)
	renderRecs := f.append("rnd_k1", "acc_1", renderEvents(t, "rnd_k1", "acc_1", "ast_k1", now, 20)...)

	f.await("ast_k1", int64(len(assetRecs)))
	f.await("cut_k1", 2)
	f.await("ast_k2", 3)
	f.await("rnd_k1", int64(len(renderRecs)))

	a, err := f.queries.Asset(t.Context(), "acc_1", "ast_k1")
	if err != nil || a.State != domain.AssetStateReady || !a.Cuttable || a.Source == nil || a.ChargedSeconds != 13 ||
		!a.UpdatedAt.Equal(assetRecs[len(assetRecs)-1].OccurredAt) {
		t.Fatalf("asset %+v, %v", a, err)
	}
	c, err := f.queries.Cut(t.Context(), "acc_1", "cut_k1")
	if err != nil || c.State != domain.CutStateCompleted || c.AssetID != "ast_k1" || c.Duration != 2*time.Second ||
		!c.CreatedAt.Equal(cutRecs[0].OccurredAt) {
		t.Fatalf("cut %+v, %v", c, err)
	}
	if b, err := f.queries.Asset(t.Context(), "acc_2", "ast_k2"); err != nil || b.State != domain.AssetStateFailed {
		t.Fatalf("failed asset %+v, %v", b, err)
	}
	if r, err := f.queries.Render(t.Context(), "acc_1", "rnd_k1"); err != nil || r.State != domain.RenderStateCompleted ||
		r.Progress != 100 || r.Result == nil || r.Version != int64(len(renderRecs)) {
		t.Fatalf("render %+v, %v", r, err)
	}

	// A rebuild from the event store gives exactly what Kafka delivered.
	liveAssets, liveCuts, liveRenders := pt.Rows(t, f.pool, "rm_assets"), pt.Rows(t, f.pool, "rm_cuts"), pt.Rows(t, f.pool, "rm_renders")
	if _, err := readmodel.Rebuild(t.Context(), f.pool, f.codec, testenv.Logger(t), f.assets, f.cuts, f.renders); err != nil {
		t.Fatal(err)
	}
	if got := pt.Rows(t, f.pool, "rm_renders"); !reflect.DeepEqual(got, liveRenders) {
		t.Errorf("rebuilt renders differ:\n got %v\nwant %v", got, liveRenders)
	}
	if got := pt.Rows(t, f.pool, "rm_assets"); !reflect.DeepEqual(got, liveAssets) {
		t.Errorf("rebuilt assets differ:\n got %v\nwant %v", got, liveAssets)
	}
	if got := pt.Rows(t, f.pool, "rm_cuts"); !reflect.DeepEqual(got, liveCuts) {
		t.Errorf("rebuilt cuts differ:\n got %v\nwant %v", got, liveCuts)
	}
}

// A renamed consumer group re-reads both topics from the start: every event
// arrives a second time, and the version guard makes that change nothing.
func TestProjectors_a_renamed_group_rereads_the_topics_and_changes_no_row(t *testing.T) {
	f := newFixture(t)
	f.startRouter(testenv.TopicPrefix(t))
	recs := f.append("ast_r1", "acc_1", pt.VideoAsset(t, "ast_r1", "acc_1", time.Now(), pt.Ready)...)
	f.append("cut_r1", "acc_1", pt.CutRequested("ast_r1"))
	renderRecs := f.append("rnd_r1", "acc_1", renderEvents(t, "rnd_r1", "acc_1", "ast_r1", time.Now(), 10)...)
	f.await("ast_r1", int64(len(recs)))
	f.await("cut_r1", 1)
	f.await("rnd_r1", int64(len(renderRecs)))
	beforeAssets, beforeCuts, beforeRenders := pt.Rows(t, f.pool, "rm_assets"), pt.Rows(t, f.pool, "rm_cuts"), pt.Rows(t, f.pool, "rm_renders")

	renamed := testenv.TopicPrefix(t)
	f.startRouter(renamed)
	f.awaitGroupCaughtUp(renamed+consumers.AssetsProjectorGroup, f.topics.For(domain.AggregateAsset))
	f.awaitGroupCaughtUp(renamed+consumers.CutsProjectorGroup, f.topics.For(domain.AggregateCut))
	f.awaitGroupCaughtUp(renamed+consumers.RendersProjectorGroup, f.topics.For(domain.AggregateRender))

	if got := pt.Rows(t, f.pool, "rm_assets"); !reflect.DeepEqual(got, beforeAssets) {
		t.Errorf("assets changed by the re-read:\n got %v\nwant %v", got, beforeAssets)
	}
	if got := pt.Rows(t, f.pool, "rm_cuts"); !reflect.DeepEqual(got, beforeCuts) {
		t.Errorf("cuts changed by the re-read:\n got %v\nwant %v", got, beforeCuts)
	}
	if got := pt.Rows(t, f.pool, "rm_renders"); !reflect.DeepEqual(got, beforeRenders) {
		t.Errorf("renders changed by the re-read:\n got %v\nwant %v", got, beforeRenders)
	}
}

// renderEvents returns a render of assetID brought by the domain through
// an attempt with progress steps to completion: a long stream, one event
// per transaction when appended, as the encoder writes them.
func renderEvents(t *testing.T, id, account, assetID string, at time.Time, steps int) []domain.Event {
	t.Helper()
	r, err := domain.RequestRender(id, account, domain.RenderRequested{AssetID: assetID,
		Output: domain.OutputSpec{Format: domain.FormatM4A},
		Plan:   domain.RenderPlan{AudioBitrate: 128_000, Duration: 12500 * time.Millisecond}, Signature: "sig_" + id}, at)
	if err != nil {
		t.Fatal(err)
	}
	attempt, err := r.Start("worker-1", at.Add(time.Minute), at)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= steps; i++ {
		if err := r.ReportProgress(attempt, i*99/steps, time.Duration(steps-i)*time.Second, time.Duration(i)*time.Second, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Complete(domain.RenderCompleted{Attempt: attempt, BlobKey: "renders/" + id, SizeBytes: 1000,
		Duration: 12500 * time.Millisecond, AudioBitrate: 128_000, EncodeTime: time.Second}, at); err != nil {
		t.Fatal(err)
	}
	return r.Changes()
}

// awaitGroupCaughtUp waits until group has committed the newest offset of
// every partition of topic: it has handled (and acknowledged) everything.
func (f *fixture) awaitGroupCaughtUp(group, topic string) {
	f.t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(f.brokers, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		f.t.Fatal(err)
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		f.t.Fatal(err)
	}
	testenv.Eventually(f.t, 60*time.Second, group+" to catch up with "+topic, func() bool {
		res, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
		if err != nil {
			return false
		}
		for _, p := range parts {
			newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return false
			}
			if newest == 0 {
				continue // an empty partition: nothing to commit
			}
			if block := res.GetBlock(topic, p); block == nil || block.Offset < newest {
				return false
			}
		}
		return true
	})
}

// Records that are no CloudEvents, or carry a payload that does not decode,
// are logged and acknowledged: the events behind them on the same partition
// (same key) are still projected.
func TestProjectors_an_undecodable_message_is_skipped_without_blocking_its_partition(t *testing.T) {
	f := newFixture(t)
	producer, err := sarama.NewSyncProducer(f.brokers, kafka.ProducerConfig("projector-test-poison"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	topic := f.topics.For(domain.AggregateAsset)
	header := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	ceHeaders := func(typ, version string) []sarama.RecordHeader {
		return []sarama.RecordHeader{header("ce_specversion", "1.0"), header("ce_id", "0190c1d2-0000-7000-8000-00000000beef"),
			header("ce_source", "/renderd/assets"), header("ce_type", typ), header("ce_subject", "ast_p1"),
			header("ce_time", time.Now().UTC().Format(time.RFC3339Nano)), header("content-type", "application/json"),
			header("ce_streamtype", "asset"), header("ce_streamversion", version)}
	}
	for name, m := range map[string]*sarama.ProducerMessage{
		"not a cloudevent":     {Value: sarama.StringEncoder("\x00\x01 garbage")},
		"an unknown type":      {Value: sarama.StringEncoder(`{}`), Headers: ceHeaders("asset.exploded.v9", "1")},
		"a payload that fails": {Value: sarama.StringEncoder(`[1, 2]`), Headers: ceHeaders(eventschema.AssetCreatedV1, "1")},
		"no stream version":    {Value: sarama.StringEncoder(`{"kind":"video","name":"x"}`), Headers: ceHeaders(eventschema.AssetCreatedV1, "")},
	} {
		m.Topic, m.Key = topic, sarama.StringEncoder("ast_p1") // the partition of the real events below
		if _, _, err := producer.SendMessage(m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	f.startRouter(testenv.TopicPrefix(t))
	recs := f.append("ast_p1", "acc_1", pt.VideoAsset(t, "ast_p1", "acc_1", time.Now(), pt.Uploaded)...)
	f.await("ast_p1", int64(len(recs)))
}

// A projector that fails transiently is retried; the message is not lost.
func TestProjectors_a_transient_failure_is_retried_until_it_succeeds(t *testing.T) {
	f := newFixture(t)
	flaky := &flakyProjector{next: f.assets, failures: 5} // more than one round of in-handler retries
	r, err := consumers.NewRouter(consumers.Config{Brokers: f.brokers, Topics: f.topics, GroupPrefix: testenv.TopicPrefix(t)},
		f.codec, consumers.ProjectorHandlers(consumers.Projections{Assets: flaky, Cuts: f.cuts, Renders: f.renders}), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	f.background(r.Run)
	recs := f.append("ast_f1", "acc_1", pt.VideoAsset(t, "ast_f1", "acc_1", time.Now(), pt.Created)...)
	f.await("ast_f1", recs[0].StreamVersion)
	if n := flaky.calls(); n < 6 {
		t.Fatalf("%d calls, want the 5 failures retried", n)
	}
}

type flakyProjector struct {
	next     consumers.EventHandler
	mu       sync.Mutex
	failures int
	n        int
}

func (p *flakyProjector) Handle(ctx context.Context, rec domain.Recorded) error {
	p.mu.Lock()
	p.n++
	fail := p.n <= p.failures
	p.mu.Unlock()
	if fail {
		return context.DeadlineExceeded // stands in for a database that is briefly away
	}
	return p.next.Handle(ctx, rec)
}

func (p *flakyProjector) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// A panicking projection is a bug that the same message would trigger again:
// the message is logged and skipped, and the stream's next event fills the
// row in from the event store.
func TestProjectors_a_panic_skips_the_message_and_the_next_event_heals_the_row(t *testing.T) {
	f := newFixture(t)
	boom := &panickyProjector{next: f.assets, version: 1}
	r, err := consumers.NewRouter(consumers.Config{Brokers: f.brokers, Topics: f.topics, GroupPrefix: testenv.TopicPrefix(t)},
		f.codec, consumers.ProjectorHandlers(consumers.Projections{Assets: boom, Cuts: f.cuts, Renders: f.renders}), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	f.background(r.Run)
	events := pt.VideoAsset(t, "ast_x1", "acc_1", time.Now(), pt.Uploaded)
	f.append("ast_x1", "acc_1", events[0])
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if ok, _ := f.waiter.WaitFor(ctx, "ast_x1", 1); ok {
		t.Fatal("v1 was projected although its projection panicked")
	}
	f.append("ast_x1", "acc_1", events[1])
	f.await("ast_x1", 2)
	if v, err := f.queries.Asset(t.Context(), "acc_1", "ast_x1"); err != nil || v.State != domain.AssetStateProcessing {
		t.Fatalf("asset %+v, %v", v, err)
	}
}

type panickyProjector struct {
	next    consumers.EventHandler
	version int64
}

func (p *panickyProjector) Handle(ctx context.Context, rec domain.Recorded) error {
	if rec.StreamVersion == p.version {
		panic("a bug in the projection")
	}
	return p.next.Handle(ctx, rec)
}

// A router that stops takes its members out of their groups (they are
// static members, which do not leave on close): the group is down to the
// other router's member well before a session timeout would have removed
// them.
func TestProjectors_a_stopped_router_leaves_its_groups_at_once(t *testing.T) {
	f := newFixture(t)
	prefix := testenv.TopicPrefix(t)
	f.startRouter(prefix)
	ctx, cancel := context.WithCancel(t.Context())
	r, err := consumers.NewRouter(consumers.Config{Brokers: f.brokers, Topics: f.topics, GroupPrefix: prefix},
		f.codec, consumers.ProjectorHandlers(consumers.Projections{Assets: f.assets, Cuts: f.cuts, Renders: f.renders}), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Running()
	admin, err := sarama.NewClusterAdmin(f.brokers, kafka.ConsumerConfig("projector-test-admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	group := prefix + consumers.RendersProjectorGroup
	members := func() int {
		ds, err := admin.DescribeConsumerGroups([]string{group})
		if err != nil || len(ds) != 1 {
			return -1
		}
		return len(ds[0].Members)
	}
	deadline := time.Now().Add(30 * time.Second)
	for members() != 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := members(); n != 2 {
		t.Fatalf("%s has %d members, want both routers'", group, n)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// The session timeout is sarama's default, 10 s.
	for members() != 1 && time.Since(stopped) < 15*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	if took := time.Since(stopped); members() != 1 || took > 5*time.Second {
		t.Errorf("%s had %d members %s after a router stopped, want 1 within 5 s", group, members(), took.Round(100*time.Millisecond))
	}
}
