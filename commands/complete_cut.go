package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
)

// CompleteCut finishes a processing cut whose asset became cuttable (or
// failed). The media worker issues it on cut.requested for an explicit cut
// and on asset.charged / asset.failed for every cut of the asset in flight,
// and with Detect for an automatic cut's silence job (SilenceJobID).
type CompleteCut struct {
	CutID string
	// Detect runs silence detection for an automatic cut: only its media
	// job sets it, so detection runs in the workers' bounded pool and never
	// on a Kafka partition. Without it, explicit cuts complete, cuts of a
	// failed asset fail, and an automatic cut of a live asset is left to
	// its job.
	Detect bool
	// Crashed says that detecting the cut's silences stopped a media worker
	// domain.MaxCrashedAttempts times (their leases ran out): the cut fails
	// with media_crashed instead of running silencedetect once more.
	Crashed bool
}

// SilenceDetector plans an automatic cut: the kept segments of a file's
// audio, and the duration it measured.
type SilenceDetector interface {
	DetectSilences(ctx context.Context, path string, r domain.SilenceRemoval) ([]domain.Segment, time.Duration, error)
}

// CompleteCutHandler handles CompleteCut.
type CompleteCutHandler struct {
	d      Deps
	detect SilenceDetector
	blobs  BlobFiles
}

// NewCompleteCutHandler checks its dependencies once.
func NewCompleteCutHandler(d Deps, detect SilenceDetector, blobs BlobFiles) (*CompleteCutHandler, error) {
	if detect == nil || blobs == nil {
		return nil, errors.New("complete cut: a silence detector and blob files are required")
	}
	return &CompleteCutHandler{d: d, detect: detect, blobs: blobs}, d.Check()
}

// errBecameCuttable: the asset became cuttable after an automatic cut was
// loaded, so its silences were not detected yet; the job runs again.
var errBecameCuttable = errors.New("the asset became cuttable meanwhile")

// Handle completes or fails the cut if its asset allows; otherwise (not
// cuttable yet) it does nothing, or for a silence job parks the job until
// the asset's charge wakes it. Silence detection runs outside the
// transaction. The transaction that decides the cut also takes it out of
// the cuts in flight and finishes its job.
func (h *CompleteCutHandler) Handle(ctx context.Context, c Caller, cmd CompleteCut) (Written, error) {
	for {
		w, err := h.handle(ctx, c, cmd)
		if !errors.Is(err, errBecameCuttable) {
			return w, err
		}
		// Cuttable only ever gives way to failed: the next round detects,
		// or fails the cut with its asset.
	}
}

func (h *CompleteCutHandler) handle(ctx context.Context, c Caller, cmd CompleteCut) (Written, error) {
	cut, err := loadCut(ctx, h.d.Store, c, cmd.CutID)
	if err != nil {
		return Written{}, err
	}
	if cut.State() != domain.CutStateProcessing {
		return Written{StreamID: cut.ID(), Version: cut.Version()}, nil
	}
	a, err := loadAsset(ctx, h.d.Store, Caller{}, cut.AssetID())
	if err != nil {
		return Written{}, err
	}
	var (
		detected     []domain.Segment
		detectedRan  bool
		mediaFailure MediaFailure
	)
	if auto := cut.Auto(); auto != nil && cmd.Detect && !cmd.Crashed && a.Cuttable() {
		detectedRan = true
		key, _, _ := a.AudioSource()
		path, release, err := h.blobs.Fetch(ctx, key)
		if err != nil {
			return Written{}, fmt.Errorf("cut %s: %w", cut.ID(), err)
		}
		detected, _, err = h.detect.DetectSilences(ctx, path, *auto)
		release()
		if err != nil && !errors.As(err, &mediaFailure) {
			return Written{}, fmt.Errorf("cut %s: %w", cut.ID(), err)
		}
	}

	var w Written
	err = h.d.transact(ctx, "command CompleteCut", []string{cut.ID(), cut.AssetID()}, func(ctx context.Context, tx Tx) error {
		cut, err := loadCut(ctx, tx, c, cmd.CutID)
		if err != nil {
			return err
		}
		a, err := loadAsset(ctx, tx, Caller{}, cut.AssetID())
		if err != nil {
			return err
		}
		loaded, now, auto := cut.Version(), h.d.Now(), cut.Auto() != nil
		switch {
		case cut.State() != domain.CutStateProcessing:
			// Decided meanwhile, by whoever finished its job.
		case a.Failure() != nil:
			cut.Fail("asset_failed", "the asset failed: "+a.Failure().Message, now)
		case !a.Cuttable():
			// Not yet: asset.charged completes an explicit cut, and the
			// charge wakes an automatic cut's job.
			if auto && cmd.Detect {
				if err := tx.ParkMediaJob(ctx, SilenceJobID(cut.ID())); err != nil {
					return err
				}
			}
		case !auto:
			if err := cut.Complete(a.Duration(), nil, now); err != nil {
				return err
			}
		case !cmd.Detect:
			// Its job detects the silences.
		case cmd.Crashed:
			cut.Fail(domain.FailureMediaCrashed,
				fmt.Sprintf("detecting the silences of this file stopped the media worker %d times", domain.MaxCrashedAttempts), now)
		case !detectedRan:
			return errBecameCuttable
		case mediaFailure != nil:
			cut.Fail(mediaFailure.FailureCode(), mediaFailure.FailureMessage(), now)
		default:
			if err := cut.Complete(a.Duration(), detected, now); err != nil {
				return err
			}
		}
		if len(cut.Changes()) > 0 { // decided: no longer in flight
			if err := tx.IndexCut(ctx, cut); err != nil {
				return err
			}
			if auto {
				if err := tx.FinishMediaJob(ctx, SilenceJobID(cut.ID())); err != nil {
					return err
				}
			}
		}
		w, err = appendChanges(ctx, tx, cut.ID(), loaded, h.d.meta(ctx, c, cut.AccountID()), cut.Changes())
		return err
	})
	return w, err
}
