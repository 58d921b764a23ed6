package consumers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/ports/consumers"
)

// A router is ready once each of its groups has settled with this router's
// member holding its assignment, and not before; a member left without a
// partition (more members than partitions) is ready too; a stopped router
// is not.
func TestRouter_is_ready_once_every_group_has_assigned_its_partitions(t *testing.T) {
	f := newFixture(t)
	// Topics of one partition each: of two routers, one holds nothing.
	topics := kafka.Topics{Prefix: testenv.TopicPrefix(t)}
	if err := kafka.EnsureTopics(t.Context(), f.brokers, topics.All(), kafka.TopicSettings{Partitions: 1, ReplicationFactor: -1}, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	newRouter := func() *consumers.Router {
		r, err := consumers.NewRouter(consumers.Config{Brokers: f.brokers, Topics: topics, GroupPrefix: topics.Prefix},
			f.codec, consumers.ProjectorHandlers(consumers.Projections{Assets: f.assets, Cuts: f.cuts, Renders: f.renders}), testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	run := func(r *consumers.Router) (stop func() error) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; done <- nil })
		return func() error { cancel(); err := <-done; done <- nil; return err }
	}

	first := newRouter()
	err := first.Ready()
	if err == nil {
		t.Fatal("a router that has not run is ready")
	}
	for _, g := range []string{consumers.AssetsProjectorGroup, consumers.CutsProjectorGroup, consumers.RendersProjectorGroup} {
		if !strings.Contains(err.Error(), topics.Prefix+g) {
			t.Errorf("Ready() = %v, want it to name %s", err, g)
		}
	}
	stopFirst := run(first)
	testenv.Eventually(t, 60*time.Second, "the first router to be ready", func() bool { return first.Ready() == nil })

	// Ready means the cluster agrees: each group stable, its one member
	// holding the topic's partition.
	admin, err := sarama.NewClusterAdmin(f.brokers, kafka.ConsumerConfig("ready-test-admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	groups := []string{topics.Prefix + consumers.AssetsProjectorGroup, topics.Prefix + consumers.CutsProjectorGroup, topics.Prefix + consumers.RendersProjectorGroup}
	ds, err := admin.DescribeConsumerGroups(groups)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.State != "Stable" || len(d.Members) != 1 {
			t.Errorf("%s: state %s with %d members while the router is ready, want Stable with 1", d.GroupId, d.State, len(d.Members))
			continue
		}
		for _, m := range d.Members {
			a, err := m.GetMemberAssignment()
			if err != nil || len(a.Topics) != 1 {
				t.Errorf("%s: member %s holds %v (%v), want its topic's partition", d.GroupId, m.MemberId, a, err)
			}
		}
	}

	// A second member: one of the two holds no partition, and both are
	// ready once the groups have settled again.
	second := newRouter()
	stopSecond := run(second)
	testenv.Eventually(t, 60*time.Second, "both routers to be ready", func() bool {
		ds, err := admin.DescribeConsumerGroups(groups)
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.State != "Stable" || len(d.Members) != 2 {
				return false
			}
		}
		return first.Ready() == nil && second.Ready() == nil
	})

	if err := stopSecond(); err != nil {
		t.Fatal(err)
	}
	if second.Ready() == nil {
		t.Error("a stopped router is ready")
	}
	if err := stopFirst(); err != nil {
		t.Fatal(err)
	}
	if first.Ready() == nil {
		t.Error("a stopped router is ready")
	}
}
