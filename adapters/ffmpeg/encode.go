package ffmpeg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// EncodeError is a failed encode with a stable code, one of the domain's
// failure codes, which end up in render.failed events:
// domain.FailureEncodeFailed (ffmpeg exited with an error),
// FailureEncodeTimeout (the encode stalled or ran past its time limit, see
// EncodeLimits; the error also wraps context.DeadlineExceeded),
// FailureOutputInvalid (see Verify), FailureMemoryLimitExceeded (more memory
// than EncodeLimits.Memory allows; the same source fails the same way on
// every attempt), or an allowlist's code (see Run). Message is short and
// free of server paths, so it can travel in a public event; Err, when set,
// is the underlying cause.
type EncodeError struct {
	Code    string
	Message string
	Err     error
	// Permanent marks a failure that every attempt would repeat, whatever
	// its code (an ffmpeg command the kernel refuses to start).
	Permanent bool
}

func (e *EncodeError) Error() string { return e.Code + ": " + e.Message }

func (e *EncodeError) Unwrap() error { return e.Err }

// FailureCode and FailureMessage say the encode itself failed
// (commands.MediaFailure), as opposed to the worker.
func (e *EncodeError) FailureCode() string    { return e.Code }
func (e *EncodeError) FailureMessage() string { return e.Message }

// Deterministic says the failure is Permanent (the encoders' retry rule).
func (e *EncodeError) Deterministic() bool { return e.Permanent }

// EncodeLimits bound every encode an Encoder runs. Zero values mean no
// bound.
type EncodeLimits struct {
	// Stall stops an encode that makes no progress for this long: its
	// output position (-progress out_time) does not advance and, on Linux,
	// it reads no input either. Reads count because an encode can be busy
	// for long without output: a cut decodes everything before a late
	// segment, and the +faststart rewrite at the end reads the whole output
	// back while ffmpeg prints no progress at all.
	Stall time.Duration
	// MaxTime stops any encode that runs longer, however busy: the backstop
	// for an ffmpeg that keeps reading or writing without end.
	MaxTime time.Duration
	// Memory caps ffmpeg's address space (RLIMIT_AS) in bytes, as
	// Limits.Memory does.
	Memory int64
	// Sandbox confines every encode (nil: unconfined).
	Sandbox *Sandbox
}

// Encoder runs ffmpeg encodes, and opens their inputs and verifies their
// outputs with its Prober: the render pipeline's media (encoders.Media).
// Safe for concurrent use.
type Encoder struct {
	ffmpegPath string
	grace      time.Duration
	limits     EncodeLimits
	prober     *Prober
	// started, when set (tests only), learns the pid of every ffmpeg Run
	// starts, before Run waits for it.
	started func(pid int)
}

var _ encoders.Media = (*Encoder)(nil)

// NewEncoder runs the ffmpeg binary at ffmpegPath ("" = "ffmpeg" on PATH)
// within limits; grace is how long a stopped ffmpeg gets between SIGTERM
// and SIGKILL (default 1 s when ≤ 0). prober opens the inputs (InputArgs)
// and probes the outputs (Verify); an Encoder that only runs encodes may
// have none.
func NewEncoder(ffmpegPath string, grace time.Duration, limits EncodeLimits, prober *Prober) *Encoder {
	if ffmpegPath == "" {
		ffmpegPath = "ffmpeg"
	}
	if grace <= 0 {
		grace = time.Second
	}
	return &Encoder{ffmpegPath: ffmpegPath, grace: grace, limits: limits, prober: prober}
}

// limitHit is the cause of a stop that one of EncodeLimits' time rules
// decided; its text says which rule fired.
type limitHit struct{ rule string }

func (e limitHit) Error() string { return e.rule }

func (e limitHit) Unwrap() error { return context.DeadlineExceeded }

