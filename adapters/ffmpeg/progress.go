package ffmpeg

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/renderd/renderd/encoders"
)

// progressLog is an io.Writer over ffmpeg's stdout that turns -progress
// output into encoders.Progress blocks:
//
//	frame=55
//	out_time_us=1184218
//	out_time_ms=1184218
//	out_time=00:00:01.184218
//	speed=5.72x
//	progress=continue
//
// os/exec writes to it from its own goroutine; blocks wait in a queue for
// Run's goroutine, so a slow onProgress never blocks ffmpeg's writes.
type progressLog struct {
	mu      sync.Mutex
	partial []byte
	cur     progressBlock
	last    time.Duration // the latest known position
	blocks  []encoders.Progress
	ready   chan struct{} // signalled when blocks is not empty
}

// progressBlock is the part of a block read so far.
type progressBlock struct {
	usField, msField time.Duration // out_time_us, out_time_ms
	haveUS, haveMS   bool
	speed            float64
}

func newProgressLog() *progressLog { return &progressLog{ready: make(chan struct{}, 1)} }

func (l *progressLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 4<<10 {
		// No progress line is this long.
		l.partial = l.partial[:0]
	}
	return len(p), nil
}

func (l *progressLog) line(s string) {
	key, value, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return
	}
	value = strings.TrimSpace(value)
	switch key {
	case "out_time_us":
		l.cur.usField, l.cur.haveUS = microseconds(value)
	case "out_time_ms":
		// Microseconds too, despite the name (an ffmpeg bug kept for
		// compatibility); only a fallback for ffmpegs without out_time_us.
		l.cur.msField, l.cur.haveMS = microseconds(value)
	case "speed":
		l.cur.speed = 0
		if v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(value, "x")), 64); err == nil &&
			v > 0 && !math.IsInf(v, 0) {
			l.cur.speed = v
		}
	case "progress":
		switch {
		case l.cur.haveUS:
			l.last = l.cur.usField
		case l.cur.haveMS:
			l.last = l.cur.msField
		}
		l.blocks = append(l.blocks, encoders.Progress{OutTime: l.last, Speed: l.cur.speed, End: value == "end"})
		l.cur = progressBlock{}
		select {
		case l.ready <- struct{}{}:
		default:
		}
	}
}

// position is the latest known output position.
func (l *progressLog) position() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// take returns the blocks queued since the last take.
func (l *progressLog) take() []encoders.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	blocks := l.blocks
	l.blocks = nil
	return blocks
}

// microseconds parses a non-negative count of µs; "N/A" and the negative
// values ffmpeg prints before the first packet are unknown.
func microseconds(s string) (time.Duration, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64/int64(time.Microsecond) {
		return 0, false
	}
	return time.Duration(v) * time.Microsecond, true
}
