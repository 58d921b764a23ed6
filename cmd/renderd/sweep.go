package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/encoders"
)

// legacyTempAge is how long a temporary blob file whose name does not say
// whose write it is (one an older renderd made) may go unmodified before
// the sweep takes it for one a crash left behind, as older renderds judge
// every temporary file: each writer keeps its file's modification time
// fresh while it works (an upload at least once per
// RENDERD_TRANSFER_WINDOW, at most maxTransferWindow; ffmpeg continuously),
// and an hour is far beyond both.
const legacyTempAge = time.Hour

// tempStore is the blob store as the sweep sees it. blob.Local lists the
// .tmp-* files under its root; a store on S3 implements it by listing its
// unfinished multipart uploads and aborting the stale ones.
type tempStore interface {
	Temps(ctx context.Context) ([]blob.Temp, error)
	RemoveTemp(t blob.Temp) (removed bool, err error)
}

// renderQueue tells which render attempts are over (encoders.AttemptOver).
type renderQueue interface {
	Jobs(ctx context.Context, renderIDs []string) (map[string]commands.RenderJob, error)
}

// tempSweep removes the temporary blob files of writes that no longer run:
// what a crash (kill -9, a lost host) between creating one and committing
// or discarding it leaves behind. Each role sweeps the files of its own
// writes, where it can tell a live write from a dead one:
//   - an encoder (outputs set) the outputs of render attempts that are over
//     by the render queue (encoders.AttemptOver), once not written for
//     minAge: the queue is read after the files were listed, and a file
//     exists only once its attempt was claimed, so a claim cannot race the
//     sweep; minAge is a margin on top, and lets the encoder of an attempt
//     just ended (cancelled, reaped) stop ffmpeg and discard its file itself;
//   - an API process (uploads) the uploads not written for uploadIdle,
//     longer than a live upload ever pauses (httpapi.Timeouts.MaxUploadPause);
//   - both the files older renderds named, once legacyTempAge old.
//
// Several processes may sweep one store at once: whether a write is over
// never changes back, and RemoveTemp leaves a file another sweep removed
// (or its writer wrote again) alone.
type tempSweep struct {
	store      tempStore
	outputs    renderQueue // nil: not an encoder
	uploads    bool
	uploadIdle time.Duration
	minAge     time.Duration
	now        func() time.Time
}

// tempVerdict is what the sweep does with one temporary file.
type tempVerdict int

const (
	keepTemp   tempVerdict = iota
	removeTemp             // orphaned
	askQueue               // orphaned if its render attempt is over
)

// judge decides what it can about t from its name and age alone.
func (s tempSweep) judge(t blob.Temp, now time.Time) tempVerdict {
	idle := now.Sub(t.ModTime)
	if t.Key == "" {
		if (s.outputs != nil || s.uploads) && idle > legacyTempAge {
			return removeTemp
		}
		return keepTemp
	}
	if _, _, ok := encoders.ParseOutputKey(t.Key); ok {
		if s.outputs != nil && idle > s.minAge {
			return askQueue
		}
		return keepTemp
	}
	if s.uploads && idle > s.uploadIdle {
		return removeTemp
	}
	return keepTemp
}

// sweep removes the orphaned temporary files and says how many and how
// many bytes. Failures are returned, joined, after the rest was swept.
func (s tempSweep) sweep(ctx context.Context) (removed int, bytes int64, err error) {
	temps, err := s.store.Temps(ctx)
	if ctx.Err() != nil {
		return 0, 0, err
	}
	errs := []error{err}
	now := s.now()
	var doomed, maybe []blob.Temp
	var renders []string
	for _, t := range temps {
		switch s.judge(t, now) {
		case removeTemp:
			doomed = append(doomed, t)
		case askQueue:
			id, _, _ := encoders.ParseOutputKey(t.Key)
			maybe, renders = append(maybe, t), append(renders, id)
		}
	}
	if len(maybe) > 0 {
		jobs, err := s.outputs.Jobs(ctx, renders)
		if err != nil {
			errs = append(errs, err)
		}
		for _, t := range maybe {
			id, attempt, _ := encoders.ParseOutputKey(t.Key)
			job, queued := jobs[id]
			if err == nil && encoders.AttemptOver(job, queued, attempt) {
				doomed = append(doomed, t)
			}
		}
	}
	for _, t := range doomed {
		ok, err := s.store.RemoveTemp(t)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			removed++
			bytes += t.Size
		}
	}
	return removed, bytes, errors.Join(errs...)
}

// run sweeps at start, then every interval until ctx ends. A failed sweep
// is logged and retried at the next one; it never stops the service.
func (s tempSweep) run(ctx context.Context, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		removed, bytes, err := s.sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("sweeping temporary blob files failed", "error", err, "removed", removed, "bytes", bytes)
		case removed > 0:
			log.Info("swept temporary blob files left behind by writes that no longer run", "removed", removed, "bytes", bytes)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
