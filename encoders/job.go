package encoders

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/telemetry"
)

// retryable says whether requesting the same render again may succeed: a
// stall or a crash of ffmpeg can be the machine's (a stuck disk, another
// job's load). A source that needs more memory than the cap, or an output
// that fails its checks, fails the same way every time, and so does any
// failure that says it is Deterministic (a job BuildCommand refuses, an
// ffmpeg command the kernel refuses to start), whatever its code.
func retryable(code string, err error) bool {
	var d deterministic
	if errors.As(err, &d) && d.Deterministic() {
		return false
	}
	return code == domain.FailureEncodeTimeout || code == domain.FailureEncodeFailed
}

// deterministic is implemented by failures that know they would fail the
// same way on every attempt.
type deterministic interface{ Deterministic() bool }

// How a job's context ended, when it did not end on its own.
var (
	errAttemptGone = errors.New("the attempt no longer runs here: cancelled, or its lease was lost")
	errShutdown    = errors.New("the worker is shutting down")
)

// handBackTimeout bounds the commands a job sends after its context ended.
const handBackTimeout = 5 * time.Second

// annotate names the render on a claim's or a job's span that records.
func annotate(span trace.Span, renderID string) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("renderd.render_id", renderID))
	}
}

// claimed is an attempt this worker won.
type claimed struct {
	renderID string
	attempt  int
	started  time.Time
	caller   commands.Caller
	// trace is the span the attempt's work descends from: the claim's,
	// then (runJob) the job's. The commands the job sends on contexts of
	// their own (complete, fail, hand back) join it through traced.
	trace trace.SpanContext
}

// traced returns ctx in the job's trace.
func (j claimed) traced(ctx context.Context) context.Context {
	if !j.trace.IsValid() {
		return ctx
	}
	return trace.ContextWithSpanContext(ctx, j.trace)
}

// runJob runs one claimed attempt to its end. Whatever happens, the render
// leaves this worker through exactly one command (complete, fail, retry) or
// none when someone else ended the attempt (a cancel, a reaper).
func (w *RenderWorker) runJob(parent context.Context, job claimed) {
	log := w.log.With("render_id", job.renderID, "attempt", job.attempt)
	jctx, span := telemetry.Start(job.traced(context.WithoutCancel(parent)), "render job")
	annotate(span, job.renderID)
	defer span.End()
	if sc := span.SpanContext(); sc.IsValid() { // with tracing off, the claim's carried context goes on
		job.trace = sc
	}
	ctx, stop := context.WithCancelCause(jctx)
	defer stop(nil)
	// The worker's shutdown stops the job too, with its own cause.
	unhook := context.AfterFunc(parent, func() { stop(errShutdown) })
	defer unhook()

	db := newUptime(job.started) // StartRender just got through
	var watch sync.WaitGroup
	watch.Go(func() { w.watchLease(ctx, job, stop, db) })
	defer watch.Wait()
	defer stop(nil) // ends the watcher before waiting for it

	res, err := w.encode(ctx, job, log)
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		// A committed output is reported even when the attempt ended or the
		// worker began to stop meanwhile: the command decides, and a
		// refused completion deletes the output.
		w.complete(parent, ctx, job, res, db, log)
	case errors.Is(cause, errAttemptGone) || errors.Is(err, errAttemptGone):
		log.Info("render stopped: the attempt ended elsewhere (cancelled or reaped)")
	case errors.Is(cause, errShutdown):
		w.handBack(job, log)
	default:
		w.fail(job, err, log)
	}
}

// watchLease renews the lease every third of its length and asks every
// CancelCheck whether the attempt is still this worker's; when it is not
// (the client cancelled, a reaper re-queued it) it stops the job. After a
// failed call it renews on the next check that gets through rather than a
// third of a lease later: a lease that ran out during a database outage is
// renewed as soon as the database is back, before any reaper looks (see
// reap and docs/renders.md "Leases, outages and crashes"). db records
// since when the database has answered it.
func (w *RenderWorker) watchLease(ctx context.Context, job claimed, stop context.CancelCauseFunc, db *uptime) {
	check := time.NewTicker(w.cfg.CancelCheck)
	defer check.Stop()
	renew := time.NewTicker(w.cfg.Lease / 3)
	defer renew.Stop()
	renewDue := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		case <-renew.C:
			renewDue = true
		}
		var held bool
		var err error
		if renewDue {
			held, err = w.queue.Renew(ctx, job.renderID, job.attempt, w.cfg.WorkerID, w.now().Add(w.cfg.Lease))
		} else {
			held, err = w.queue.Held(ctx, job.renderID, job.attempt, w.cfg.WorkerID)
		}
		if err != nil {
			// Postgres is away: keep encoding (or completing), renew as
			// soon as it answers. One line when it goes, one when it is
			// back.
			if db.failed(w.now()) && ctx.Err() == nil {
				w.log.Warn("lease check failed; renewing once the database answers", "render_id", job.renderID, "err", err)
			}
			renewDue = true
			continue
		}
		if down := db.answered(w.now()); down > 0 {
			w.log.Info("lease check answered again", "render_id", job.renderID, "renewed", renewDue, "held", held,
				"down_for", down.Round(time.Millisecond))
		}
		renewDue = false
		if !held {
			stop(errAttemptGone)
			return
		}
	}
}

