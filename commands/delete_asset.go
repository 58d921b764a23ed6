package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/renderd/renderd/domain"
)

// DeleteAsset deletes an asset and everything derived from it: its cuts
// and its renders (docs/renders.md, "Retention and erasure").
type DeleteAsset struct {
	AssetID string
}

// OutputKeyFunc is where an attempt of a render stores its output
// (encoders.OutputKey).
type OutputKeyFunc func(renderID string, attempt int, f domain.Format) string

// DeleteAssetHandler handles DeleteAsset.
type DeleteAssetHandler struct {
	d         Deps
	outputKey OutputKeyFunc
}

// NewDeleteAssetHandler checks its dependencies once.
func NewDeleteAssetHandler(d Deps, outputKey OutputKeyFunc) (*DeleteAssetHandler, error) {
	if outputKey == nil {
		return nil, errors.New("delete asset: an output key function is required")
	}
	return &DeleteAssetHandler{d: d, outputKey: outputKey}, d.Check()
}

// DeletedAsset is what a deletion wrote: the asset's stream and each of
// its cuts' and renders', for the API to wait on.
type DeletedAsset struct {
	Asset   Written
	Derived []Written
}

// errStreamsChanged: a cut or render of the asset was requested between
// listing them and locking them.
var errStreamsChanged = errors.New("the asset's cuts or renders changed while they were locked")

// deleteTries bounds how often a deletion lists the asset's streams again
// because a request added one meanwhile; once the asset is deleted no
// request can, so a second try settles it.
const deleteTries = 3

// Handle deletes in one transaction that locks the asset, its cuts and its
// renders: every cut is deleted (cut.deleted), every render too
// (render.deleted, after render.cancelled for one in flight, which its
// encoder notices as it does a client's cancel), the asset last
// (asset.deleted). The same transaction erases the asset's name from its
// asset.created event, releases the renders' signatures and queue places,
// ends the media jobs, gives the account its storage back, and queues the
// removal of every blob: the asset's parts and each attempt's output.
// Deleting a deleted asset answers the same and changes nothing; another
// account's asset is not found.
func (h *DeleteAssetHandler) Handle(ctx context.Context, c Caller, cmd DeleteAsset) (DeletedAsset, error) {
	for try := 1; ; try++ {
		var cuts, renders []string
		err := h.d.transact(ctx, "command DeleteAsset", []string{cmd.AssetID}, func(ctx context.Context, tx Tx) (err error) {
			if _, err := loadDeleted(ctx, tx, c, domain.AggregateAsset, cmd.AssetID, domain.RebuildAsset); err != nil {
				return err
			}
			cuts, renders, err = tx.AssetStreams(ctx, cmd.AssetID)
			return err
		})
		if err != nil {
			return DeletedAsset{}, err
		}
		res, err := h.delete(ctx, c, cmd.AssetID, cuts, renders)
		switch {
		case errors.Is(err, errStreamsChanged) && try < deleteTries:
			continue
		case errors.Is(err, errStreamsChanged):
			// Requests of the asset keep arriving between the listing and
			// the locks: nothing was deleted, and the same request may
			// succeed in a moment (503, Retry-After).
			return DeletedAsset{}, fmt.Errorf("delete asset %s: %w: %w", cmd.AssetID, err, domain.ErrUnavailable)
		}
		return res, err
	}
}

func (h *DeleteAssetHandler) delete(ctx context.Context, c Caller, assetID string, cuts, renders []string) (DeletedAsset, error) {
	locks := append(append([]string{assetID}, cuts...), renders...)
	var res DeletedAsset
	err := h.d.transact(ctx, "command DeleteAsset", locks, func(ctx context.Context, tx Tx) error {
		res = DeletedAsset{}
		a, err := loadDeleted(ctx, tx, c, domain.AggregateAsset, assetID, domain.RebuildAsset)
		if err != nil {
			return err
		}
		nowCuts, nowRenders, err := tx.AssetStreams(ctx, assetID)
		if err != nil {
			return err
		}
		if !slices.Equal(nowCuts, cuts) || !slices.Equal(nowRenders, renders) {
			return errStreamsChanged
		}
		meta := h.d.meta(ctx, c, a.AccountID())
		for _, id := range cuts {
			w, err := h.deleteCut(ctx, tx, id, meta)
			if err != nil {
				return err
			}
			res.Derived = append(res.Derived, w)
		}
		for _, id := range renders {
			w, err := h.deleteRender(ctx, tx, id, meta)
			if err != nil {
				return err
			}
			res.Derived = append(res.Derived, w)
		}
		res.Asset, err = h.deleteAsset(ctx, tx, a, meta)
		return err
	})
	return res, err
}

