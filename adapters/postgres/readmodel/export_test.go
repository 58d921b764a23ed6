package readmodel

// SetReplayBatchEvents sets how many events one batch of ReplayAll carries,
// until the returned function restores it.
func SetReplayBatchEvents(n int) (restore func()) {
	old := replayBatchEvents
	replayBatchEvents = n
	return func() { replayBatchEvents = old }
}
