package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/projections"
)

// recentFor is how long the waiter at least remembers a notification, for
// a WaitForAppended that registers after its notification came.
const recentFor = 10 * time.Second

// recheckInterval bounds how long a wait can miss its version when a
// notification is lost (the listening connection broke, or Run is not
// running): the waiter looks at the table again this often regardless.
// Waits are short (the API bounds them at a few seconds), so this costs at
// most a few primary-key lookups per wait.
const recheckInterval = 250 * time.Millisecond

// Waiter gives the API read-your-writes: after a command appended version v
// of a stream, WaitFor(stream, v) returns once the stream's read-model row
// reflects v. One dedicated connection (Run) listens for the projectors'
// notifications and fans them out to the waits in this process.
type Waiter struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	recheck time.Duration // recheckInterval; tests stretch it to see notifications alone

	mu      sync.Mutex
	waiting map[string]map[*wait]struct{} // by stream id
	// recent and older are the versions notified in this period of
	// recentFor and in the one before, by stream id; rotated is when this
	// one began.
	recent, older map[string]int64
	rotated       time.Time
}

// wait is one WaitFor call.
type wait struct {
	version int64
	reached chan struct{} // closed (once, by dispatch, under mu) when a notification says so
	recheck chan struct{} // a nudge to look at the table again
}

// NewWaiter returns a waiter. Run must run for waits to end promptly;
// without it they still end, polling the table.
func NewWaiter(pool *pgxpool.Pool, log *slog.Logger) *Waiter {
	return &Waiter{pool: pool, log: log.With("component", "projection-waiter"), recheck: recheckInterval, waiting: map[string]map[*wait]struct{}{},
		recent: map[string]int64{}, older: map[string]int64{}, rotated: time.Now()}
}

// WaitFor reports whether the read-model row of streamID reaches version
// before ctx ends. It returns true as soon as it has; false with a nil error
// when ctx's deadline passes first (the caller picks the bound, say 2 s),
// and false with ctx's error when ctx is cancelled. A stream without a read
// model never reaches any version. Streams are told apart by id alone: the
// rm_versions view spans every read model.
func (w *Waiter) WaitFor(ctx context.Context, streamID string, version int64) (bool, error) {
	return w.waitFor(ctx, streamID, version, true)
}

// WaitForAppended is WaitFor for a version the caller has just appended,
// which no projector can have reached long ago: rather than look at the
// table first, it takes a notification, one that came in the last
// recentFor before it began included. It looks at the table only every
// recheckInterval, or when nudged, for a notification that was lost.
func (w *Waiter) WaitForAppended(ctx context.Context, streamID string, version int64) (bool, error) {
	return w.waitFor(ctx, streamID, version, false)
}

func (w *Waiter) waitFor(ctx context.Context, streamID string, version int64, look bool) (bool, error) {
	wt := &wait{version: version, reached: make(chan struct{}), recheck: make(chan struct{}, 1)}
	if w.register(streamID, wt) {
		return true, nil
	}
	defer w.unregister(streamID, wt)

	// Registered first, then looked: a projection committed before the
	// registration shows in the table, one after it arrives as a
	// notification. Either way it cannot fall between the two.
	ticker := time.NewTicker(w.recheck)
	defer ticker.Stop()
	for {
		if look {
			reached, err := w.reached(ctx, streamID, version)
			if err != nil {
				return waitEnded(ctx, err)
			}
			if reached {
				return true, nil
			}
		}
		look = true
		select {
		case <-wt.reached:
			return true, nil
		case <-wt.recheck:
		case <-ticker.C:
		case <-ctx.Done():
			return waitEnded(ctx, ctx.Err())
		}
	}
}

// waitEnded turns the end of a wait into WaitFor's result: a passed deadline
// is an answer (not reached), anything else an error.
func waitEnded(ctx context.Context, err error) (bool, error) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return false, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return false, fmt.Errorf("wait for read model: %w", err)
}

