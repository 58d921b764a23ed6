package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
)

// stack is the chaos suite's own Postgres and Kafka (3 nodes), started by
// deployments/local/up with RENDERD_DATA_DIR: the faults stop, kill and
// restart them, which the shared stack of `make run` and `make test` must
// never see.
type stack struct {
	dataDir string // RENDERD_DATA_DIR: pg/, kafka/, run/, logs/
	upCmd   string // deployments/local/up
	dsn     string
	brokers []string
}

func (s *stack) pgData() string { return filepath.Join(s.dataDir, "pg") }
func (s *stack) pgLog() string  { return filepath.Join(s.dataDir, "logs", "postgres.log") }

// pgCtl runs pg_ctl as the cluster's owner: postgres when we are root
// (Postgres refuses root), ourselves otherwise, as deployments/local does.
func (s *stack) pgCtl(ctx context.Context, args ...string) error {
	ver, err := os.ReadFile(filepath.Join(s.pgData(), "PG_VERSION"))
	if err != nil {
		return err
	}
	bin := filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(ver)), "bin", "pg_ctl")
	// -l: the server must not inherit our pipes (Wait would wait for it).
	argv := append([]string{bin, "-D", s.pgData(), "-l", s.pgLog(), "-s", "-w", "-t", "60"}, args...)
	if os.Geteuid() == 0 {
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/" // the postgres user may not enter our working folder
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// pgUp reports whether Postgres accepts a connection and answers a query.
func (s *stack) pgUp(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, s.dsn)
	if err != nil {
		return false
	}
	defer c.Close(context.WithoutCancel(ctx)) //nolint:errcheck // a probe
	_, err = c.Exec(cctx, "SELECT 1")
	return err == nil
}

// killPostgres sends SIGKILL to the postmaster and every process it
// started, as a machine losing the whole server would, and waits until
// they are gone.
func (s *stack) killPostgres() error {
	raw, err := os.ReadFile(filepath.Join(s.pgData(), "postmaster.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	if !cmdlineHas(pid, "-D "+s.pgData()) {
		return fmt.Errorf("pid %d is not this stack's postmaster", pid)
	}
	pids := append([]int{pid}, children(pid)...)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	// Until reaped, not only dead: a new postmaster refuses to start while
	// the pid in postmaster.pid names any process, a zombie too.
	return waitGone(pids, 30*time.Second, exists)
}

// startPostgres starts the cluster after a crash. A crashed postmaster's
// children may still hold its shared memory for a moment, and a new
// postmaster refuses to start meanwhile: retry a few times.
func (s *stack) startPostgres(ctx context.Context) error {
	var err error
	for range 10 {
		if err = s.pgCtl(ctx, "start"); err == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err
}

// kafkaNode is one node of this stack's Kafka: its node id (1, 2, 3), the
// config file it runs with and its pid file, as deployments/local/lib.sh
// names them (node 1 keeps a single node's names).
func (s *stack) kafkaNode(n int) (config, pidFile string) {
	sfx := ""
	if n > 1 {
		sfx = "-" + strconv.Itoa(n)
	}
	return filepath.Join(s.dataDir, "kafka", "server"+sfx+".properties"), filepath.Join(s.dataDir, "run", "kafka"+sfx+".pid")
}

// nodes is how many Kafka nodes the stack runs: one per broker address.
func (s *stack) nodes() int { return len(s.brokers) }

// kafkaPID is node n's process, checked against its command line.
func (s *stack) kafkaPID(n int) (int, error) {
	config, pidFile := s.kafkaNode(n)
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(pidFile), err)
	}
	if !cmdlineHas(pid, "kafka.Kafka "+config) {
		return 0, fmt.Errorf("pid %d is not this stack's Kafka node %d", pid, n)
	}
	return pid, nil
}

// kafkaRunning reports whether every node's process runs.
func (s *stack) kafkaRunning() bool {
	for n := 1; n <= s.nodes(); n++ {
		if pid, err := s.kafkaPID(n); err != nil || !alive(pid) {
			return false
		}
	}
	return true
}