// Run runs ffmpeg with args until it exits. args must ask for progress on
// stdout ("-progress pipe:1 -nostats"); stderr is kept for error messages.
// The child gets an empty environment and its own process group (a
// terminal's Ctrl-C reaches the worker, which decides, not ffmpeg).
//
// onProgress (may be nil) is called on Run's goroutine for every progress
// block, in order. ffmpeg never waits for it: blocks queue up while it runs.
// It should still be quick, since Run returns only after it has seen every
// block (blocks left when ctx has ended are dropped).
//
// When ctx ends, ffmpeg gets SIGTERM, then SIGKILL after the grace; Run
// returns only after the process is gone (so the caller can delete the
// partial output), with ctx.Err(). When the encode stalls or outlives
// MaxTime (EncodeLimits), the same stop happens and Run returns an
// *EncodeError with domain.FailureEncodeTimeout whose message names the rule ("ffmpeg
// made no progress for 10m0s", "ffmpeg ran longer than 48h0m0s"). A run
// that needed more than the memory cap is an *EncodeError with
// domain.FailureMemoryLimitExceeded. An input the allowlists refuse (a codec or a
// container, see inputOptions) is a permanent *EncodeError with
// domain.FailureCodecNotAllowed or domain.FailureContainerNotAllowed. Any other non-zero exit is an *EncodeError with
// domain.FailureEncodeFailed whose Message holds ffmpeg's last stderr lines, with the
// input and output paths replaced. A missing binary or a failed start is a
// plain error: the worker's trouble.
func (e *Encoder) Run(ctx context.Context, args []string, onProgress func(encoders.Progress)) (err error) {
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if e.limits.MaxTime > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(runCtx, e.limits.MaxTime,
			limitHit{rule: "ran longer than " + e.limits.MaxTime.String()})
		defer cancel()
	}
	cmd, files, err := e.limits.Sandbox.command(runCtx, e.ffmpegPath, args, e.limits.Memory)
	if err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	// After the wait: the output goes back to renderd's user once ffmpeg
	// is gone. An output that cannot be taken back (another name, a mode)
	// must not be committed: the run fails as the worker's trouble.
	defer func() {
		if closeErr := files.close(); closeErr != nil && ctx.Err() == nil {
			err = fmt.Errorf("ffmpeg: media sandbox: taking the output back: %w", closeErr)
		}
	}()
	// SIGTERM lets ffmpeg flush and exit in a few hundred ms; os/exec sends
	// SIGKILL when it is still there WaitDelay later. WaitDelay also bounds
	// the wait for the output pipes once ffmpeg has exited.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = e.grace
	progress := newProgressLog()
	stderr := &tailBuffer{limit: stderrTail}
	cmd.Stdout, cmd.Stderr = progress, stderr
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // ended before the start: nothing ran
		}
		if errors.Is(err, syscall.E2BIG) {
			// The same command is as long on every worker.
			return &EncodeError{Code: domain.FailureEncodeFailed, Permanent: true, Err: err,
				Message: "the ffmpeg command is longer than the kernel accepts (argument list too long)"}
		}
		return fmt.Errorf("ffmpeg: %w", err)
	}
	if e.started != nil {
		e.started(cmd.Process.Pid)
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	watchCtx, stopWatch := context.WithCancel(runCtx)
	var watching sync.WaitGroup
	if e.limits.Stall > 0 {
		watching.Go(func() { watchStall(watchCtx, e.limits.Stall, cmd.Process.Pid, progress, stop) })
	}
	reaped := false
	defer func() {
		// Only a panicking onProgress leaves the loop with ffmpeg running.
		if !reaped {
			stop(nil)
			<-exited
		}
		stopWatch()
		watching.Wait()
	}()
	for !reaped {
		select {
		case <-progress.ready:
			deliver(onProgress, progress.take())
		case err = <-exited:
			reaped = true
		}
	}
	stopWatch()
	watching.Wait()
	if ctx.Err() == nil {
		deliver(onProgress, progress.take())
	}

	var hit limitHit
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err == nil:
		return nil // finished before any stop reached it
	case errors.As(context.Cause(runCtx), &hit):
		return &EncodeError{Code: domain.FailureEncodeTimeout, Message: "ffmpeg " + hit.rule, Err: hit}
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	if hf := helperFailure(err, stderr.String()); hf != nil {
		return hf
	}
	// An asset probed before the allowlist changed can hold a codec or a
	// container now outside it: every attempt would be refused the same way.
	if decoder, ok := blockedDecoder(stderr.String()); ok {
		return &EncodeError{Code: domain.FailureCodecNotAllowed, Permanent: true, Err: err,
			Message: fmt.Sprintf("codec %q is not allowed", decoder)}
	}
	if demuxer, ok := blockedDemuxer(stderr.String()); ok {
		return &EncodeError{Code: domain.FailureContainerNotAllowed, Permanent: true, Err: err,
			Message: fmt.Sprintf("container %q is not allowed", demuxer)}
	}
	code, msg := domain.FailureEncodeFailed, "ffmpeg "+exitErr.ProcessState.String()
	if e.limits.Memory > 0 && outOfMemory(err, stderr.String()) {
		code, msg = domain.FailureMemoryLimitExceeded, "ffmpeg needed more than the "+mib(e.limits.Memory)+" memory limit"
	}
	names := append(pathReplacements(args), files.replacements()...)
	if s := encodeStderrSummary(stderr.String(), names, maxEncodeMessage-len(msg)-2); s != "" {
		msg += ": " + s
	}
	return &EncodeError{Code: code, Message: msg, Err: err}
}

