// Package outage turns the failures and successes of a loop that talks to
// a dependency (Postgres, Kafka) into one log line per change of state: a
// WARN when the dependency is lost, an INFO when it is back with how long
// it was away. The retries in between are DEBUG, except for a reminder
// every RemindEvery, so that a long outage (or a failure no retry cures)
// still shows in the log.
package outage

import (
	"log/slog"
	"sync"
	"time"
)

// RemindEvery is how often a tracker that is still failing says so at WARN.
const RemindEvery = time.Minute

// Tracker follows one dependency's state as one loop (or a few, for one
// component) sees it. It is safe for concurrent use.
type Tracker struct {
	log            *slog.Logger
	lost, regained string
	now            func() time.Time

	mu       sync.Mutex
	down     bool
	since    time.Time // the first failure of this outage
	failures int
	reminded time.Time
}

// NewTracker returns a tracker in the connected state that logs lost and
// regained as its two messages. now is the clock (time.Now outside tests).
func NewTracker(log *slog.Logger, lost, regained string, now func() time.Time) *Tracker {
	return &Tracker{log: log, lost: lost, regained: regained, now: now}
}

// Failed records a failure: the first after a success is logged at WARN
// with err, the rest at DEBUG (and at WARN once every RemindEvery).
func (t *Tracker) Failed(err error, attrs ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.failures++
	switch {
	case !t.down:
		t.down, t.since, t.failures, t.reminded = true, now, 1, now
		t.log.Warn(t.lost, append([]any{"error", err}, attrs...)...)
	case now.Sub(t.reminded) >= RemindEvery:
		t.reminded = now
		t.log.Warn(t.lost, append([]any{"error", err, "down_for", now.Sub(t.since).Round(time.Millisecond), "failures", t.failures}, attrs...)...)
	default:
		t.log.Debug(t.lost, append([]any{"error", err, "failures", t.failures}, attrs...)...)
	}
}

// Succeeded records a success: the first after a failure is logged at
// INFO with the outage's length and how many failures it saw.
func (t *Tracker) Succeeded() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.down {
		return
	}
	t.down = false
	t.log.Info(t.regained, "down_for", t.now().Sub(t.since).Round(time.Millisecond), "failures", t.failures)
}
