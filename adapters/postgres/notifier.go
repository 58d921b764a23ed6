package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EventsChannel is the LISTEN/NOTIFY channel that announces committed events.
const EventsChannel = "renderd_events"

// CommitNotifier tells listeners in any process (the relay) that rows were
// committed: events on EventsChannel, or what another channel announces.
// A NOTIFY inside each writing transaction would take Postgres' global
// notify lock at commit and serialise every commit; instead commits Poke
// the notifier and one goroutine sends coalesced notifications: a poke
// always leads to a NOTIFY sent after it, and a burst of pokes to a few.
type CommitNotifier struct {
	pool    *pgxpool.Pool
	channel string
	log     *slog.Logger
	pending chan struct{}
}

// NewCommitNotifier returns the notifier of committed events; call Run to
// start sending.
func NewCommitNotifier(pool *pgxpool.Pool, log *slog.Logger) *CommitNotifier {
	return NewChannelNotifier(pool, EventsChannel, log)
}

// NewChannelNotifier returns a notifier on channel; call Run to start
// sending.
func NewChannelNotifier(pool *pgxpool.Pool, channel string, log *slog.Logger) *CommitNotifier {
	return &CommitNotifier{pool: pool, channel: channel, log: log, pending: make(chan struct{}, 1)}
}

// Poke records that a commit happened. It never blocks.
func (n *CommitNotifier) Poke() {
	select {
	case n.pending <- struct{}{}:
	default: // a notification is already due
	}
}

// Run sends notifications until ctx ends. A failed NOTIFY is logged and
// dropped: listeners also poll, so it costs latency, never events.
func (n *CommitNotifier) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.pending:
			if _, err := n.pool.Exec(ctx, "SELECT pg_notify($1, '')", n.channel); err != nil && ctx.Err() == nil {
				n.log.Warn("notify", "channel", n.channel, "error", fmt.Errorf("notify: %w", err))
			}
		}
	}
}

// NotifyCommitted tells listeners now that events were committed: for
// one-shot processes, which run no CommitNotifier.
func NotifyCommitted(ctx context.Context, db execer) error {
	if _, err := db.Exec(ctx, "SELECT pg_notify($1, '')", EventsChannel); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}