// watchStall stops the run with a limitHit once neither ffmpeg's output
// position nor the bytes it has read have advanced for limit. It checks
// several times per limit, so a stall is caught at most an eighth late; it
// returns when ctx ends.
func watchStall(ctx context.Context, limit time.Duration, pid int, progress *progressLog, stop context.CancelCauseFunc) {
	tick := time.NewTicker(min(max(limit/8, 10*time.Millisecond), 5*time.Second))
	defer tick.Stop()
	var lastPos time.Duration
	var lastRead int64
	advanced := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			pos := progress.position()
			read, ok := bytesRead(pid)
			switch {
			case pos > lastPos || (ok && read > lastRead):
				lastPos, advanced = max(pos, lastPos), now
				if ok {
					lastRead = read
				}
			case now.Sub(advanced) >= limit:
				stop(limitHit{rule: "made no progress for " + limit.String()})
				return
			}
		}
	}
}

func deliver(onProgress func(encoders.Progress), blocks []encoders.Progress) {
	if onProgress == nil {
		return
	}
	for _, b := range blocks {
		onProgress(b)
	}
}

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

// An encode failure's message: enough of ffmpeg's stderr to say why (the
// specific complaint usually comes a few lines before "Conversion failed!"),
// never a dump.
const (
	maxEncodeLines   = 10
	maxEncodeMessage = 1 << 10
)

// encodeStderrSummary keeps the last distinct lines of ffmpeg's stderr,
// joined with "; ", in at most limit bytes. A log context "[libx264 @ 0x55d0c0ffee00] " becomes
// "libx264: " (the address means nothing to a client), the paths of names
// (pathReplacements, runFiles.replacements) become their names ("input",
// "output", "filter script"), and any other absolute path "a server path".
func encodeStderrSummary(stderr string, names []string, limit int) string {
	paths := newPathNames(names)
	var lines []string
	seen := map[string]bool{}
	for _, line := range strings.FieldsFunc(stderr, func(r rune) bool { return r == '\n' || r == '\r' }) {
		name, rest := splitLogContext(strings.TrimSpace(line))
		line = strings.TrimSpace(rest)
		if name != "" {
			line = name + ": " + line
		}
		line = paths.scrub(line)
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		lines = append(lines, line)
	}
	if len(lines) > maxEncodeLines {
		lines = lines[len(lines)-maxEncodeLines:]
	}
	return truncateFront(strings.Join(lines, "; "), limit)
}

// pathReplacements names the paths args open: every -i value ("input"), a
// -filter_complex_script ("filter script") and the output, the last
// argument ("output").
func pathReplacements(args []string) []string {
	var oldnew []string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-i":
			oldnew = append(oldnew, pathPairs(args[i+1], "input")...)
		case "-filter_complex_script":
			oldnew = append(oldnew, pathPairs(args[i+1], "filter script")...)
		}
	}
	if n := len(args); n > 0 && strings.HasPrefix(args[n-1], "file:") {
		oldnew = append(oldnew, pathPairs(args[n-1], "output")...)
	}
	return oldnew
}

