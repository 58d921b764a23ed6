package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
)

// CompleteCut finishes a processing cut whose asset became cuttable (or
// failed). The media worker issues it on cut.requested for the cut and on
// asset.charged / asset.failed for every cut of the asset.
type CompleteCut struct {
	CutID string
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
	blobs  BlobPaths
}

// NewCompleteCutHandler checks its dependencies once.
func NewCompleteCutHandler(d Deps, detect SilenceDetector, blobs BlobPaths) (*CompleteCutHandler, error) {
	if detect == nil || blobs == nil {
		return nil, errors.New("complete cut: a silence detector and blob paths are required")
	}
	return &CompleteCutHandler{d: d, detect: detect, blobs: blobs}, d.Check()
}

// CutsOf lists an asset's cuts, for completing them all.
func (h *CompleteCutHandler) CutsOf(ctx context.Context, assetID string) ([]string, error) {
	var cuts []string
	err := h.d.Store.Transact(ctx, []string{assetID}, func(ctx context.Context, tx Tx) (err error) {
		cuts, err = tx.CutsOf(ctx, assetID)
		return err
	})
	return cuts, err
}

// Handle completes or fails the cut if its asset allows; otherwise (not
// cuttable yet) it does nothing and a later trigger will. Silence detection
// runs outside the transaction.
func (h *CompleteCutHandler) Handle(ctx context.Context, c Caller, cmd CompleteCut) (Written, error) {
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
	if auto := cut.Auto(); auto != nil && a.Cuttable() {
		detectedRan = true
		key := a.AudioBlobKey()
		if key == "" {
			key = a.SourceBlobKey()
		}
		path, err := h.blobs.Path(key)
		if err != nil {
			return Written{}, fmt.Errorf("cut %s: %w", cut.ID(), err)
		}
		detected, _, err = h.detect.DetectSilences(ctx, path, *auto)
		if err != nil && !errors.As(err, &mediaFailure) {
			return Written{}, fmt.Errorf("cut %s: %w", cut.ID(), err)
		}
	}

	var w Written
	err = h.d.Store.Transact(ctx, []string{cut.ID(), cut.AssetID()}, func(ctx context.Context, tx Tx) error {
		cut, err := loadCut(ctx, tx, c, cmd.CutID)
		if err != nil {
			return err
		}
		a, err := loadAsset(ctx, tx, Caller{}, cut.AssetID())
		if err != nil {
			return err
		}
		loaded, now := cut.Version(), h.d.Now()
		switch {
		case a.Failure() != nil:
			cut.Fail("asset_failed", "the asset failed: "+a.Failure().Message, now)
		case !a.Cuttable(), cut.Auto() != nil && !detectedRan:
			// Not yet (or it became cuttable just now): asset.charged
			// triggers this again.
		case mediaFailure != nil:
			cut.Fail(mediaFailure.FailureCode(), mediaFailure.FailureMessage(), now)
		default:
			if err := cut.Complete(a.Duration(), detected, now); err != nil {
				return err
			}
		}
		w, err = appendChanges(ctx, tx, cut.ID(), loaded, h.d.meta(c, cut.AccountID()), cut.Changes())
		return err
	})
	return w, err
}