// stopKafka stops every node cleanly (SIGTERM), all at once, as
// deployments/local/down does.
func (s *stack) stopKafka() error {
	var pids []int
	for n := 1; n <= s.nodes(); n++ {
		pid, err := s.kafkaPID(n)
		if err != nil {
			return err
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			return err
		}
		pids = append(pids, pid)
	}
	// A node's controlled shutdown waits for the controller quorum, which
	// is stopping too: one such node once still ran after a minute, and
	// the fault never restarted the cluster. The outage is what the fault
	// is about, not how gracefully it began: a node still running after
	// 20 s is killed, as an operator would.
	if err := waitGone(pids, 20*time.Second, alive); err != nil {
		for _, pid := range pids {
			if alive(pid) {
				fmt.Fprintf(os.Stderr, "   kafka pid %d still stopping after 20 s: SIGKILL\n", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return waitGone(pids, 30*time.Second, alive)
	}
	return nil
}

// killKafkaNode sends SIGKILL to node n, as a machine losing its power
// would (no controlled shutdown: its partitions keep it as their leader
// until the controller fences it), and waits until it is gone.
func (s *stack) killKafkaNode(n int) error {
	pid, err := s.kafkaPID(n)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	return waitGone([]int{pid}, 30*time.Second, alive)
}

// kafkaClient connects to the stack's brokers for one probe.
func (s *stack) kafkaClient() (sarama.Client, error) {
	cfg := sarama.NewConfig()
	cfg.Net.DialTimeout = time.Second
	cfg.Metadata.Retry.Max = 0
	return sarama.NewClient(s.brokers, cfg)
}

// leaderOfMost is the node leading the most partitions, internal topics
// (the consumer groups' offsets) included, and how many it leads.
func (s *stack) leaderOfMost() (node, led int, err error) {
	c, err := s.kafkaClient()
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	topics, err := c.Topics()
	if err != nil {
		return 0, 0, err
	}
	counts := map[int32]int{}
	for _, topic := range topics {
		parts, err := c.Partitions(topic)
		if err != nil {
			return 0, 0, err
		}
		for _, p := range parts {
			b, err := c.Leader(topic, p)
			if err != nil {
				return 0, 0, fmt.Errorf("%s/%d: %w", topic, p, err)
			}
			counts[b.ID()]++
		}
	}
	for id, n := range counts {
		if n > led || (n == led && int(id) < node) {
			node, led = int(id), n
		}
	}
	if node == 0 {
		return 0, 0, errors.New("no partition has a leader")
	}
	return node, led, nil
}

// nodeRegistered reports whether node is among the cluster's live
// brokers again (registered with the controller and unfenced).
func (s *stack) nodeRegistered(node int) bool {
	c, err := s.kafkaClient()
	if err != nil {
		return false
	}
	defer c.Close()
	for _, b := range c.Brokers() {
		if b.ID() == int32(node) { //nolint:gosec // a node id
			return true
		}
	}
	return false
}

// replicatedOn reports whether node is in the in-sync replicas of every
// partition it holds a replica of: it caught up after its return.
func (s *stack) replicatedOn(node int) bool {
	return s.everyPartition(func(c sarama.Client, topic string, p int32) bool {
		replicas, err := c.Replicas(topic, p)
		if err != nil {
			return false
		}
		isr, err := c.InSyncReplicas(topic, p)
		if err != nil {
			return false
		}
		return !slices.Contains(replicas, int32(node)) || slices.Contains(isr, int32(node)) //nolint:gosec // a node id
	})
}

// everyPartition reports whether ok holds for every partition of every
// topic the cluster lists; false when Kafka does not answer.
func (s *stack) everyPartition(ok func(c sarama.Client, topic string, p int32) bool) bool {
	c, err := s.kafkaClient()
	if err != nil {
		return false
	}
	defer c.Close()
	topics, err := c.Topics()
	if err != nil {
		return false
	}
	for _, topic := range topics {
		parts, err := c.Partitions(topic)
		if err != nil {
			return false
		}
		for _, p := range parts {
			if !ok(c, topic, p) {
				return false
			}
		}
	}
	return true
}

// up runs deployments/local/up for this stack (its environment names the
// data folder and ports): it starts whatever of the two is not running.
func (s *stack) up(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, s.upCmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", s.upCmd, err, tail(out, 15))
	}
	return nil
}

// kafkaUp reports whether the cluster is back whole and accepts the
// relay's writes: every node is registered, and every partition has a
// leader and as many in-sync replicas as min.insync.replicas asks of a
// write with acks=all (2, or 1 for a partition with a single copy;
// adapters/kafka/topics.go).
//
// Every node, because the in-sync sets the metadata shows are not enough
// alone: after the whole cluster restarted, one answer showed two replicas
// in sync for a partition whose leader went on refusing writes with
// NOT_ENOUGH_REPLICAS for 5 s, until its third node had registered.
func (s *stack) kafkaUp() bool {
	// Answering metadata is not enough: a restarted broker serves it
	// before it is unfenced, and until then its partitions have no leader
	// and every produce fails. After the whole cluster restarted, a
	// partition can also have its leader back before a second replica has
	// caught up, and until then the leader refuses every write
	// (NOT_ENOUGH_REPLICAS): the relay cannot publish, however soon it
	// tries, so the outage lasts until then.
	return s.everyPartition(func(c sarama.Client, topic string, p int32) bool {
		if len(c.Brokers()) < s.nodes() { // the client's metadata: no request
			return false
		}
		if _, err := c.Leader(topic, p); err != nil {
			return false
		}
		replicas, err := c.Replicas(topic, p)
		if err != nil {
			return false
		}
		isr, err := c.InSyncReplicas(topic, p)
		return err == nil && len(isr) >= min(2, len(replicas))
	})
}

// cmdlineHas reports whether process pid runs with needle in its command line.
func cmdlineHas(pid int, needle string) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(bytes.ReplaceAll(raw, []byte{0}, []byte{' '})), needle)
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, d := range dirs {
		raw, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid …": comm may hold spaces, so split after ')'.
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(raw[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if c, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(d, "/proc/"), "/stat")); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// alive reports whether pid is a live process (a zombie is not).
func alive(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(raw, ')')
	return i >= 0 && len(raw) > i+2 && raw[i+2] != 'Z' && raw[i+2] != 'X'
}

// exists reports whether pid names a process, a zombie included.
func exists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// waitGone waits until present says none of pids is there any more.
func waitGone(pids []int, bound time.Duration, present func(int) bool) error {
	deadline := time.Now().Add(bound)
	for _, p := range pids {
		for present(p) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pid %d still runs after %s", p, bound)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// waitUntil polls probe every interval until it holds or bound passes, and
// returns when it first held.
func waitUntil(ctx context.Context, bound, interval time.Duration, probe func() bool) (time.Time, error) {
	deadline := time.Now().Add(bound)
	for {
		if probe() {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not within %s", bound)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(interval):
		}
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
