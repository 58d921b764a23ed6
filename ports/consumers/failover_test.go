package consumers

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/renderd/renderd/adapters/kafka"
)

// A consumer group whose coordinator dies, with that broker leading every
// partition the group reads, carries on once the cluster has elected new
// leaders and a new coordinator, without the dead broker coming back
// (README.md, the chaos faults: `broker-stop`).
//
// It kill -9s a node of a 3-node stack of its own and leaves it down, so it
// runs only when RENDERD_KAFKA_FAILOVER_DIR names the data directory of
// such a stack (deployments/local/up with RENDERD_KAFKA_NODES=3); bring the
// node back with the same up command afterwards.
func TestConsumer_carries_on_when_its_coordinator_and_leader_dies(t *testing.T) {
	dir := os.Getenv("RENDERD_KAFKA_FAILOVER_DIR")
	if dir == "" {
		t.Skip("RENDERD_KAFKA_FAILOVER_DIR (the data directory of a 3-node stack this test may kill a node of) is not set")
	}
	brokers := stackBrokers(t, dir)
	if len(brokers) < 3 {
		t.Fatalf("%d brokers in %s: a 3-node stack is needed", len(brokers), dir)
	}
	if os.Getenv("RENDERD_SARAMA_LOG") != "" {
		sarama.Logger = stdlog.New(os.Stderr, "[sarama] ", stdlog.Lmicroseconds)
		defer func() { sarama.Logger = stdlog.New(io.Discard, "", 0) }()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, group := "failover-"+suffix, "failover-"+suffix

	// The group's coordinator is the broker to kill; a topic whose every
	// partition it leads makes it the worst case: the node leading all.
	probe, err := sarama.NewClient(brokers, kafka.ConsumerConfig("renderd-test-failover"))
	if err != nil {
		t.Fatal(err)
	}
	coord, err := probe.Coordinator(group)
	if err != nil {
		t.Fatal(err)
	}
	var others []int32
	for _, b := range probe.Brokers() {
		if b.ID() != coord.ID() {
			others = append(others, b.ID())
		}
	}
	assignment := map[int32][]int32{}
	for p := range int32(6) {
		assignment[p] = append([]int32{coord.ID()}, others...)
	}
	admin, err := sarama.NewClusterAdminFromClient(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: assignment}, false); err != nil {
		t.Fatal(err)
	}
	node := slices.Index(brokers, coord.Addr()) + 1
	if node == 0 {
		t.Fatalf("coordinator %s is not one of %v", coord.Addr(), brokers)
	}
	_ = admin.Close()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, wmlog, _ := subscriberConfig(Config{Brokers: brokers, ClientID: "renderd-test-failover"}, group, log)
	sub, err := wmkafka.NewSubscriber(cfg, wmlog)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var received []time.Time
	go func() {
		for m := range msgs {
			mu.Lock()
			received = append(received, time.Now())
			mu.Unlock()
			m.Ack()
		}
	}()

	producer, err := sarama.NewSyncProducer(brokers, kafka.ProducerConfig("renderd-test-failover"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = producer.Close() }()
	var published []time.Time
	pubDone := make(chan struct{})
	stopPub := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; ; i++ {
			select {
			case <-stopPub:
				return
			case <-time.After(50 * time.Millisecond):
			}
			_, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(strconv.Itoa(i)), Value: sarama.StringEncoder(`{}`)})
			if err == nil {
				mu.Lock()
				published = append(published, time.Now())
				mu.Unlock()
			}
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(received) }
	if _, err := waitFor(ctx, 60*time.Second, func() bool { return count() > 20 }); err != nil {
		t.Fatal("the subscriber never consumed before the fault")
	}

	pid := readPid(t, dir, node)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	t.Logf("killed node %d (%s, broker %d, pid %d): coordinator of %s and leader of all 6 partitions of %s", node, coord.Addr(), coord.ID(), pid, group, topic)
	_ = probe.Close()

	// The cluster has moved the group once another broker answers for it.
	movedc := make(chan time.Time, 1)
	go func() {
		c, err := sarama.NewClient(brokers, kafka.ConsumerConfig("renderd-test-failover-probe"))
		if err != nil {
			movedc <- time.Time{}
			return
		}
		defer func() { _ = c.Close() }()
		for ctx.Err() == nil {
			if c.RefreshCoordinator(group) == nil {
				if b, err := c.Coordinator(group); err == nil && b.ID() != coord.ID() {
					movedc <- time.Now()
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		movedc <- time.Time{}
	}()

	// Consuming resumes: a message received well after the kill.
	const bound = 60 * time.Second
	resumed, err := waitFor(ctx, bound, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) > 0 && received[len(received)-1].After(killed.Add(time.Second))
	})
	close(stopPub)
	<-pubDone
	mu.Lock()
	firstPub := time.Time{}
	for _, p := range published {
		if p.After(killed) {
			firstPub = p
			break
		}
	}
	mu.Unlock()
	if err != nil {
		t.Fatalf("consuming had not resumed %s after the kill of node %d, which stays down", bound, node)
	}
	if firstPub.IsZero() {
		t.Fatal("publishing never resumed")
	}
	moved := <-movedc
	if moved.IsZero() {
		t.Fatal("the group's coordinator never moved")
	}
	// Every partition had the dead node for leader: the first publish
	// that succeeds shows that the cluster has elected new leaders; the
	// coordinator's answer, that it has moved the group. The consumer
	// must follow within seconds of both, not wait for the dead broker or
	// for a session timeout.
	t.Logf("after the kill: publishing resumed in %s, the group moved in %s, consuming resumed in %s", firstPub.Sub(killed).Round(100*time.Millisecond),
		moved.Sub(killed).Round(100*time.Millisecond), resumed.Sub(killed).Round(100*time.Millisecond))
	ready := firstPub
	if moved.After(ready) {
		ready = moved
	}
	if lag := resumed.Sub(ready); lag > 5*time.Second {
		t.Errorf("consuming resumed %s after the cluster had moved the group and its partitions", lag.Round(100*time.Millisecond))
	}
}

func waitFor(ctx context.Context, bound time.Duration, ok func() bool) (time.Time, error) {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if ok() {
			return time.Now(), nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("not within %s", bound)
}

// stackBrokers reads KAFKA_BROKERS, node 1's first, from the stack's env file.
func stackBrokers(t *testing.T, dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "stack.env"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "KAFKA_BROKERS="); ok {
			return strings.Split(strings.Trim(v, `'"`), ",")
		}
	}
	t.Fatalf("no KAFKA_BROKERS in %s/stack.env", dir)
	return nil
}

// readPid is the pid of Kafka node n of the stack (deployments/local/up
// names node 1's pid file kafka.pid, node n's kafka-n.pid).
func readPid(t *testing.T, dir string, n int) int {
	name := "kafka.pid"
	if n > 1 {
		name = fmt.Sprintf("kafka-%d.pid", n)
	}
	b, err := os.ReadFile(filepath.Join(dir, "run", name))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