// truncateFront keeps the last limit bytes of s, on a rune boundary, marking
// the cut: the end of ffmpeg's stderr is where it says why it gave up.
func truncateFront(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const mark = "…"
	cut := len(s) - (limit - len(mark))
	for cut < len(s) && !isRuneStart(s[cut]) {
		cut++
	}
	return mark + s[cut:]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Tolerances of Verify.
//
// Duration: ±max(one frame, 50 ms). A video output may end up to a frame
// long: the last frame lasts a full frame even when the plan ends mid-frame
// (2.01 s of 30 fps → 61 frames, 2.033 s; the mp4 format duration, in ms,
// says 2.034 s).
//
// Encoder priming, measured with ffmpeg 5.1 on tones of 2, 2.01 and 7.3 s
// at 8, 22.05, 44.1 and 48 kHz:
//
//   - AAC in mp4/mov/m4a adds nothing: the mov muxer writes an edit list
//     that hides the 1024 priming samples and the last frame's padding, so
//     ffprobe's durations equal the input's to the µs. No extra tolerance.
//   - MP3 (libmp3lame) adds its 1105-sample delay (576 encoder + 529
//     decoder; start_time 0.023 s at 48 kHz, 0.138 s at 8 kHz) and pads to a
//     whole frame (1152 samples at 32–48 kHz, 576 below), and ffprobe counts
//     all of it: 2 s → 2.037551 s at 44.1 kHz, 2.040 s at 48 kHz, 2.063673 s
//     at 22.05 kHz, 2.160 s at 8 kHz; a 2.404567 s cut → 2.455510 s (+51 ms).
//     So an MP3 may also be longer by up to (1105 + one frame) samples:
//     51 ms at 44.1 kHz, 210 ms at 8 kHz.
//
// Sync: the audio and video streams' durations may differ by 50 ms plus one
// audio frame (1024 samples of AAC, 21 ms at 48 kHz): video ends on a whole
// picture (the 2.01 s case above: video 2.033 s, audio 2.010 s), and audio
// without an edit list (a remuxed source) on a whole frame.
const (
	minDurationTolerance = 50 * time.Millisecond
	syncTolerance        = 50 * time.Millisecond
	lameDelaySamples     = 1105
)

// InputArgs opens path the way the upload's probe did (Prober.InputArgs).
func (e *Encoder) InputArgs(path, container string) ([]string, error) {
	return e.prober.InputArgs(path, container)
}

// Verify probes the output at path with the Encoder's Prober and checks it against want:
// container, codecs (a video stream present iff want.VideoCodec != "", same
// for audio), displayed size, duration and audio/video sync, within the
// tolerances above. It returns the probe on success. An output that fails a
// check, or that ffprobe cannot read or does not exist, is an *EncodeError
// with domain.FailureOutputInvalid naming every failed check with its numbers; any
// other error (cancellation, a missing ffprobe) is the worker's trouble.
func (e *Encoder) Verify(ctx context.Context, path string, want encoders.Expect) (domain.MediaInfo, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return domain.MediaInfo{}, &EncodeError{Code: domain.FailureOutputInvalid, Message: "ffmpeg wrote no output file", Err: err}
	}
	raw, err := e.prober.probeJSON(ctx, path)
	if err != nil {
		return domain.MediaInfo{}, outputProbeFailure(err)
	}
	info, err := parseProbe(raw)
	if err != nil {
		return domain.MediaInfo{}, outputProbeFailure(err)
	}
	var out probeOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		return domain.MediaInfo{}, fmt.Errorf("ffprobe output: %w", err)
	}
	var videoDur, audioDur time.Duration
	video, audio, _ := pickStreams(out.Streams)
	if video != nil {
		videoDur = streamDuration(*video)
	}
	if audio != nil {
		audioDur = streamDuration(*audio)
	}
	if problems := outputProblems(info, videoDur, audioDur, want); len(problems) > 0 {
		return domain.MediaInfo{}, &EncodeError{Code: domain.FailureOutputInvalid,
			Message: "the output does not match the plan: " + strings.Join(problems, "; ")}
	}
	return info, nil
}

