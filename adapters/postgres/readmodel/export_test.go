package readmodel

import "time"

// SetReplayBatchEvents sets how many events one batch of ReplayAll carries,
// until the returned function restores it.
func SetReplayBatchEvents(n int) (restore func()) {
	old := replayBatchEvents
	replayBatchEvents = n
	return func() { replayBatchEvents = old }
}

// SetRecheckInterval makes w look at the table on its own only every d: with
// d long, a wait that ends was woken by a notification.
func SetRecheckInterval(w *Waiter, d time.Duration) { w.recheck = d }
