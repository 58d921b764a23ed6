package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
)

// UploadAssetPart records that an asset's source or client-extracted audio
// is in the blob store, and queues the part's probe (ProbeAsset) for the
// media workers in the same transaction.
type UploadAssetPart struct {
	AssetID string
	Part    domain.AssetPart
	BlobKey string
	Size    int64
}

// UploadLimits bound what an account stores.
type UploadLimits struct {
	// StorageQuota is the bytes of sources and outputs an account may
	// store (0: no limit). An upload that would pass it is refused with
	// storage_quota_exceeded.
	StorageQuota int64
}

// UploadLease is how long a reservation lasts without being extended: an
// uploader extends it while bytes arrive (every UploadLease / 4), so a
// reservation outlives its uploader by at most this.
const UploadLease = 2 * time.Minute

// UploadAssetPartHandler handles UploadAssetPart.
type UploadAssetPartHandler struct {
	d      Deps
	limits UploadLimits
}

// NewUploadAssetPartHandler checks its dependencies once.
func NewUploadAssetPartHandler(d Deps, limits UploadLimits) (*UploadAssetPartHandler, error) {
	if limits.StorageQuota < 0 {
		return nil, errors.New("upload asset part: the storage quota must not be negative")
	}
	return &UploadAssetPartHandler{d: d, limits: limits}, d.Check()
}

// Reserve tells, before any byte of the body is read, whether the upload
// would be accepted, and reserves the part for it: an unknown asset, a part
// uploaded already or being uploaded, or a body the account's storage
// cannot take is refused without storing anything. size is the body's
// announced length (-1: unknown); the reservation's Bytes is the most the
// upload may then store: size, or for an unknown length what the quota
// leaves, at most maxBytes. Concurrent uploads of one part: the second gets
// upload_in_progress at once.
//
// The caller stores the body under blobKey (at most Bytes), keeps the
// reservation alive with Extend, and ends it with Handle or Release. A
// stale reservation's blob (an uploader that vanished mid-way) is deleted
// through deleteBlob.
//
// A refused reservation is the port's 404, 409 (source_already_uploaded,
// upload_in_progress…) or 413 storage_quota_exceeded.
func (h *UploadAssetPartHandler) Reserve(ctx context.Context, c Caller, assetID string, part domain.AssetPart, blobKey string,
	size, maxBytes int64, deleteBlob func(ctx context.Context, key string) error) (UploadReservation, error) {
	var (
		res   UploadReservation
		stale []string
	)
	err := h.d.transact(ctx, "command UploadAssetPart.Reserve", []string{assetID, StorageStream(c.AccountID)}, func(ctx context.Context, tx Tx) error {
		a, err := loadAsset(ctx, tx, c, assetID)
		if err != nil {
			return err
		}
		now := h.d.Now()
		if err := upload(a, part, "", 0, now); err != nil {
			return err
		}
		// The part's own state first: an upload in progress is a 409
		// whatever the quota says.
		if busy, err := tx.UploadInProgress(ctx, a.ID(), part, now); err != nil || busy {
			return errors.Join(err, inProgress(busy, part))
		}
		res = UploadReservation{AssetID: a.ID(), AccountID: a.AccountID(), Part: part, BlobKey: blobKey, Bytes: maxBytes, Expires: now.Add(UploadLease)}
		if size >= 0 {
			res.Bytes = size
		}
		if quota := h.limits.StorageQuota; quota > 0 {
			used, err := tx.StorageUsed(ctx, a.AccountID(), now)
			if err != nil {
				return err
			}
			left := quota - used
			if size < 0 {
				res.Bytes = min(maxBytes, left)
			}
			if res.Bytes > left || left <= 0 {
				return QuotaExceeded(used, quota)
			}
		}
		stale, err = tx.ReserveUpload(ctx, res, now)
		return err
	})
	if errors.Is(err, ErrUploadInProgress) { // a race the check above lost: the reservation's own key
		err = inProgress(true, part)
	}
	if err != nil {
		return UploadReservation{}, err
	}
	for _, key := range stale {
		if err := deleteBlob(ctx, key); err != nil {
			return res, fmt.Errorf("reserve %s of %s: deleting a vanished upload's blob: %w", part, assetID, err)
		}
	}
	return res, nil
}