// uptime is since when the database has answered one caller (a job's lease
// watcher, a reaper, a media worker's claims and renewals) without a
// failure in between. It is shared between goroutines.
type uptime struct {
	mu       sync.Mutex
	since    time.Time // zero while failing
	failedAt time.Time // when the current failure began
}

// newUptime starts answering at since (a zero since: not yet answered).
func newUptime(since time.Time) *uptime { return &uptime{since: since} }

// failed records a failure at now and reports whether it begins an outage
// (the previous call was answered).
func (u *uptime) failed(now time.Time) (began bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	began = u.failedAt.IsZero()
	if began {
		u.failedAt = now
	}
	u.since = time.Time{}
	return began
}

// answered records an answer at now and returns how long the outage it
// ends lasted (0 when there was none).
func (u *uptime) answered(now time.Time) (down time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.failedAt.IsZero() {
		down, u.failedAt = max(now.Sub(u.failedAt), time.Nanosecond), time.Time{}
	}
	if u.since.IsZero() {
		u.since = now
	}
	return down
}

// upFor is how long the database has answered by now (0 while failing or
// not yet answered).
func (u *uptime) upFor(now time.Time) time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.since.IsZero() {
		return 0
	}
	return now.Sub(u.since)
}

// encoded is a verified output, committed to the blob store.
type encoded struct {
	result domain.RenderCompleted
}

// encode plans, runs and verifies the attempt, and commits its output.
func (w *RenderWorker) encode(ctx context.Context, job claimed, log *slog.Logger) (encoded, error) {
	r, a, err := w.load(ctx, job.renderID)
	if err != nil {
		return encoded{}, err
	}
	req := r.Requested()
	srcKey, media, ok := inputOf(a, req.Output.Format)
	if !ok {
		return encoded{}, failure(domain.FailureSourceUnreadable, "the asset has no probed input for this output")
	}
	var srcPath string
	var release func()
	err = w.patiently(ctx, "fetching the render's source", srcKey, log, func() (err error) {
		srcPath, release, err = w.blobs.Fetch(ctx, srcKey)
		return err
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return encoded{}, failure(domain.FailureSourceUnreadable, "the asset's input is not in the blob store")
	case err != nil && ctx.Err() != nil:
		return encoded{}, err // the job ended meanwhile: its cause decides
	case err != nil:
		// The store's trouble (an outage past the job's patience, a full
		// scratch disk), not the source's: encode_failed, retryable. The
		// event is public, so its message names no store (an endpoint, a
		// bucket); the log does.
		log.Warn("fetching the render's source failed", "blob_key", srcKey, "err", err)
		return encoded{}, failure(domain.FailureEncodeFailed, "the blob store did not hand over the source")
	}
	defer release()
	input, err := w.media.InputArgs(srcPath, media.Container)
	if err != nil {
		return encoded{}, err
	}
	key := OutputKey(job.renderID, job.attempt, req.Output.Format)
	tmp, err := w.blobs.CreateTemp(key)
	if err != nil {
		return encoded{}, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = w.blobs.Discard(tmp) // the partial or refused output
		}
	}()
	// The job's scratch folder holds what ffmpeg reads besides the source
	// (the cut's filter graph); it goes with the job.
	scratch, err := os.MkdirTemp(w.cfg.ScratchDir, "render-")
	if err != nil {
		return encoded{}, fmt.Errorf("scratch folder: %w", err)
	}
	defer os.RemoveAll(scratch)
	script := filepath.Join(scratch, "filter")
	cmd, err := BuildCommand(Job{Format: req.Output.Format, Plan: req.Plan, Source: media, Input: input, Output: tmp,
		FilterScript: script, Threads: w.threads()})
	if err != nil {
		return encoded{}, &jobFailure{code: domain.FailureEncodeFailed, message: err.Error(), deterministic: true}
	}
	if cmd.FilterGraph != "" {
		if err := os.WriteFile(script, []byte(cmd.FilterGraph), 0o600); err != nil {
			return encoded{}, fmt.Errorf("filter script: %w", err)
		}
	}
	// A cancel between the claim and here must prevent the start.
	if held, err := w.queue.Held(ctx, job.renderID, job.attempt, w.cfg.WorkerID); err == nil && !held {
		return encoded{}, errAttemptGone
	}
	if ctx.Err() != nil {
		return encoded{}, context.Cause(ctx)
	}

	reporter := newProgressReporter(w, job, req.Plan.Duration)
	ranFrom := w.now()
	rctx, span := telemetry.Start(ctx, "ffmpeg")
	runErr := w.media.Run(rctx, cmd.Args, reporter.observe)
	telemetry.End(span, runErr)
	ran := w.now().Sub(ranFrom)
	reporter.close()
	if runErr != nil {
		return encoded{}, runErr
	}
	want := ExpectFor(req.Output.Format, req.Plan, media)
	out, err := w.media.Verify(ctx, tmp, want)
	if err != nil {
		return encoded{}, err
	}
	var size int64
	err = w.patiently(ctx, "committing the render's output", key, log, func() (err error) {
		size, err = w.blobs.Commit(ctx, tmp, key)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return encoded{}, err // the job ended meanwhile: its cause decides
		}
		log.Warn("committing the render's output failed", "blob_key", key, "err", err)
		return encoded{}, failure(domain.FailureEncodeFailed, "the blob store did not take the output")
	}
	committed = true
	observeEncode(req.Output, req.Plan.Duration, ran)
	log.Info("render encoded", "fast_path", cmd.FastPath, "size_bytes", size, "took", w.now().Sub(job.started).Round(time.Millisecond))
	return encoded{result: domain.RenderCompleted{
		Attempt: job.attempt, BlobKey: key, SizeBytes: size, Duration: out.Duration,
		Width: out.Width, Height: out.Height, VideoBitrate: out.VideoBitrate, AudioBitrate: out.AudioBitrate,
		EncodeTime: w.now().Sub(job.started), FastPath: cmd.FastPath,
	}}, nil
}

