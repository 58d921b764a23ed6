package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
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

// InputArgs opens path the way the upload's probe did (Prober.InputArgs).
func (e *Encoder) InputArgs(path, container string) ([]string, error) {
	return e.prober.InputArgs(path, container)
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
// *EncodeError with domain.FailureEncodeTimeout whose message names the
// rule ("ffmpeg made no progress for 10m0s", "ffmpeg ran longer than
// 48h0m0s"). A run that needed more than the memory cap is an *EncodeError
// with domain.FailureMemoryLimitExceeded. An input the allowlists refuse (a
// codec or a container, see inputOptions) is a permanent *EncodeError with
// domain.FailureCodecNotAllowed or domain.FailureContainerNotAllowed. Any
// other non-zero exit is an *EncodeError with domain.FailureEncodeFailed
// whose Message holds ffmpeg's last stderr lines, with the input and output
// paths replaced. A missing binary or a failed start is a plain error: the
// worker's trouble.
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
