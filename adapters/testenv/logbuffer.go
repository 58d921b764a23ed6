package testenv

import (
	"bytes"
	"sync"
)

// LogBuffer is a log sink that a server (or a child process) and the test
// share: writes and reads may come from any goroutine.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Since returns what was written after mark (a length it returned before,
// or 0), and the new mark.
func (b *LogBuffer) Since(mark int) (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()[mark:], b.buf.Len()
}