// threads is the -threads of an encode starting now: SharedThreads when
// other jobs of this worker run (their slots are taken), else Threads.
func (w *RenderWorker) threads() int {
	if w.cfg.SharedThreads > 0 && len(w.slots) > 1 {
		return w.cfg.SharedThreads
	}
	return w.cfg.Threads
}

// Backoff of patiently: the first retry soon, then doubling up to the
// longest.
const (
	storeRetryFirst = 250 * time.Millisecond
	storeRetryMax   = 5 * time.Second
)

// patiently runs op, a blob store call about key, and runs it again with
// backoff while it fails, for up to the worker's StorePatience: a store's
// restart or short outage costs a render time, not its attempt. A missing
// object is an answer, not an outage, and so is the job's end. One log
// line when the store fails, one when it answers again.
func (w *RenderWorker) patiently(ctx context.Context, what, key string, log *slog.Logger, op func() error) error {
	giveUp := w.now().Add(w.cfg.StorePatience)
	delay := storeRetryFirst
	for tries := 1; ; tries++ {
		err := op()
		switch {
		case err == nil:
			if tries > 1 {
				log.Info(what+": the blob store answered again", "blob_key", key, "tries", tries)
			}
			return nil
		case errors.Is(err, fs.ErrNotExist) || ctx.Err() != nil || w.now().Add(delay).After(giveUp):
			return err
		case tries == 1:
			log.Warn(what+" failed; asking the blob store again", "blob_key", key, "for", w.cfg.StorePatience, "err", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, storeRetryMax)
	}
}

// observeEncode records a successful encode's ffmpeg wall time, by format
// and tier, and its speed (media seconds per wall second). Only encodes
// whose output was verified and committed count: a failed one says nothing
// of how long this format takes.
func observeEncode(out domain.OutputSpec, media, wall time.Duration) {
	telemetry.EncodeDuration.WithLabelValues(string(out.Format), tierOf(out)).Observe(wall.Seconds())
	if wall > 0 {
		telemetry.EncodeSpeed.Observe(media.Seconds() / wall.Seconds())
	}
}

// tierOf is the encode-duration tier label: the requested resolution,
// "source" for a video at the source's size, "audio" for an audio format.
// A bounded set, as a label must be.
func tierOf(out domain.OutputSpec) string {
	switch {
	case !out.Format.IsVideo():
		return "audio"
	case out.Resolution == "":
		return "source"
	}
	return string(out.Resolution)
}

// load rebuilds the render and its asset from the event store.
func (w *RenderWorker) load(ctx context.Context, renderID string) (*domain.Render, *domain.Asset, error) {
	recs, err := w.events.Load(ctx, renderID)
	if err != nil {
		return nil, nil, err
	}
	r, err := domain.RebuildRender(recs)
	if err != nil {
		return nil, nil, err
	}
	recs, err = w.events.Load(ctx, r.Requested().AssetID)
	if err != nil {
		return nil, nil, err
	}
	a, err := domain.RebuildAsset(recs)
	if err != nil {
		return nil, nil, err
	}
	return r, a, nil
}

// inputOf is the blob and probe a render of format reads: the source for
// video, and for audio the file the plan was made from (the client-extracted
// audio when there is one, so an audio render need not wait for the video).
func inputOf(a *domain.Asset, f domain.Format) (key string, media domain.MediaInfo, ok bool) {
	if f.IsVideo() {
		media, ok = a.Media()
		return a.SourceBlobKey(), media, ok
	}
	return a.AudioSource()
}

// OutputKey is where an attempt's output is stored. Each attempt has its
// own key, so a stale attempt cleaning up after a refused completion never
// deletes the output of the attempt that won.
func OutputKey(renderID string, attempt int, f domain.Format) string {
	return fmt.Sprintf("renders/%s/attempt-%d.%s", renderID, attempt, f)
}

// ExpectFor is what the verified output of a plan of format f must be
// (Media.Verify), src being the probe of the plan's input.
func ExpectFor(f domain.Format, p domain.RenderPlan, src domain.MediaInfo) Expect {
	e := Expect{Container: string(f), Duration: p.Duration, FrameRate: src.FrameRate}
	switch f {
	case domain.FormatMP4, domain.FormatMOV:
		e.VideoCodec, e.Width, e.Height, e.Faststart = "h264", p.Width, p.Height, true
		if src.HasAudio {
			e.AudioCodec = "aac"
		}
	case domain.FormatM4A:
		e.Container, e.AudioCodec, e.Faststart = "mp4", "aac", true // the m4a container is named mov,mp4,m4a,…
	case domain.FormatMP3:
		e.AudioCodec = "mp3"
	}
	return e
}

// How long a worker waits between tries of a completion whose fate it
// does not know: short first steps, so a blip costs milliseconds, then
// capped, so an outage costs at most this much after its end.
const (
	completeRetryFirst = 100 * time.Millisecond
	completeRetryMax   = 2 * time.Second
)

// completion is what an answer to CompleteRender says of the output.
type completion int

const (
	completionRecorded completion = iota // the output is the deliverable
	completionRefused                    // the attempt is no longer this worker's: delete the output
	completionUnknown                    // no answer (the database is away): keep the output, ask again
)

// completionOf reads CompleteRender's answer. Only a refusal the command
// decided (a conflict: cancelled, reaped, a later attempt runs; or the
// render is gone) says the attempt is over; any other error may be a
// completion that went through without its answer reaching us, so the
// output must stay until the command answers.
func completionOf(err error) completion {
	var conflict *domain.ConflictError
	switch {
	case err == nil:
		return completionRecorded
	case errors.As(err, &conflict) || errors.Is(err, domain.ErrNotFound):
		return completionRefused
	default:
		return completionUnknown
	}
}

// notAnOutage says a completion failing since failingSince has failed for a
// whole lease while the database answered the lease watcher all along: its
// failure is no outage, and asking again will not cure it.
func notAnOutage(failingSince time.Time, db *uptime, now time.Time, lease time.Duration) bool {
	return !failingSince.IsZero() && now.Sub(failingSince) >= lease && db.upFor(now) >= lease
}

// complete reports the committed output until the command answers: with
// success, or with a refusal when the render was cancelled or the attempt
// reaped meanwhile, which deletes the output. A finished encode is never
// thrown away for want of an answer: while the database is away the worker
// keeps the output and asks again with backoff, and the lease watcher keeps
// renewing the lease (so the slot stays busy: the job is not over). It
// stops asking without an answer only when
//   - the worker shuts down: one last try, then the output stays for the
//     reaper, which deletes it when it re-queues the attempt (reap);
//   - the database has answered the lease watcher for a whole lease while
//     the completion still fails: that is no outage but a fault of its own,
//     and the output stays for the reaper the same way.
//
// A lease watcher that learns the attempt is no longer held ends attempt,
// which wakes this loop up, and the next answer decides: "not held" is also
// what this worker's own completion looks like once it went through
// unanswered. worker ends when the worker shuts down.
func (w *RenderWorker) complete(worker, attempt context.Context, job claimed, res encoded, db *uptime, log *slog.Logger) {
	cmd := commands.CompleteRender{RenderID: job.renderID, Result: res.result}
	key := res.result.BlobKey
	delay := completeRetryFirst
	wake := attempt.Done()
	var failingSince time.Time
	lastTry := false
	for {
		tctx, cancel := context.WithTimeout(job.traced(context.Background()), handBackTimeout)
		_, err := w.cmds.Complete.Handle(tctx, job.caller, cmd)
		cancel()
		outcome := completionOf(err)
		switch {
		case outcome == completionRecorded:
			if failingSince.IsZero() {
				log.Info("render completed", "blob_key", key)
			} else {
				log.Info("render completed once the database answered", "blob_key", key, "waited", w.now().Sub(failingSince).Round(time.Millisecond))
			}
			return
		case outcome == completionRefused:
			dctx, cancel := context.WithTimeout(context.Background(), handBackTimeout)
			derr := w.blobs.Delete(dctx, key)
			cancel()
			if derr != nil {
				log.Warn("deleting a refused output failed", "blob_key", key, "err", derr)
			}
			log.Info("completion refused: the attempt ended meanwhile; output deleted", "err", err)
			return
		case lastTry:
			log.Warn("the worker stops before the completion was recorded; the output stays for the reaper", "blob_key", key, "err", err)
			return
		case notAnOutage(failingSince, db, w.now(), w.cfg.Lease):
			log.Error("completing the render keeps failing while the database answers; the output stays for the reaper", "blob_key", key, "err", err)
			return
		case failingSince.IsZero():
			failingSince = w.now()
			log.Warn("completing the render failed; keeping the output and asking again", "blob_key", key, "err", err)
		}
		if worker.Err() != nil {
			lastTry = true
			continue
		}
		select {
		case <-time.After(delay):
			delay = min(2*delay, completeRetryMax)
		case <-wake:
			wake = nil // the attempt ended: ask again now
		case <-worker.Done():
			lastTry = true
		}
	}
}

// fail records the attempt's failure with a stable code.
func (w *RenderWorker) fail(job claimed, err error, log *slog.Logger) {
	code, message := failureOf(err)
	ctx, cancel := context.WithTimeout(job.traced(context.Background()), handBackTimeout)
	defer cancel()
	_, ferr := w.cmds.Fail.Handle(ctx, job.caller, commands.FailRender{RenderID: job.renderID, Attempt: job.attempt,
		Code: code, Message: message, Retryable: retryable(code, err)})
	log.Warn("render failed", "code", code, "message", message, "err", err, "report_err", ferr)
}

// handBack returns the render to the queue on a graceful shutdown; it does
// not count as a crash.
func (w *RenderWorker) handBack(job claimed, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(job.traced(context.Background()), handBackTimeout)
	defer cancel()
	_, err := w.cmds.Retry.Handle(ctx, job.caller, commands.RetryRender{RenderID: job.renderID, Attempt: job.attempt, Reason: domain.RetryHandedBack})
	if err != nil {
		log.Warn("handing the render back failed; its lease will expire", "err", err)
		return
	}
	log.Info("render handed back for another encoder")
}

// failureOf maps an error to render.failed's code and message: the media's
// own failures keep theirs; anything else is an encode failure. The event
// is public, so the message never names a server path (a scratch folder, a
// blob), whatever error it came from.
func failureOf(err error) (code, message string) {
	var mf commands.MediaFailure
	if errors.As(err, &mf) {
		return mf.FailureCode(), trimMessage(domain.ScrubServerPaths(mf.FailureMessage()))
	}
	return domain.FailureEncodeFailed, trimMessage(domain.ScrubServerPaths(err.Error()))
}

// trimMessage keeps failure messages short enough for an event and an API.
func trimMessage(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1024 {
		s = s[:1024] + "…"
	}
	return s
}

// jobFailure is a failure the pipeline itself decides.
type jobFailure struct {
	code, message string
	deterministic bool
}

func failure(code, message string) error { return &jobFailure{code: code, message: message} }

func (f *jobFailure) Error() string          { return f.code + ": " + f.message }
func (f *jobFailure) FailureCode() string    { return f.code }
func (f *jobFailure) FailureMessage() string { return f.message }
func (f *jobFailure) Deterministic() bool    { return f.deterministic }
