package encoders

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// BlobRemovals is the durable queue of blobs to remove that the command
// transactions fill (commands.Erasure): the parts and outputs of deleted
// assets, and expired outputs.
type BlobRemovals interface {
	// Claim returns up to n removals due by now and defers each by retry:
	// one not reported Removed by then is due again.
	Claim(ctx context.Context, n int, now time.Time, retry time.Duration) ([]string, error)
	// Removed ends a removal; Failed notes why one failed (it stays due
	// after its retry delay).
	Removed(ctx context.Context, key string) error
	Failed(ctx context.Context, key, reason string) error
}

// BlobEraser removes a blob from the blob store; a blob that is not there
// is not an error, so a retried removal succeeds.
type BlobEraser interface {
	Delete(ctx context.Context, key string) error
}

// BlobEraserFunc is a function as a BlobEraser.
type BlobEraserFunc func(ctx context.Context, key string) error

// Delete calls f.
func (f BlobEraserFunc) Delete(ctx context.Context, key string) error { return f(ctx, key) }

// OutputsDue finds renders whose output is due to expire: completed before
// completedBefore, neither expired nor deleted, oldest first. The read model
// answers it; ExpireOutput decides on the render itself, so a row that lags
// changes nothing but when.
type OutputsDue interface {
	OutputsDue(ctx context.Context, completedBefore time.Time, n int) ([]string, error)
}

// EraserConfig sets the pace of an Eraser.
type EraserConfig struct {
	// Retention is how long a completed render's output is kept
	// (RENDERD_OUTPUT_RETENTION); 0 keeps outputs until their asset is
	// deleted.
	Retention time.Duration
	// Interval is the time between passes (RENDERD_ERASURE_INTERVAL).
	Interval time.Duration
	// Batch bounds the renders expired and the blobs removed per pass;
	// a full batch starts the next pass at once.
	Batch int
	// Retry is how long a claimed removal waits before it is due again,
	// when its remover failed or died.
	Retry time.Duration
}

// Eraser is the encoder role's share of retention and erasure
// (docs/renders.md, "Retention and erasure"): it expires the outputs that
// passed the retention period and removes the queued blobs from the blob
// store, retrying each until it is gone. Several encoders may run one at
// once: the render's stream lock decides each expiry, and a claim defers a
// removal for the others.
type Eraser struct {
	cfg      EraserConfig
	removals BlobRemovals
	blobs    BlobEraser
	due      OutputsDue
	expire   *commands.ExpireOutputHandler
	now      func() time.Time
	log      *slog.Logger
}

// NewEraser checks its configuration once.
func NewEraser(cfg EraserConfig, removals BlobRemovals, blobs BlobEraser, due OutputsDue, expire *commands.ExpireOutputHandler,
	now func() time.Time, log *slog.Logger) (*Eraser, error) {
	if removals == nil || blobs == nil || due == nil || expire == nil || now == nil || log == nil {
		return nil, errors.New("eraser: removals, blobs, due outputs, the expire command, a clock and a logger are required")
	}
	if cfg.Retention < 0 || cfg.Interval <= 0 || cfg.Batch < 1 || cfg.Retry <= 0 {
		return nil, errors.New("eraser: retention must not be negative; interval, batch and retry must be positive")
	}
	return &Eraser{cfg: cfg, removals: removals, blobs: blobs, due: due, expire: expire, now: now, log: log.With("worker", "eraser")}, nil
}

// Run passes every interval until ctx ends. A pass that fails (the
// database away) is logged and the next one tries again.
func (e *Eraser) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		full, err := e.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("erasure pass failed; trying again at the next", "err", err)
		}
		wait := e.cfg.Interval
		if full && err == nil {
			wait = 0
		}
		t.Reset(wait)
	}
}

// Pass expires the outputs due and removes the blobs due, at most a batch
// of each, and reports whether either batch was full (more may wait).
func (e *Eraser) Pass(ctx context.Context) (full bool, err error) {
	expired, err := e.expireDue(ctx)
	if err != nil {
		return false, err
	}
	removed, err := e.removeDue(ctx)
	return expired == e.cfg.Batch || removed == e.cfg.Batch, err
}

func (e *Eraser) expireDue(ctx context.Context) (int, error) {
	if e.cfg.Retention == 0 {
		return 0, nil
	}
	before := e.now().Add(-e.cfg.Retention)
	ids, err := e.due.OutputsDue(ctx, before, e.cfg.Batch)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		w, err := e.expire.Handle(ctx, commands.Caller{CorrelationID: "retention"}, commands.ExpireOutput{RenderID: id, CompletedBefore: before})
		if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrConflict) {
			// The read model lags behind the render (deleted meanwhile):
			// the render decided, and the row follows.
			e.log.Info("render output not expired", "render_id", id, "reason", err)
			continue
		}
		if err != nil {
			return 0, err
		}
		if len(w.Events) > 0 {
			e.log.Info("render output expired", "render_id", id)
		}
	}
	return len(ids), nil
}

func (e *Eraser) removeDue(ctx context.Context) (int, error) {
	keys, err := e.removals.Claim(ctx, e.cfg.Batch, e.now(), e.cfg.Retry)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, key := range keys {
		if err := e.blobs.Delete(ctx, key); err != nil {
			e.log.Warn("removing a blob failed; it is tried again", "blob_key", key, "err", err, "retry_in", e.cfg.Retry)
			errs = append(errs, e.removals.Failed(ctx, key, err.Error()))
			continue
		}
		errs = append(errs, e.removals.Removed(ctx, key))
	}
	return len(keys), errors.Join(errs...)
}