// inProgress is the refusal of a part another upload holds (nil if none).
func inProgress(busy bool, part domain.AssetPart) error {
	if !busy {
		return nil
	}
	return domain.Conflict("upload_in_progress", "another upload of this asset's %s is in progress", part)
}

// QuotaExceeded is the refusal of bytes the account's storage cannot take.
func QuotaExceeded(used, quota int64) error {
	return &domain.QuotaError{Code: "storage_quota_exceeded", Message: fmt.Sprintf(
		"the account stores %d of its %d bytes; this would pass its storage quota", min(used, quota), quota)}
}

// Extend keeps a reservation alive while its upload streams; held is false
// once the reservation is not this upload's any more.
func (h *UploadAssetPartHandler) Extend(ctx context.Context, r UploadReservation) (held bool, err error) {
	return h.HoldFor(ctx, r, UploadLease)
}

// HoldFor keeps a reservation for d from now (0: it ends now, the part free
// for another upload): a resumable upload holds its part for as long as it
// may be resumed, across requests and the pauses between them (its
// expiry). Only the upload's own reservation is touched (its blob key):
// held is false once the reservation is not this upload's any more.
func (h *UploadAssetPartHandler) HoldFor(ctx context.Context, r UploadReservation, d time.Duration) (held bool, err error) {
	err = h.d.transact(ctx, "command UploadAssetPart.Extend", []string{r.AssetID}, func(ctx context.Context, tx Tx) (err error) {
		held, err = tx.ExtendUpload(ctx, r.AssetID, r.Part, r.BlobKey, h.d.Now().Add(d))
		return err
	})
	return held, err
}

// Release gives a reservation up: the upload failed, and stored nothing
// the asset records.
func (h *UploadAssetPartHandler) Release(ctx context.Context, r UploadReservation) error {
	return h.d.transact(ctx, "command UploadAssetPart.Release", []string{r.AssetID}, func(ctx context.Context, tx Tx) error {
		return tx.EndUpload(ctx, r.AssetID, r.Part)
	})
}

// Handle records the upload, counts its bytes against the account's
// storage and ends its reservation. A part taken meanwhile (only possible
// without a reservation) gets the same conflict as a late upload, and the
// caller deletes its blob.
func (h *UploadAssetPartHandler) Handle(ctx context.Context, c Caller, cmd UploadAssetPart) (Written, error) {
	var w Written
	err := h.d.transact(ctx, "command UploadAssetPart", []string{cmd.AssetID}, func(ctx context.Context, tx Tx) error {
		a, err := loadAsset(ctx, tx, c, cmd.AssetID)
		if err != nil {
			return err
		}
		loaded, now := a.Version(), h.d.Now()
		if err := upload(a, cmd.Part, cmd.BlobKey, cmd.Size, now); err != nil {
			return err
		}
		if err := tx.EndUpload(ctx, a.ID(), cmd.Part); err != nil {
			return err
		}
		if err := tx.AddStorage(ctx, a.AccountID(), cmd.Size); err != nil {
			return err
		}
		if w, err = appendChanges(ctx, tx, a.ID(), loaded, h.d.meta(ctx, c, a.AccountID()), a.Changes()); err != nil {
			return err
		}
		return tx.QueueMediaJob(ctx, probeJob(a, cmd.Part, c, w, now))
	})
	return w, err
}

func upload(a *domain.Asset, part domain.AssetPart, key string, size int64, now time.Time) error {
	switch part {
	case domain.AssetPartSource:
		return a.UploadSource(key, size, now)
	case domain.AssetPartAudio:
		return a.UploadAudio(key, size, now)
	}
	return domain.Invalid("part", "unknown part %q", part)
}
