// Package relay ships committed events from the Postgres event store (which
// doubles as the outbox) to Kafka. Exactly one relay is active at a time: the
// leader holds a session advisory lock; standbys retry it and take over when
// the leader's connection dies. Delivery is at least once: a crash between
// publishing a batch and saving the checkpoint re-sends that batch, and so
// does a batch given up on (the leader's connection lost while it retried).
// A batch that fails in part sends again only what failed (docs/events.md).
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/outage"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/telemetry"
)

// Config tunes a relay.
type Config struct {
	// Name keys the leader lock and the checkpoint. Relays with the same name
	// form one active/standby group.
	Name string
	// BatchSize is the most events read and published in one round.
	BatchSize int
	// PollInterval is how long the relay waits for a commit notification
	// before looking for new events anyway.
	PollInterval time.Duration
	// StandbyRetry is how often a standby tries to become the leader.
	StandbyRetry time.Duration
}

// Publisher sends a batch to Kafka and returns once all of it is
// acknowledged. An error that is a *kafka.PublishError names the messages
// that failed (the others were written); any other error may have written
// any of them.
type Publisher interface {
	Publish(msgs []kafka.Outgoing) error
}

// Relay is one relay process's loop.
type Relay struct {
	cfg     Config
	connect func(ctx context.Context) (*pgx.Conn, error)
	pub     Publisher
	toMsg   func(postgres.LogEntry) (kafka.Outgoing, error)
	log     *slog.Logger
}

// New returns a relay. connect opens a dedicated connection (not from a pool):
// the leader lock lives as long as that connection. toMsg maps a log entry to
// its Kafka topic and CloudEvents message.
func New(cfg Config, connect func(ctx context.Context) (*pgx.Conn, error), pub Publisher,
	toMsg func(postgres.LogEntry) (kafka.Outgoing, error), log *slog.Logger) (*Relay, error) {
	switch {
	case cfg.Name == "":
		return nil, errors.New("relay: a name is required")
	case cfg.BatchSize < 1:
		return nil, errors.New("relay: batch size must be at least 1")
	case cfg.PollInterval <= 0 || cfg.StandbyRetry <= 0:
		return nil, errors.New("relay: poll interval and standby retry must be positive")
	}
	return &Relay{cfg: cfg, connect: connect, pub: pub, toMsg: toMsg, log: log.With("relay", cfg.Name)}, nil
}

// Session retries. A session that worked is followed by a retry after
// retryMin, however long earlier outages were; failures in a row double
// the wait up to retryMax. retryMax is low on purpose: a refused connection
// costs the relay and Postgres next to nothing, and while the relay waits
// nothing is published, so the wait after a dependency returns must stay
// well inside the second that docs/events.md promises.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 500 * time.Millisecond
)

// Run relays until ctx ends. Errors (a lost connection, an unreachable broker)
// are retried; only ctx ends it. The log gets one WARN when sessions start
// failing and one INFO when one works again, not a line per retry.
func (r *Relay) Run(ctx context.Context) error {
	link := outage.NewTracker(r.log, "relay session failed, retrying", "relay session works again", time.Now)
	wait := retryMin
	for ctx.Err() == nil {
		worked := false
		err := r.session(ctx, func() {
			if !worked {
				worked = true
				link.Succeeded()
			}
		})
		if ctx.Err() != nil {
			break
		}
		if worked {
			wait = retryMin
		}
		link.Failed(err, "retry_in", wait)
		sleep(ctx, wait)
		wait = min(2*wait, retryMax)
	}
	return nil
}