func (h *DeleteAssetHandler) deleteAsset(ctx context.Context, tx Tx, a *domain.Asset, meta domain.Metadata) (Written, error) {
	loaded := a.Version()
	if a.Deleted() {
		return Written{StreamID: a.ID(), Version: loaded}, nil
	}
	a.Delete(h.d.Now())
	if err := tx.RedactAssetName(ctx, a.ID()); err != nil {
		return Written{}, err
	}
	for _, p := range []domain.AssetPart{domain.AssetPartSource, domain.AssetPartAudio} {
		if err := tx.FinishMediaJob(ctx, ProbeJobID(a.ID(), p)); err != nil {
			return Written{}, err
		}
	}
	var keys []string
	for _, k := range []string{a.SourceBlobKey(), a.AudioBlobKey()} {
		if k != "" {
			keys = append(keys, k)
		}
	}
	if err := tx.QueueBlobRemovals(ctx, a.AccountID(), keys...); err != nil {
		return Written{}, err
	}
	if err := tx.AddStorage(ctx, a.AccountID(), -a.StoredBytes()); err != nil {
		return Written{}, err
	}
	return appendChanges(ctx, tx, a.ID(), loaded, meta, a.Changes())
}

func (h *DeleteAssetHandler) deleteCut(ctx context.Context, tx Tx, id string, meta domain.Metadata) (Written, error) {
	cut, err := loadDeleted(ctx, tx, Caller{}, domain.AggregateCut, id, domain.RebuildCut)
	if err != nil {
		return Written{}, fmt.Errorf("cut %s of the asset: %w", id, err)
	}
	loaded := cut.Version()
	if cut.Deleted() {
		return Written{StreamID: id, Version: loaded}, nil
	}
	cut.Delete(h.d.Now())
	if cut.State() == domain.CutStateProcessing {
		if err := tx.FinishMediaJob(ctx, SilenceJobID(id)); err != nil {
			return Written{}, err
		}
	}
	if err := tx.IndexCut(ctx, cut); err != nil {
		return Written{}, err
	}
	return appendChanges(ctx, tx, id, loaded, meta, cut.Changes())
}

func (h *DeleteAssetHandler) deleteRender(ctx context.Context, tx Tx, id string, meta domain.Metadata) (Written, error) {
	r, err := loadDeleted(ctx, tx, Caller{}, domain.AggregateRender, id, domain.RebuildRender)
	if err != nil {
		return Written{}, fmt.Errorf("render %s of the asset: %w", id, err)
	}
	loaded := r.Version()
	if r.Deleted() {
		return Written{StreamID: id, Version: loaded}, nil
	}
	if r.HoldsOutput() {
		if err := tx.AddStorage(ctx, r.AccountID(), -r.Result().SizeBytes); err != nil {
			return Written{}, err
		}
	}
	inFlight := r.State() == domain.RenderStatePending || r.State() == domain.RenderStateRunning
	r.Delete(h.d.Now())
	if inFlight {
		if err := tx.SetRenderJob(ctx, renderJob(r, h.d.Now(), meta)); err != nil {
			return Written{}, err
		}
	}
	if err := tx.ReleaseSignature(ctx, id); err != nil {
		return Written{}, err
	}
	// Every attempt may have left an output: the one that completed, and
	// any a stale attempt could not delete. A running attempt's output
	// that is committed after this is deleted by its encoder, whose
	// completion the deletion refuses.
	var keys []string
	for n := 1; n <= r.Attempt(); n++ {
		keys = append(keys, h.outputKey(id, n, r.Requested().Output.Format))
	}
	if err := tx.QueueBlobRemovals(ctx, r.AccountID(), keys...); err != nil {
		return Written{}, err
	}
	return appendChanges(ctx, tx, id, loaded, meta, r.Changes())
}
