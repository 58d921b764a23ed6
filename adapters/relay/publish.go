package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/renderd/renderd/adapters/kafka"
)

// Waits between tries of a batch that did not publish whole. Short: sarama
// has already retried a transient broker error itself, and a relay that
// waits long after the broker is back delays every event behind the batch.
const (
	firstRetryWait = 50 * time.Millisecond
	maxRetryWait   = 500 * time.Millisecond
)

// publishAll sends msgs until every one of them is written. After a partial
// failure (a *kafka.PublishError) it sends again only what has to go again:
// for each record key, its first failed message and every later message of
// that key, in the batch's order. So a retry never sends a key's message
// ahead of an earlier one of that key that failed (with the idempotent
// producer a partition's messages keep their order within a try), and a
// message written with no failed one of its key before it is written once.
// An error that names no messages sends the rest whole again. Between tries
// it waits (doubling up to maxRetryWait) and asks alive whether the relay
// still leads; it gives up when ctx ends or alive fails, and the next leader
// then re-reads the batch and sends it whole.
func publishAll(ctx context.Context, pub Publisher, msgs []kafka.Outgoing, alive func(context.Context) error, log *slog.Logger) error {
	wait := firstRetryWait
	for try := 1; ; try++ {
		err := pub.Publish(msgs)
		if err == nil {
			if try > 1 {
				log.Info("relay batch published after retries", "tries", try)
			}
			return nil
		}
		var pe *kafka.PublishError
		if errors.As(err, &pe) {
			msgs = toResend(msgs, pe.Failed)
		}
		if try == 1 {
			log.Warn("publishing a relay batch failed; sending again what did not go out", "error", err, "resending", len(msgs))
		} else {
			log.Debug("publishing a relay batch failed again", "error", err, "resending", len(msgs), "try", try)
		}
		if !sleep(ctx, wait) {
			return fmt.Errorf("publish: %w (then %w)", err, ctx.Err())
		}
		wait = min(2*wait, maxRetryWait)
		if aerr := alive(ctx); aerr != nil {
			return fmt.Errorf("publish: %w; leader connection: %w", err, aerr)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish: %w (then %w)", err, ctx.Err())
		}
	}
}

// toResend returns the messages of msgs that go again after the ones at the
// indexes failed did not: for each key (topic and record key) everything
// from its first failed message on, in msgs' order. Indexes out of range
// mean the publisher cannot say: everything goes again.
func toResend(msgs []kafka.Outgoing, failed []int) []kafka.Outgoing {
	type key struct{ topic, key string }
	from := make(map[key]int, len(failed))
	for _, i := range failed {
		if i < 0 || i >= len(msgs) {
			return msgs
		}
		k := key{msgs[i].Topic, msgs[i].Key()}
		if f, ok := from[k]; !ok || i < f {
			from[k] = i
		}
	}
	out := make([]kafka.Outgoing, 0, len(failed))
	for i, m := range msgs {
		if f, ok := from[key{m.Topic, m.Key()}]; ok && i >= f {
			out = append(out, m)
		}
	}
	return out
}