// session connects, waits to become the leader and relays until an error.
// Closing the connection (on return) releases the leadership. It calls
// worked once the session has done its job at least once: as the leader,
// read the log and shipped what it found; as a standby, had its bid for
// the lock answered. A connection that breaks before that (a server that
// accepts and drops it) is a failure in a row, and backs off.
func (r *Relay) session(ctx context.Context, worked func()) error {
	conn, err := r.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the session is over either way

	if err := r.becomeLeader(ctx, conn, worked); err != nil {
		return err
	}
	// A checkpoint lost in a crash only re-sends one batch, which consumers
	// dedupe anyway; so the relay does not wait for the WAL flush of each one.
	if _, err := conn.Exec(ctx, "SET synchronous_commit = off; LISTEN "+postgres.EventsChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cp, err := postgres.LoadCheckpoint(ctx, conn, r.cfg.Name)
	if err != nil {
		return err
	}
	r.log.Info("relay is the leader", "checkpoint_tx", cp.TransactionID, "checkpoint_position", cp.Position)
	var heldWait time.Duration // grows while rounds ship nothing
	for {
		n, next, err := r.relayBatch(ctx, conn, cp)
		if err != nil {
			return err
		}
		worked()
		cp = next
		if n > 0 {
			// Under load more has committed while this batch was out: look
			// again at once rather than ask whether to.
			heldWait = 0
			continue
		}
		// Events committed behind a transaction still in progress (or just
		// now): look again soon, since that transaction's commit may wake
		// nobody; back off while nothing ships (a long transaction).
		unread, err := postgres.Unread(ctx, conn, cp)
		if err != nil {
			return err
		}
		wait := r.cfg.PollInterval
		if unread {
			heldWait = min(max(2*heldWait, 2*time.Millisecond), r.cfg.PollInterval)
			wait = heldWait
		}
		if err := r.waitForCommits(ctx, conn, wait); err != nil {
			return err
		}
	}
}

// becomeLeader returns once conn holds the leader lock; as a standby it
// calls worked after its first answered bid.
func (r *Relay) becomeLeader(ctx context.Context, conn *pgx.Conn, worked func()) error {
	key := postgres.LockKey("renderd.relay:" + r.cfg.Name)
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			return fmt.Errorf("leader lock: %w", err)
		}
		if got {
			return nil
		}
		worked()
		if !sleep(ctx, r.cfg.StandbyRetry) {
			return ctx.Err()
		}
	}
}

// relayBatch publishes the next batch after cp and saves the new checkpoint.
func (r *Relay) relayBatch(ctx context.Context, conn *pgx.Conn, cp postgres.Checkpoint) (int, postgres.Checkpoint, error) {
	began := time.Now()
	entries, err := postgres.ReadLog(ctx, conn, cp, r.cfg.BatchSize)
	if err != nil || len(entries) == 0 {
		return 0, cp, err
	}
	endSpans := publishSpans(ctx, entries)
	msgs := make([]kafka.Outgoing, 0, len(entries))
	for _, e := range entries {
		m, err := r.toMsg(e)
		if err != nil {
			// A stored event we cannot map is a bug, not a transient fault;
			// stopping here keeps the log's order for everything after it.
			err = fmt.Errorf("event %s (%s): %w", e.ID, e.WireName, err)
			endSpans(err)
			return 0, cp, err
		}
		msgs = append(msgs, m)
	}
	read := time.Since(began)
	// A batch that fails in part is completed here, within the session:
	// ending it would re-read the batch and send its written part again.
	// The checkpoint moves only past a batch that is written whole.
	err = publishAll(ctx, r.pub, msgs, conn.Ping, r.log)
	endSpans(err)
	if err != nil {
		return 0, cp, err
	}
	// Counted once Kafka has the batch whole, checkpoint or not: a batch
	// sent again after a lost checkpoint counts again (at least once).
	telemetry.RelayPublished.Add(float64(len(msgs)))
	published := time.Since(began)
	next := entries[len(entries)-1].Checkpoint
	// Record a published batch even while shutting down, so a graceful stop
	// re-sends nothing.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := postgres.SaveCheckpoint(sctx, conn, r.cfg.Name, next); err != nil {
		return 0, cp, err
	}
	r.log.Debug("relayed events", "count", len(entries), "position", next.Position,
		"read", read, "publish", published-read, "checkpoint", time.Since(began)-published)
	return len(entries), next, nil
}

// waitForCommits returns on a commit notification, after timeout, or with
// an error if the connection broke.
func (r *Relay) waitForCommits(ctx context.Context, conn *pgx.Conn, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := conn.WaitForNotification(wctx)
	if err == nil || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("wait for commits: %w", err)
}

// sleep waits d or until ctx ends; it reports whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
