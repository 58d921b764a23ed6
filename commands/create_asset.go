package commands

import (
	"context"

	"github.com/renderd/renderd/domain"
)

// CreateAsset opens an asset awaiting its upload.
type CreateAsset struct {
	Kind domain.AssetKind
	Name string
}

// CreateAssetHandler handles CreateAsset.
type CreateAssetHandler struct{ d Deps }

// NewCreateAssetHandler checks its dependencies once.
func NewCreateAssetHandler(d Deps) (*CreateAssetHandler, error) {
	return &CreateAssetHandler{d: d}, d.Check()
}

// Handle creates the asset.
func (h *CreateAssetHandler) Handle(ctx context.Context, c Caller, cmd CreateAsset) (Written, error) {
	id := h.d.NewID("ast")
	now := h.d.Now()
	a, err := domain.CreateAsset(id, c.AccountID, cmd.Kind, cmd.Name, now)
	if err != nil {
		return Written{}, err
	}
	var w Written
	err = h.d.transact(ctx, "command CreateAsset", []string{id}, func(ctx context.Context, tx Tx) error {
		w, err = appendChanges(ctx, tx, id, 0, h.d.meta(ctx, c, c.AccountID), a.Changes())
		return err
	})
	return w, err
}
