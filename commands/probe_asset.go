package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/renderd/renderd/domain"
)

// ProbeAsset probes an uploaded part of an asset and settles its charge. The
// media worker issues it for asset.source_uploaded / asset.audio_uploaded.
type ProbeAsset struct {
	AssetID string
	Part    domain.AssetPart
}

// Prober reads what a media file holds.
type Prober interface {
	Probe(ctx context.Context, path string) (domain.MediaInfo, error)
}

// MediaFailure is how a Prober says the file itself is at fault (corrupt,
// not an allowed container…): the asset fails with that code. Any other
// error is the worker's and is retried.
type MediaFailure interface {
	error
	FailureCode() string
	FailureMessage() string
}

// BlobPaths resolves a blob key to a local path ffmpeg can read.
type BlobPaths interface {
	Path(key string) (string, error)
}

// PartBlobs is the blob store as probing uses it: the path ffprobe reads,
// and the removal of a part the asset refused or failed on.
type PartBlobs interface {
	BlobPaths
	Delete(key string) error
}

// ProbeAssetHandler handles ProbeAsset.
type ProbeAssetHandler struct {
	d      Deps
	prober Prober
	blobs  PartBlobs
	limits domain.SourceLimits
}

// NewProbeAssetHandler checks its dependencies once. Parts beyond limits
// fail their asset (source_too_large).
func NewProbeAssetHandler(d Deps, prober Prober, blobs PartBlobs, limits domain.SourceLimits) (*ProbeAssetHandler, error) {
	if prober == nil || blobs == nil {
		return nil, errors.New("probe asset: a prober and blobs are required")
	}
	return &ProbeAssetHandler{d: d, prober: prober, blobs: blobs, limits: limits}, d.Check()
}

// Handle probes outside any transaction (ffprobe takes a while), then
// records the result and settles the charge in one. A redelivered trigger
// finds the part probed and does nothing. Once the outcome is committed, the
// blob of a part the asset refused or failed on is deleted: nothing will
// read it again.
func (h *ProbeAssetHandler) Handle(ctx context.Context, c Caller, cmd ProbeAsset) (Written, error) {
	a, err := loadAsset(ctx, h.d.Store, c, cmd.AssetID)
	if err != nil {
		return Written{}, err
	}
	key := a.SourceBlobKey()
	if cmd.Part == domain.AssetPartAudio {
		key = a.AudioBlobKey()
	}
	if key == "" || a.Failure() != nil {
		return Written{StreamID: a.ID(), Version: a.Version()}, nil
	}
	path, err := h.blobs.Path(key)
	if err != nil {
		return Written{}, fmt.Errorf("probe %s: %w", a.ID(), err)
	}
	media, probeErr := h.prober.Probe(ctx, path)
	var failure MediaFailure
	if probeErr != nil && !errors.As(probeErr, &failure) {
		return Written{}, fmt.Errorf("probe %s: %w", a.ID(), probeErr)
	}

	var w Written
	err = h.d.Store.Transact(ctx, []string{a.ID(), LedgerStream(a.AccountID())}, func(ctx context.Context, tx Tx) error {
		a, err := loadAsset(ctx, tx, c, cmd.AssetID)
		if err != nil {
			return err
		}
		loaded, now := a.Version(), h.d.Now()
		_, size := a.PartBlob(cmd.Part)
		if failure != nil {
			a.FailProbe(cmd.Part, failure.FailureCode(), failure.FailureMessage(), now)
		} else if err := a.RecordProbe(cmd.Part, media, h.limits, now); err != nil {
			return err
		}
		if err := settle(ctx, tx, a, now); err != nil {
			return err
		}
		w, err = appendChanges(ctx, tx, a.ID(), loaded, h.d.meta(c, a.AccountID()), a.Changes())
		if err == nil && droppedPart(w.Events, cmd.Part) {
			err = tx.AddStorage(ctx, a.AccountID(), -size) // its blob goes below
		}
		return err
	})
	if err != nil || !droppedPart(w.Events, cmd.Part) {
		return w, err
	}
	if err := h.blobs.Delete(key); err != nil {
		return w, fmt.Errorf("probe %s: recorded, but deleting the dropped %s: %w", cmd.AssetID, cmd.Part, err)
	}
	return w, nil
}

// droppedPart reports whether events refused part or failed the asset on it.
func droppedPart(events []domain.Recorded, part domain.AssetPart) bool {
	for _, r := range events {
		switch e := r.Event.(type) {
		case domain.AssetPartRefused:
			return e.Part == part
		case domain.AssetFailed:
			return e.Part == part
		}
	}
	return false
}
