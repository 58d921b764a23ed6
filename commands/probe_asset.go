package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/renderd/renderd/domain"
)

// ProbeAsset probes an uploaded part of an asset and settles its charge. A
// media worker issues it for the part's probe job (ProbeJobID).
type ProbeAsset struct {
	AssetID string
	Part    domain.AssetPart
	// Crashed says that probing the part stopped a media worker
	// domain.MaxCrashedAttempts times (their leases ran out): the part fails
	// with media_crashed instead of being probed once more.
	Crashed bool
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

// BlobFiles makes a blob a local file ffprobe and ffmpeg can read: the
// store's own file, or a copy in the process's scratch folder that release
// removes. A missing blob is an error matching fs.ErrNotExist.
type BlobFiles interface {
	Fetch(ctx context.Context, key string) (path string, release func(), err error)
}

// PartBlobs is the blob store as probing uses it: the file ffprobe reads,
// and the removal of a part the asset refused or failed on.
type PartBlobs interface {
	BlobFiles
	Delete(ctx context.Context, key string) error
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

// Handle probes the part (Probe), then records the outcome (Record).
func (h *ProbeAssetHandler) Handle(ctx context.Context, c Caller, cmd ProbeAsset) (Written, error) {
	p, err := h.Probe(ctx, c, cmd)
	if err != nil {
		return Written{}, err
	}
	return h.Record(ctx, c, p)
}

// Probed is a part's probe, run but not yet recorded. A media worker keeps
// it while the database is away and records it once it answers, rather
// than probing again.
type Probed struct {
	cmd     ProbeAsset
	account string
	key     string // the part's blob when probed; "" when there was none
	media   domain.MediaInfo
	probed  bool
	failure MediaFailure
}

// Probe runs ffprobe on the part, outside any transaction (it takes a
// while). A part already gone, an asset already failed, or a Crashed
// command probes nothing: Record decides.
func (h *ProbeAssetHandler) Probe(ctx context.Context, c Caller, cmd ProbeAsset) (Probed, error) {
	a, err := loadAsset(ctx, h.d.Store, c, cmd.AssetID)
	if err != nil {
		return Probed{}, err
	}
	p := Probed{cmd: cmd, account: a.AccountID(), key: partKey(a, cmd.Part)}
	if p.key == "" || a.Failure() != nil || cmd.Crashed {
		return p, nil
	}
	path, release, err := h.blobs.Fetch(ctx, p.key)
	if err != nil {
		return Probed{}, fmt.Errorf("probe %s: %w", a.ID(), err)
	}
	media, probeErr := h.prober.Probe(ctx, path)
	release()
	if probeErr != nil && !errors.As(probeErr, &p.failure) {
		return Probed{}, fmt.Errorf("probe %s: %w", a.ID(), probeErr)
	}
	p.media, p.probed = media, probeErr == nil
	return p, nil
}

// Record records a probe's outcome, settles the charge and finishes the
// part's probe job in one transaction; a charge that makes the asset
// cuttable wakes its waiting jobs. A repeat (the job ran again, or the
// same Probed is recorded again after an answer was lost) finds the part
// probed and records nothing. Once the outcome is committed, the blob of a
// part the asset refused or failed on is deleted: nothing will read it
// again.
func (h *ProbeAssetHandler) Record(ctx context.Context, c Caller, p Probed) (Written, error) {
	cmd, key := p.cmd, p.key
	media, probed, failure := p.media, p.probed, p.failure
	var w Written
	err := h.d.transact(ctx, "command ProbeAsset", []string{cmd.AssetID, LedgerStream(p.account)}, func(ctx context.Context, tx Tx) error {
		a, err := loadAsset(ctx, tx, c, cmd.AssetID)
		if err != nil {
			return err
		}
		loaded, now := a.Version(), h.d.Now()
		_, size := a.PartBlob(cmd.Part)
		if partKey(a, cmd.Part) != key {
			// Refused and uploaded again meanwhile: what was probed is
			// gone, and the new upload's job probes the new file.
			w = Written{StreamID: a.ID(), Version: loaded}
			return nil
		}
		switch {
		case key == "":
		case cmd.Crashed:
			a.FailProbe(cmd.Part, domain.FailureMediaCrashed,
				fmt.Sprintf("probing this file stopped the media worker %d times", domain.MaxCrashedAttempts), now)
		case failure != nil:
			a.FailProbe(cmd.Part, failure.FailureCode(), failure.FailureMessage(), now)
		case probed:
			if err := a.RecordProbe(cmd.Part, media, h.limits, now); err != nil {
				return err
			}
		}
		if err := settle(ctx, tx, a, now); err != nil {
			return err
		}
		if err := wakeIfSettled(ctx, tx, a); err != nil {
			return err
		}
		if err := tx.FinishMediaJob(ctx, ProbeJobID(a.ID(), cmd.Part)); err != nil {
			return err
		}
		w, err = appendChanges(ctx, tx, a.ID(), loaded, h.d.meta(ctx, c, a.AccountID()), a.Changes())
		if err == nil && droppedPart(w.Events, cmd.Part) {
			err = tx.AddStorage(ctx, a.AccountID(), -size) // its blob goes below
		}
		return err
	})
	if err != nil || !droppedPart(w.Events, cmd.Part) {
		return w, err
	}
	if err := h.blobs.Delete(ctx, key); err != nil {
		return w, fmt.Errorf("probe %s: recorded, but deleting the dropped %s: %w", cmd.AssetID, cmd.Part, err)
	}
	return w, nil
}

// partKey is the blob of an uploaded part, "" when there is none.
func partKey(a *domain.Asset, part domain.AssetPart) string {
	if part == domain.AssetPartAudio {
		return a.AudioBlobKey()
	}
	return a.SourceBlobKey()
}

// wakeIfSettled makes the asset's waiting jobs (automatic cuts) claimable
// once the asset is cuttable, or failed (their cuts then fail). The
// transaction holds the asset's lock.
func wakeIfSettled(ctx context.Context, tx Tx, a *domain.Asset) error {
	if !a.Cuttable() && a.Failure() == nil {
		return nil
	}
	return tx.WakeMediaJobs(ctx, a.ID())
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
