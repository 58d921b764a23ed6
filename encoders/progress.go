package encoders

import (
	"context"
	"sync"
	"time"

	"github.com/renderd/renderd/commands"
)

// Progress reports go out when the encode moved progressStep points since
// the last one and progressGap passed, or progressEvery passed and it moved
// at all: a long encode shows life every few seconds, a short one does not
// flood its stream, and a fast one reports at most once a second (each
// report is a command, an event relayed and projected: CPU taken from the
// encodes on a busy encoder).
const (
	progressStep  = 5
	progressGap   = time.Second
	progressEvery = 2 * time.Second
)

// progressReporter turns ffmpeg's progress into ReportProgress commands off
// the reading goroutine: observe never waits for Postgres, and a report
// still in flight is replaced by the newest one rather than queued.
type progressReporter struct {
	w     *RenderWorker
	job   claimed
	total time.Duration

	mu      sync.Mutex
	latest  commands.ReportProgress
	pending bool
	sent    int       // percent of the last report handed over
	sentAt  time.Time // when (zero before the first: it goes at once)
	wake    chan struct{}
	done    chan struct{}
	stopped sync.WaitGroup
}

func newProgressReporter(w *RenderWorker, job claimed, total time.Duration) *progressReporter {
	p := &progressReporter{w: w, job: job, total: total, wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.stopped.Go(p.send)
	return p
}

// observe takes one progress block from ffmpeg.
func (p *progressReporter) observe(pr Progress) {
	if p.total <= 0 {
		return
	}
	percent := min(int(pr.OutTime*100/p.total), 99) // 100 is completion's
	now := p.w.now()
	p.mu.Lock()
	since := now.Sub(p.sentAt)
	due := percent > p.sent && ((percent-p.sent >= progressStep && since >= progressGap) || since >= progressEvery)
	if due {
		var eta time.Duration
		if pr.Speed > 0 {
			eta = time.Duration(float64(p.total-pr.OutTime) / pr.Speed)
		}
		p.latest = commands.ReportProgress{RenderID: p.job.renderID, Attempt: p.job.attempt, Percent: percent,
			ETA: max(eta, 0).Round(time.Second), Position: pr.OutTime}
		p.pending, p.sent, p.sentAt = true, percent, now
	}
	p.mu.Unlock()
	if due {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// send reports the latest progress whenever there is one.
func (p *progressReporter) send() {
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
		}
		p.mu.Lock()
		cmd, ok := p.latest, p.pending
		p.pending = false
		p.mu.Unlock()
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(p.job.traced(context.Background()), handBackTimeout)
		// A refused report (the attempt ended meanwhile) is the lease
		// watcher's business; a failed one only loses a progress step.
		if _, err := p.w.cmds.Progress.Handle(ctx, p.job.caller, cmd); err != nil {
			p.w.log.Debug("progress not recorded", "render_id", cmd.RenderID, "percent", cmd.Percent, "err", err)
		}
		cancel()
	}
}

// close stops reporting; it returns once no report is in flight, so the
// completion that follows is the attempt's last event.
func (p *progressReporter) close() {
	close(p.done)
	p.stopped.Wait()
}
