package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// errTimedOut marks a run that the adapter's own timeout stopped, as opposed
// to the caller's context.
type errTimedOut struct{ limit time.Duration }

func (e errTimedOut) Error() string { return "did not finish within " + e.limit.String() }

func (e errTimedOut) Unwrap() error { return context.DeadlineExceeded }

// runTool runs one ffmpeg-suite binary to completion under limits: its
// address space capped at limits.Memory when that is positive, confined by
// limits.Sandbox (Sandbox.command). Arguments go straight to execve, never
// through a shell. The process is killed when ctx ends or timeout (if
// positive) passes; the caller's cancellation comes back as ctx.Err(), the
// timeout as errTimedOut, a sandbox that could not be set up as a plain
// error. names are the stable names of the paths the tool saw, as
// strings.NewReplacer pairs, for its messages.
func runTool(ctx context.Context, timeout time.Duration, limits Limits, bin string, args []string, stdout io.Writer, stderr stderrLog) (names []string, err error) {
	runCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd, files, err := limits.Sandbox.command(runCtx, bin, args, limits.Memory)
	if err != nil {
		return nil, err
	}
	defer func() {
		// An output the media user kept (another name, a mode) must not be
		// used: the run fails as the worker's trouble.
		if closeErr := files.close(); closeErr != nil && ctx.Err() == nil {
			names, err = nil, fmt.Errorf("media sandbox: taking the run's files back: %w", closeErr)
		}
	}()
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	// Kill (the default Cancel) ends ffmpeg at once; WaitDelay only bounds
	// the wait for its output pipes.
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	if err == nil {
		return files.replacements(), nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if errors.Is(runCtx.Err(), context.DeadlineExceeded) {
		return nil, errTimedOut{limit: timeout}
	}
	if hf := helperFailure(err, stderr.String()); hf != nil {
		return nil, hf
	}
	return files.replacements(), err
}

// stderrLog takes a tool's stderr and gives back its tail.
type stderrLog interface {
	io.Writer
	String() string
}

// cappedBuffer keeps at most limit bytes and remembers that it dropped some.
// ffprobe's JSON is small for real media, but a crafted file can carry
// megabytes of tags.
type cappedBuffer struct {
	buf       bytes.Buffer
	limit     int
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.buf.Len(); len(p) > room {
		b.truncated = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

// tailBuffer keeps the last limit bytes written: the end of stderr is where
// ffmpeg says why it gave up, and a corrupt file can make it log for minutes.
type tailBuffer struct {
	buf   []byte
	limit int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*b.limit {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.limit:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	if len(b.buf) > b.limit {
		return string(b.buf[len(b.buf)-b.limit:])
	}
	return string(b.buf)
}