func (w *Waiter) reached(ctx context.Context, streamID string, version int64) (bool, error) {
	var reached bool
	err := w.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM rm_versions WHERE id = $1 AND version >= $2)`, streamID, version).Scan(&reached)
	return reached, err
}

// register registers wt, unless a notification it remembers already
// satisfies it: then it reports true.
func (w *Waiter) register(streamID string, wt *wait) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if max(w.recent[streamID], w.older[streamID]) >= wt.version {
		return true
	}
	set := w.waiting[streamID]
	if set == nil {
		set = map[*wait]struct{}{}
		w.waiting[streamID] = set
	}
	set[wt] = struct{}{}
	return false
}

func (w *Waiter) unregister(streamID string, wt *wait) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiting[streamID], wt)
	if len(w.waiting[streamID]) == 0 {
		delete(w.waiting, streamID)
	}
}

// dispatch wakes the waits that a notification "<stream id>:<version>"
// satisfies. The notification is sent inside the projecting transaction, so
// it arrives only once the row is committed.
func (w *Waiter) dispatch(payload string) {
	i := strings.LastIndexByte(payload, ':')
	if i < 0 {
		w.log.Warn("malformed projection notification", "payload", payload)
		return
	}
	streamID := payload[:i]
	version, err := strconv.ParseInt(payload[i+1:], 10, 64)
	if err != nil {
		w.log.Warn("malformed projection notification", "payload", payload)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := time.Now(); now.Sub(w.rotated) >= recentFor {
		w.older, w.recent, w.rotated = w.recent, map[string]int64{}, now
	}
	w.recent[streamID] = max(w.recent[streamID], version)
	for wt := range w.waiting[streamID] {
		if wt.version <= version {
			close(wt.reached)
			delete(w.waiting[streamID], wt) // so it is never closed twice
		}
	}
	if len(w.waiting[streamID]) == 0 {
		delete(w.waiting, streamID)
	}
}

// recheckAll nudges every wait to look at the table again: notifications
// sent while no connection listened are lost.
func (w *Waiter) recheckAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, set := range w.waiting {
		for wt := range set {
			select {
			case wt.recheck <- struct{}{}:
			default: // already nudged
			}
		}
	}
}

// Listener retries: the first after a session that listened, and the
// longest wait between failures in a row. The longest is short, so the
// waiter listens again within about half a second of Postgres' return
// however long it was away (a refused connection costs next to nothing).
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 500 * time.Millisecond
)

// Run listens for projection notifications until ctx ends, reconnecting
// whenever the connection fails. It returns nil when ctx ends. An outage
// is logged once when the listening connection is lost and once when it
// listens again; the failed reconnects in between are DEBUG.
func (w *Waiter) Run(ctx context.Context) error {
	backoff := listenRetryMin
	var lost time.Time // when the current (or last) outage began; zero before the first
	for ctx.Err() == nil {
		listened, err := w.listen(ctx, func() {
			if !lost.IsZero() {
				w.log.Info("listening for projections again", "down_for", time.Since(lost).Round(time.Millisecond))
			}
		})
		if ctx.Err() != nil {
			break
		}
		if listened || lost.IsZero() {
			backoff = listenRetryMin
			lost = time.Now()
			w.log.Warn("listening for projections failed, reconnecting", "error", err, "retry_in", backoff)
		} else {
			w.log.Debug("listening for projections failed, reconnecting", "error", err, "retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(backoff*2, listenRetryMax)
	}
	return nil
}

// listen runs one connection's session; listened reports whether it got as
// far as listening (so a later failure is not a failure to connect), when
// it calls listening.
func (w *Waiter) listen(ctx context.Context, listening func()) (listened bool, err error) {
	// A dedicated connection, not a pooled one: LISTEN belongs to the
	// session, and this one is held for as long as the process runs.
	conn, err := pgx.ConnectConfig(ctx, w.pool.Config().ConnConfig)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the session is over either way
	if _, err := conn.Exec(ctx, "LISTEN "+projections.ProjectedChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	listening()
	w.recheckAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		w.dispatch(n.Payload)
	}
}
