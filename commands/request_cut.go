package commands

import (
	"context"

	"github.com/renderd/renderd/domain"
)

// RequestCut asks for a kept-segment plan over an asset: explicit segments,
// or an automatic silence-removal plan.
type RequestCut struct {
	AssetID  string
	Segments []domain.Segment
	Auto     *domain.SilenceRemoval
}

// RequestCutHandler handles RequestCut.
type RequestCutHandler struct{ d Deps }

// NewRequestCutHandler checks its dependencies once.
func NewRequestCutHandler(d Deps) (*RequestCutHandler, error) {
	return &RequestCutHandler{d: d}, d.Check()
}

// Handle validates the plan and records the cut. Explicit segments over an
// asset that is cuttable already complete in the same transaction; other
// cuts complete later (CompleteCut), when the asset becomes cuttable or
// silence detection has run. The asset's stream lock orders this against
// the asset's charge, and the cut index makes the cut visible to whoever
// completes the asset's cuts.
func (h *RequestCutHandler) Handle(ctx context.Context, c Caller, cmd RequestCut) (Written, error) {
	id := h.d.NewID("cut")
	var w Written
	err := h.d.Store.Transact(ctx, []string{id, cmd.AssetID}, func(ctx context.Context, tx Tx) error {
		a, err := loadAsset(ctx, tx, c, cmd.AssetID)
		if err != nil {
			return err
		}
		now := h.d.Now()
		cut, err := domain.RequestCut(id, a.AccountID(), a.ID(), cmd.Segments, cmd.Auto, now)
		if err != nil {
			return err
		}
		if f := a.Failure(); f != nil {
			cut.Fail("asset_failed", "the asset failed: "+f.Message, now)
		} else if a.Cuttable() && cmd.Auto == nil {
			if err := cut.Complete(a.Duration(), nil, now); err != nil {
				return err
			}
		}
		if err := tx.IndexCut(ctx, a.ID(), id); err != nil {
			return err
		}
		w, err = appendChanges(ctx, tx, id, 0, h.d.meta(c, a.AccountID()), cut.Changes())
		return err
	})
	return w, err
}
