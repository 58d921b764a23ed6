package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/renderd/renderd/telemetry"
)

// How often the scrape-time gauges read Postgres at most, and how long a
// scrape waits for them: a few scrapers cost one short query a second or
// two, and a database that is slow or away costs a scrape half a second.
const (
	scrapeTTL     = 1500 * time.Millisecond
	scrapeTimeout = 500 * time.Millisecond
)

// QueueStats is the render queue at one moment (render_jobs, which holds
// only the renders not yet completed, failed or cancelled).
type QueueStats struct {
	Pending, Running int64
	// OldestPending is how long the oldest pending render has waited; 0
	// when none waits.
	OldestPending time.Duration
}

// Stats reads the queue in one statement. render_jobs holds in-flight
// renders only (a finished render's row is deleted in its transaction,
// migrations 00006), so the count is over the backlog, not the history,
// and the oldest pending one is the first entry of render_jobs_queue.
func (q *RenderJobs) Stats(ctx context.Context) (QueueStats, error) {
	var s QueueStats
	var oldest float64
	err := q.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'running'),
		coalesce(extract(epoch FROM clock_timestamp() - min(since) FILTER (WHERE state = 'pending')), 0)::float8
		FROM render_jobs`).Scan(&s.Pending, &s.Running, &oldest)
	if err != nil {
		return s, fmt.Errorf("render queue stats: %w", err)
	}
	s.OldestPending = time.Duration(max(oldest, 0) * float64(time.Second))
	return s, nil
}

// QueueCollector exports renderd_render_queue_depth{state} and
// renderd_render_queue_oldest_pending_seconds, read at scrape time.
//
// The encoder role exports it: it owns the queue (it claims from it, and
// its concurrency is what drains it), so the series sit next to its slots
// and encode times and scale with the role that is sized by them. Every
// encoder process reads the same table, so dashboards take max(), not
// sum(), across instances.
func QueueCollector(jobs *RenderJobs, log *slog.Logger) *telemetry.Scrape {
	return telemetry.NewScrape(telemetry.ScrapeConfig{
		Name:  "render_queue",
		Descs: []*telemetry.Desc{telemetry.RenderQueueDepthDesc, telemetry.RenderQueueOldestDesc},
		Read: func(ctx context.Context) ([]telemetry.Sample, error) {
			s, err := jobs.Stats(ctx)
			if err != nil {
				return nil, err
			}
			return []telemetry.Sample{
				{Desc: telemetry.RenderQueueDepthDesc, Value: float64(s.Pending), Labels: []string{"pending"}},
				{Desc: telemetry.RenderQueueDepthDesc, Value: float64(s.Running), Labels: []string{"running"}},
				{Desc: telemetry.RenderQueueOldestDesc, Value: s.OldestPending.Seconds()},
			}, nil
		},
		TTL: scrapeTTL, Timeout: scrapeTimeout, Log: log,
	})
}

// relayLagScan bounds how many unread events the relay-lag query looks at:
// the oldest by recorded_at is among the first few in commit order (a
// transaction's events are recorded at its start, its id drawn at its first
// write), and a relay far behind must not turn a scrape into a scan of the
// backlog.
const relayLagScan = 1000

// RelayLag is the age of the oldest committed event after the named
// reader's checkpoint (0 when there is none): how far behind Kafka the
// event log is. It reads the shared checkpoint, so every relay process,
// leader or standby, gives the same answer. Events of transactions still in
// progress are not visible and not counted; committed events held back
// behind one are, since they are late all the same.
func RelayLag(ctx context.Context, q Querier, name string) (time.Duration, error) {
	var secs float64
	err := q.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM clock_timestamp() - min(recorded_at)), 0)::float8 FROM (
		SELECT recorded_at FROM events
		WHERE (transaction_id, position) > (
			coalesce((SELECT transaction_id FROM log_checkpoints WHERE name = $1), '0'::xid8),
			coalesce((SELECT position FROM log_checkpoints WHERE name = $1), 0))
		ORDER BY transaction_id, position
		LIMIT $2) unread`, name, relayLagScan).Scan(&secs)
	if err != nil {
		return 0, fmt.Errorf("relay lag of %s: %w", name, err)
	}
	return time.Duration(max(secs, 0) * float64(time.Second)), nil
}

// RelayLagCollector exports renderd_relay_lag_seconds for the relay named
// name, read at scrape time. The relay role exports it, in every relay
// process: the checkpoint is shared, so a standby reports the leader's lag
// (and a leader that died without a successor shows as a growing lag).
func RelayLagCollector(q Querier, name string, log *slog.Logger) *telemetry.Scrape {
	return telemetry.NewScrape(telemetry.ScrapeConfig{
		Name:  "relay_lag",
		Descs: []*telemetry.Desc{telemetry.RelayLagDesc},
		Read: func(ctx context.Context) ([]telemetry.Sample, error) {
			lag, err := RelayLag(ctx, q, name)
			if err != nil {
				return nil, err
			}
			return []telemetry.Sample{{Desc: telemetry.RelayLagDesc, Value: lag.Seconds()}}, nil
		},
		TTL: scrapeTTL, Timeout: scrapeTimeout, Log: log,
	})
}
