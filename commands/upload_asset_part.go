package commands

import (
	"context"
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

// UploadAssetPartHandler handles UploadAssetPart.
type UploadAssetPartHandler struct{ d Deps }

// NewUploadAssetPartHandler checks its dependencies once.
func NewUploadAssetPartHandler(d Deps) (*UploadAssetPartHandler, error) {
	return &UploadAssetPartHandler{d: d}, d.Check()
}

// Precheck tells, before any byte of the body is read, whether the upload
// would be accepted: an unknown asset or a part uploaded already is refused
// without storing anything.
func (h *UploadAssetPartHandler) Precheck(ctx context.Context, c Caller, assetID string, part domain.AssetPart) error {
	a, err := loadAsset(ctx, h.d.Store, c, assetID)
	if err != nil {
		return err
	}
	return upload(a, part, "", 0, h.d.Now())
}

// Handle records the upload. Two racing uploads of one part: the second
// gets the same conflict as a late one, and its caller deletes its blob.
func (h *UploadAssetPartHandler) Handle(ctx context.Context, c Caller, cmd UploadAssetPart) (Written, error) {
	var w Written
	err := h.d.Store.Transact(ctx, []string{cmd.AssetID}, func(ctx context.Context, tx Tx) error {
		a, err := loadAsset(ctx, tx, c, cmd.AssetID)
		if err != nil {
			return err
		}
		loaded, now := a.Version(), h.d.Now()
		if err := upload(a, cmd.Part, cmd.BlobKey, cmd.Size, now); err != nil {
			return err
		}
		if w, err = appendChanges(ctx, tx, a.ID(), loaded, h.d.meta(c, a.AccountID()), a.Changes()); err != nil {
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