// outputProbeFailure classifies a failed probe of an output: the output's
// fault is output_invalid, anything else stays the worker's.
func outputProbeFailure(err error) error {
	var pe *ProbeError
	if errors.As(err, &pe) {
		return &EncodeError{Code: domain.FailureOutputInvalid, Message: "the output cannot be probed: " + pe.Message, Err: err}
	}
	return err
}

// outputProblems lists the checks info fails, one phrase each. videoDur and
// audioDur are the picked streams' durations, zero when unknown.
func outputProblems(info domain.MediaInfo, videoDur, audioDur time.Duration, want encoders.Expect) []string {
	var problems []string
	if want.Container != "" && !slices.Contains(strings.Split(info.Container, ","), want.Container) {
		problems = append(problems, fmt.Sprintf("container: got %q, want %q", info.Container, want.Container))
	}
	problems = append(problems, streamProblems("video", info.HasVideo, info.VideoCodec, want.VideoCodec)...)
	problems = append(problems, streamProblems("audio", info.HasAudio, info.AudioCodec, want.AudioCodec)...)
	if want.VideoCodec != "" && info.HasVideo && (info.Width != want.Width || info.Height != want.Height) {
		problems = append(problems, fmt.Sprintf("size: got %d×%d, want %d×%d", info.Width, info.Height, want.Width, want.Height))
	}

	tolerance := minDurationTolerance
	if want.VideoCodec != "" {
		tolerance = max(tolerance, frameDuration(want.FrameRate))
	}
	var priming time.Duration
	if info.AudioCodec == "mp3" {
		priming = lamePriming(info.AudioSampleRate)
	}
	if d := info.Duration - want.Duration; d < -tolerance || d > tolerance+priming {
		within := "±" + tolerance.String()
		if priming > 0 {
			within = "−" + tolerance.String() + "/+" + (tolerance + priming).String()
		}
		problems = append(problems, fmt.Sprintf("duration: got %v, want %v %s", info.Duration, want.Duration, within))
	}

	// A stream without a stated duration cannot be checked; ffmpeg's mov
	// muxer always states them.
	if videoDur > 0 && audioDur > 0 {
		limit := syncTolerance + audioFrame(info.AudioCodec, info.AudioSampleRate)
		if d := (videoDur - audioDur).Abs(); d > limit {
			problems = append(problems, fmt.Sprintf("sync: video lasts %v, audio %v, %v apart (at most %v)",
				videoDur, audioDur, d, limit))
		}
	}
	return problems
}

func streamProblems(kind string, has bool, got, want string) []string {
	switch {
	case want == "" && has:
		return []string{fmt.Sprintf("%s: unexpected %s stream, want none", kind, got)}
	case want != "" && !has:
		return []string{fmt.Sprintf("%s: no %s stream, want %s", kind, kind, want)}
	case want != "" && got != want:
		return []string{fmt.Sprintf("%s codec: got %s, want %s", kind, got, want)}
	}
	return nil
}

// frameDuration is one frame at rate ("30000/1001"), or 0 when unknown.
func frameDuration(rate string) time.Duration {
	num, den, ok := ratio(rate, "/")
	if !ok {
		return 0
	}
	return time.Duration(float64(den) / float64(num) * float64(time.Second))
}

// lamePriming is how much longer libmp3lame makes a stream at rate: its
// delay plus at most one frame of padding. An unknown rate gets the lowest
// MP3 rate's (the most lenient) figure.
func lamePriming(rate int) time.Duration {
	if rate <= 0 {
		rate = 8000
	}
	return samples(lameDelaySamples+mp3FrameSamples(rate), rate)
}

// audioFrame is one frame of the codec at rate (AAC's 1024 samples for
// codecs other than MP3, 48 kHz when the rate is unknown).
func audioFrame(codec string, rate int) time.Duration {
	if rate <= 0 {
		rate = 48000
	}
	if codec == "mp3" {
		return samples(mp3FrameSamples(rate), rate)
	}
	return samples(1024, rate)
}

// mp3FrameSamples: MPEG-1 Layer III (32–48 kHz) frames hold 1152 samples,
// MPEG-2 and 2.5 (8–24 kHz) 576.
func mp3FrameSamples(rate int) int {
	if rate >= 32000 {
		return 1152
	}
	return 576
}

func samples(n, rate int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(rate))
}
