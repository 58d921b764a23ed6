package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// The event store is the source of truth for every assertion: the read
// models and the receiver are checked against it.
const (
	evCompleted = "render.completed.v1"
	evFailed    = "render.failed.v1"
	evCancelled = "render.cancelled.v1"
)

// relayCheckpointSince is when the relay saved a checkpoint after since,
// that is published a batch (it saves one after each).
func (h *harness) relayCheckpointSince(ctx context.Context, since time.Time) (time.Time, bool) {
	var at time.Time
	err := h.pool.QueryRow(ctx, `SELECT updated_at FROM log_checkpoints WHERE name = 'kafka-relay'`).Scan(&at)
	return at, err == nil && at.After(since)
}

// completedSince is the first render.completed recorded after since.
func (h *harness) completedSince(ctx context.Context, since time.Time) (time.Time, bool) {
	var at *time.Time
	err := h.pool.QueryRow(ctx, `SELECT min(recorded_at) FROM events WHERE event_type = $1 AND recorded_at > $2`, evCompleted, since).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, false
	}
	return *at, true
}

// projectedSince reports when the render read model first showed a render
// completed after since (the time it was seen: the row has no wall clock).
func (h *harness) projectedSince(since time.Time) (time.Time, bool) {
	var n int
	err := h.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM events e JOIN rm_renders r ON r.id = e.stream_id
		WHERE e.event_type = $1 AND e.recorded_at > $2 AND r.state = 'completed'`, evCompleted, since).Scan(&n)
	return time.Now(), err == nil && n > 0
}

// runningOn lists the renders whose lease the encoder process pid holds
// (its default worker id is host-pid-suffix).
func (h *harness) runningOn(ctx context.Context, pid int) []string {
	rows, err := h.pool.Query(ctx, `SELECT render_id FROM render_jobs WHERE state = 'running' AND worker_id LIKE $1`,
		"%-"+strconv.Itoa(pid)+"-%")
	if err != nil {
		return nil
	}
	var ids []string
	for rows.Next() {
		var id string
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// terminalAt is when the last of ids ended, once all have.
func (h *harness) terminalAt(ctx context.Context, ids []string) (time.Time, bool) {
	var n int
	var last *time.Time
	err := h.pool.QueryRow(ctx, `SELECT count(DISTINCT stream_id), max(recorded_at) FROM events
		WHERE stream_id = ANY($1) AND event_type IN ($2, $3, $4)`, ids, evCompleted, evFailed, evCancelled).Scan(&n, &last)
	if err != nil || n < len(ids) || last == nil {
		return time.Time{}, false
	}
	return *last, true
}

// terminalEventIDs are the ids of the account's render.completed and
// render.failed events: the webhook-ids its endpoint must receive.
func (h *harness) terminalEventIDs(ctx context.Context, account string) ([]string, error) {
	rows, err := h.pool.Query(ctx, `SELECT event_id::text FROM events WHERE account_id = $1 AND event_type IN ($2, $3)`,
		account, evCompleted, evFailed)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// renderCounts is what the event store says of one account's renders.
type renderCounts struct {
	streams, completed, failed, cancelled int
	open                                  []string // not terminal
	doubled                               []string // more than one terminal event
	missing                               []string // answered 201, yet no stream
}

func (h *harness) countRenders(ctx context.Context, account string, accepted []string) (renderCounts, error) {
	rows, err := h.pool.Query(ctx, `
		SELECT stream_id,
		       count(*) FILTER (WHERE event_type = $2),
		       count(*) FILTER (WHERE event_type = $3),
		       count(*) FILTER (WHERE event_type = $4)
		FROM events WHERE stream_type = 'render' AND account_id = $1 GROUP BY stream_id`,
		account, evCompleted, evFailed, evCancelled)
	if err != nil {
		return renderCounts{}, err
	}
	var c renderCounts
	seen := map[string]bool{}
	for rows.Next() {
		var id string
		var done, failed, cancelled int
		if err := rows.Scan(&id, &done, &failed, &cancelled); err != nil {
			return renderCounts{}, err
		}
		seen[id] = true
		c.streams++
		switch n := done + failed + cancelled; {
		case n == 0:
			c.open = append(c.open, id)
		case n > 1:
			c.doubled = append(c.doubled, id)
		}
		c.completed += min(done, 1)
		c.failed += min(failed, 1)
		c.cancelled += min(cancelled, 1)
	}
	if err := rows.Err(); err != nil {
		return renderCounts{}, err
	}
	for _, id := range accepted {
		if !seen[id] {
			c.missing = append(c.missing, id)
		}
	}
	return c, nil
}

// projectionLag counts the account's renders whose read-model row is not
// at its stream's last version yet.
func (h *harness) projectionLag(ctx context.Context, account string) (int, error) {
	var n int
	err := h.pool.QueryRow(ctx, `
		SELECT count(*) FROM (SELECT stream_id, max(stream_version) AS v FROM events
		                      WHERE stream_type = 'render' AND account_id = $1 GROUP BY stream_id) e
		LEFT JOIN rm_renders r ON r.id = e.stream_id
		WHERE r.version IS DISTINCT FROM e.v`, account).Scan(&n)
	return n, err
}

// verify runs `renderd verify`: the event log's invariants, exit 0.
func (h *harness) verify(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, renderdBin, "verify")
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("renderd verify: %w\n%s", err, tail(out, 20))
	}
	return nil
}

var differRE = regexp.MustCompile(`(?m)^(\S+)\s+(\d+) rows differ from the live read model$`)

// replayDiffers runs `renderd replay` and counts the rows that differ from
// the live read models. Rows a live projector had not reached yet differ
// too: a second run tells those from real differences.
func (h *harness) replayDiffers(ctx context.Context) (int, string, error) {
	var n int
	var out []byte
	for try := 0; try < 2; try++ {
		cmd := exec.CommandContext(ctx, renderdBin, "replay")
		cmd.Env = h.env
		var err error
		if out, err = cmd.Output(); err != nil {
			return 0, "", fmt.Errorf("renderd replay: %w\n%s", err, tail(out, 20))
		}
		n = 0
		for _, m := range differRE.FindAllSubmatch(out, -1) {
			d, _ := strconv.Atoi(string(m[2]))
			n += d
		}
		if n == 0 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	return n, string(out), nil
}

// missingOnKafka lists the account's events (of the aggregates renderd
// publishes) that the event store holds and no Kafka topic does, by the
// CloudEvents id of each record (its ce_id header). The relay publishes
// every event at least once, and a write Kafka acknowledged must survive
// a broker's death.
func (h *harness) missingOnKafka(ctx context.Context, account string) ([]string, error) {
	rows, err := h.pool.Query(ctx, `SELECT event_id::text FROM events WHERE account_id = $1 AND stream_type IN ('asset', 'cut', 'render')`, account)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		want[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	c, err := h.stack.kafkaClient()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	consumer, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	topics, err := c.Topics()
	if err != nil {
		return nil, err
	}
	for _, topic := range topics {
		if !strings.HasPrefix(topic, "renderd.") {
			continue
		}
		parts, err := c.Partitions(topic)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if err := readPartition(ctx, c, consumer, topic, p, want); err != nil {
				return nil, err
			}
		}
	}
	var missing []string
	for id, absent := range want {
		if absent {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	return missing, nil
}

// readPartition reads one partition from its oldest record to its newest
// and marks the ids of want it holds as found.
func readPartition(ctx context.Context, c sarama.Client, consumer sarama.Consumer, topic string, p int32, want map[string]bool) error {
	newest, err := c.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("%s/%d: %w", topic, p, err)
	}
	oldest, err := c.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("%s/%d: %w", topic, p, err)
	}
	if newest <= oldest {
		return nil
	}
	pc, err := consumer.ConsumePartition(topic, p, oldest)
	if err != nil {
		return fmt.Errorf("%s/%d: %w", topic, p, err)
	}
	defer pc.Close()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			for _, hd := range m.Headers {
				if string(hd.Key) == "ce_id" && want[string(hd.Value)] {
					want[string(hd.Value)] = false
				}
			}
			if m.Offset >= newest-1 {
				return nil
			}
		case err := <-pc.Errors():
			return fmt.Errorf("%s/%d: %w", topic, p, err)
		case <-timeout:
			return fmt.Errorf("%s/%d: not read to offset %d within 30s", topic, p, newest)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
