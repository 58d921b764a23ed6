package ffmpeg

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/renderd/renderd/domain"
)

// minKept is the shortest kept piece worth a segment: a sliver between two
// silences is a click or a breath, and a cut of it would be a glitch.
const minKept = 100 * time.Millisecond

// SilenceDetector plans automatic cuts with ffmpeg's silencedetect filter.
// It is safe for concurrent use.
type SilenceDetector struct {
	ffmpegPath string
	prober     *Prober
	timeout    time.Duration
}

// NewSilenceDetector returns a detector running the ffmpeg binary at
// ffmpegPath (empty means "ffmpeg" on PATH). It probes each file with prober
// (required) first, to apply the container allowlist and learn the duration,
// and runs ffmpeg under the prober's Limits. A run is killed after timeout;
// zero or less means only the caller's context bounds it (decoding audio runs
// at several hundred times real time, so an hour of media takes seconds).
func NewSilenceDetector(ffmpegPath string, prober *Prober, timeout time.Duration) *SilenceDetector {
	if ffmpegPath == "" {
		ffmpegPath = "ffmpeg"
	}
	return &SilenceDetector{ffmpegPath: ffmpegPath, prober: prober, timeout: timeout}
}

// DetectSilences returns the kept segments of the file at path: everything
// but the silences of at least r.MinSilence below r.ThresholdDB in its first
// audio stream, over [0, duration), without pieces shorter than 100 ms.
// duration is the probed duration. kept is empty when the whole file is
// silent. A file without audio yields a *ProbeError with code no_audio; the
// other codes are Probe's.
func (d *SilenceDetector) DetectSilences(ctx context.Context, path string, r domain.SilenceRemoval) (kept []domain.Segment, duration time.Duration, err error) {
	if r.MinSilence <= 0 || math.IsNaN(r.ThresholdDB) || math.IsInf(r.ThresholdDB, 0) || r.ThresholdDB > 0 {
		return nil, 0, fmt.Errorf("ffmpeg: silence removal needs a positive minimum silence and a threshold ≤ 0 dB, got %v and %v dB", r.MinSilence, r.ThresholdDB)
	}
	info, err := d.prober.Probe(ctx, path)
	if err != nil {
		return nil, 0, err
	}
	if !info.HasAudio {
		return nil, 0, &ProbeError{Code: domain.FailureNoAudio, Message: "the file has no audio stream"}
	}
	input, err := d.prober.InputArgs(path, info.Container)
	if err != nil {
		return nil, 0, err
	}
	// Numbers are formatted here, never copied from a request, so nothing
	// can reach the filtergraph syntax.
	filter := "silencedetect=noise=" + strconv.FormatFloat(r.ThresholdDB, 'f', -1, 64) +
		"dB:d=" + strconv.FormatFloat(r.MinSilence.Seconds(), 'f', -1, 64)
	args := []string{"-hide_banner", "-nostats", "-nostdin"}
	args = append(args, input...)
	args = append(args, "-map", "0:a:0", "-af", filter, "-f", "null", "-")

	// silencedetect reports at info level on stderr, among everything else
	// ffmpeg says; scanning line by line keeps memory flat however much a
	// damaged file makes the decoder complain.
	log := &silenceLog{tail: tailBuffer{limit: stderrTail}}
	limits := d.prober.limits
	if names, err := runTool(ctx, d.timeout, limits, d.ffmpegPath, args, nil, log); err != nil {
		return nil, 0, toolFailure("ffmpeg silencedetect", "detecting silences", err, log.tail.String(), path, names, limits.Memory)
	}
	log.flush()
	return keptSegments(log.silences, info.Duration), info.Duration, nil
}

// silence is one detected silence; open means ffmpeg never reported its end.
type silence struct {
	start, end time.Duration
	open       bool
}

// silenceLog is an io.Writer over ffmpeg's stderr that collects silencedetect
// events and keeps the tail for error messages.
type silenceLog struct {
	partial  []byte
	silences []silence
	tail     tailBuffer
}

func (l *silenceLog) Write(p []byte) (int, error) {
	l.tail.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexAny(l.partial, "\r\n")
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > stderrTail {
		// No silencedetect line is this long: drop the run-on garbage.
		l.partial = l.partial[:0]
	}
	return len(p), nil
}

// String is the tail of stderr.
func (l *silenceLog) String() string { return l.tail.String() }

// flush handles a last line without a newline.
func (l *silenceLog) flush() {
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = l.partial[:0]
	}
}

// line reads one stderr line. silencedetect writes
//
//	[silencedetect @ 0x55a1b6099640] silence_start: 0.8
//	[silencedetect @ 0x55a1b6099640] silence_end: 1.10002 | silence_duration: 0.300021
//
// and, in ffmpeg 5.1, a silence_end at end of input for a trailing silence.
func (l *silenceLog) line(s string) {
	name, rest := splitLogContext(strings.TrimSpace(s))
	if name != "silencedetect" {
		return
	}
	key, value, ok := strings.Cut(rest, ": ")
	if !ok {
		return
	}
	if f := strings.Fields(value); len(f) > 0 {
		value = f[0]
	}
	sec, err := strconv.ParseFloat(value, 64)
	if err != nil || math.IsNaN(sec) || math.IsInf(sec, 0) {
		return
	}
	t := time.Duration(math.Round(sec*1e6)) * time.Microsecond
	switch key {
	case "silence_start":
		l.silences = append(l.silences, silence{start: t, open: true})
	case "silence_end":
		if n := len(l.silences); n > 0 && l.silences[n-1].open {
			l.silences[n-1].end, l.silences[n-1].open = t, false
		}
	}
}

// parseSilenceLog reads a whole recorded stderr: the pure core of
// DetectSilences, for tests.
func parseSilenceLog(stderr string) []silence {
	l := &silenceLog{tail: tailBuffer{limit: stderrTail}}
	l.Write([]byte(stderr))
	l.flush()
	return l.silences
}

// keptSegments is the complement of the silences over [0, duration): times
// are clamped to the media (AAC padding puts a trailing silence_end a few ms
// past the end, priming can put a start below 0), a silence without an end
// runs to the end, and kept pieces under minKept are dropped.
func keptSegments(silences []silence, duration time.Duration) []domain.Segment {
	silences = slices.Clone(silences)
	slices.SortFunc(silences, func(a, b silence) int { return cmp.Compare(a.start, b.start) })
	kept := []domain.Segment{}
	cursor := time.Duration(0)
	for _, s := range silences {
		start := min(max(s.start, 0), duration)
		end := duration
		if !s.open {
			end = min(max(s.end, 0), duration)
		}
		if end < start {
			continue
		}
		if start-cursor >= minKept {
			kept = append(kept, domain.Segment{Start: cursor, End: start})
		}
		cursor = max(cursor, end)
	}
	if duration-cursor >= minKept {
		kept = append(kept, domain.Segment{Start: cursor, End: duration})
	}
	return kept
}
