package ffmpeg

import (
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/encoders"
)

// Recorded ffmpeg 5.1 -progress output, with the variants older and newer
// ffmpegs write, fed in one-byte writes (the pipe splits anywhere).
func TestProgressLog_parses_blocks_split_across_writes(t *testing.T) {
	text := "frame=1\nfps=0.00\nbitrate=N/A\nout_time_us=N/A\nout_time_ms=N/A\nout_time=N/A\nspeed=N/A\nprogress=continue\n" +
		"frame=55\nout_time_us=1184218\nout_time_ms=1184218\nout_time=00:00:01.184218\nspeed=5.72x\nprogress=continue\n" +
		"out_time_us=-23220\nspeed=   0x\nprogress=continue\n" +
		"out_time_ms=1500000\nspeed= 108x\nprogress=continue\r\n" +
		"frame=60\nout_time_us=2020136\nout_time_ms=2020136\nspeed=7.05x\nprogress=end\n"
	l := newProgressLog()
	for i := range len(text) {
		l.Write([]byte{text[i]})
	}
	want := []encoders.Progress{
		{OutTime: 0, Speed: 0},
		{OutTime: 1184218 * time.Microsecond, Speed: 5.72},
		{OutTime: 1184218 * time.Microsecond, Speed: 0}, // negative: unknown, the last position stays
		{OutTime: 1500 * time.Millisecond, Speed: 108},  // out_time_ms alone, in µs
		{OutTime: 2020136 * time.Microsecond, Speed: 7.05, End: true},
	}
	if got := l.take(); !slices.Equal(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := l.take(); len(got) != 0 {
		t.Errorf("a second take got %+v", got)
	}
}
