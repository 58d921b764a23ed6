package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// bar is one long step's progress bar on stderr, or nothing when renderctl
// is not on a terminal (a nil *bar: every method does nothing).
type bar struct {
	pb      *progressbar.ProgressBar
	spinner bool
}

// common are the options of every bar: on w, and a new line once done so
// that what follows starts clean.
func common(w io.Writer, desc string) []progressbar.Option {
	return []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }),
		progressbar.OptionSetRenderBlankState(true),
	}
}

// bytesBar counts total bytes with their rate and the time left (an upload
// or a download); total -1 when unknown. It is told of every read or write,
// so it is redrawn at most ten times a second.
func (a *app) bytesBar(desc string, total int64) *bar {
	if !a.tty {
		return nil
	}
	return &bar{pb: progressbar.NewOptions64(total, append(common(a.stderr, desc),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowBytes(true), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))...)}
}

// percentBar goes from 0 to 100 (a render); its description carries the
// server's ETA (describe). Unthrottled: it moves once a poll.
func (a *app) percentBar(desc string) *bar {
	if !a.tty {
		return nil
	}
	return &bar{pb: progressbar.NewOptions64(100, append(common(a.stderr, desc),
		progressbar.OptionSetPredictTime(false), progressbar.OptionSetElapsedTime(true))...)}
}

// spinnerBar turns while a step without a measure goes on (the probe).
func (a *app) spinnerBar(desc string) *bar {
	if !a.tty {
		return nil
	}
	return &bar{spinner: true, pb: progressbar.NewOptions64(-1, append(common(a.stderr, desc),
		progressbar.OptionSpinnerType(14), progressbar.OptionSetElapsedTime(true))...)}
}

// set moves the bar to n (of its total).
func (b *bar) set(n int64) {
	if b != nil {
		_ = b.pb.Set64(n)
	}
}

// describe replaces the text beside the bar.
func (b *bar) describe(desc string) {
	if b != nil {
		b.pb.Describe(desc)
	}
}

// done fills the bar and ends its line.
func (b *bar) done() {
	if b != nil {
		_ = b.pb.Finish()
	}
}

// stop ends the bar where it is (a failure or an interruption), ending its
// line so that the error that follows starts on its own.
func (b *bar) stop() {
	if b == nil || b.pb.IsFinished() {
		return // its line ended already
	}
	if b.spinner {
		_ = b.pb.Finish() // stops its ticking goroutine
		return
	}
	_ = b.pb.Exit()
}
