package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
)

// RequestCut asks for a kept-segment plan over an asset: explicit segments,
// or an automatic silence-removal plan.
type RequestCut struct {
	AssetID  string
	Segments []domain.Segment
	Auto     *domain.SilenceRemoval
}

// CutLimits bound the cuts in flight (processing): each one is work the
// media side owes, done when its asset is cuttable and, for an automatic
// cut, once silence detection has run. A cut decided at once (explicit
// segments over a cuttable asset, any cut of a failed asset) is never in
// flight and never refused.
type CutLimits struct {
	// MaxPerAsset is how many cuts of one asset may be in flight (0: no
	// limit). They are all decided inline when the asset is charged, so
	// the limit also bounds that work.
	MaxPerAsset int
	// MaxAutoPerAccount is how many automatic cuts of one account may be
	// in flight (0: no limit): each runs silencedetect over the whole
	// audio in the media workers' pool.
	MaxAutoPerAccount int
}

// When a cut request refused by a limit is worth retrying: cuts in flight
// wait for their asset's upload and probe, automatic ones for a silence
// detection (seconds per hour of audio).
const (
	cutsRetryAfter     = 30 * time.Second
	autoCutsRetryAfter = 10 * time.Second
)

// RequestCutHandler handles RequestCut.
type RequestCutHandler struct {
	d      Deps
	limits CutLimits
}

// NewRequestCutHandler checks its dependencies once.
func NewRequestCutHandler(d Deps, limits CutLimits) (*RequestCutHandler, error) {
	if limits.MaxPerAsset < 0 || limits.MaxAutoPerAccount < 0 {
		return nil, errors.New("request cut: limits must not be negative")
	}
	return &RequestCutHandler{d: d, limits: limits}, d.Check()
}

// Handle validates the plan and records the cut. Explicit segments over an
// asset that is cuttable already complete in the same transaction; other
// cuts complete later (CompleteCut), when the asset becomes cuttable or
// silence detection has run: an automatic cut's detection is queued as a
// media job, claimable at once on a cuttable asset and waiting for the
// charge otherwise. The asset's stream lock orders this against the
// asset's charge, and the cut index makes the cut visible to whoever
// completes the asset's cuts. A cut that would be in flight beyond a limit
// is refused (429 too_many_cuts): the asset's lock makes its count exact,
// and an automatic cut also takes its account's AutoCutsStream lock.
func (h *RequestCutHandler) Handle(ctx context.Context, c Caller, cmd RequestCut) (Written, error) {
	id := h.d.NewID("cut")
	locks := []string{id, cmd.AssetID}
	countAuto := cmd.Auto != nil && h.limits.MaxAutoPerAccount > 0
	account := c.AccountID
	if countAuto {
		if account == "" {
			a, err := loadAsset(ctx, h.d.Store, c, cmd.AssetID)
			if err != nil {
				return Written{}, err
			}
			account = a.AccountID()
		}
		locks = append(locks, AutoCutsStream(account))
	}
	var w Written
	err := h.d.transact(ctx, "command RequestCut", locks, func(ctx context.Context, tx Tx) error {
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
		inFlight := cut.State() == domain.CutStateProcessing
		if inFlight {
			if countAuto && a.AccountID() != account {
				return fmt.Errorf("request cut: asset %s belongs to %s, not %s", a.ID(), a.AccountID(), account)
			}
			if err := h.withinLimits(ctx, tx, a, countAuto); err != nil {
				return err
			}
		}
		if err := tx.IndexCut(ctx, cut); err != nil {
			return err
		}
		if w, err = appendChanges(ctx, tx, id, 0, h.d.meta(ctx, c, a.AccountID()), cut.Changes()); err != nil {
			return err
		}
		if inFlight && cut.Auto() != nil {
			return tx.QueueMediaJob(ctx, silenceJob(cut, a.Cuttable(), c, w, now))
		}
		return nil
	})
	return w, err
}

// withinLimits refuses a cut that would be in flight beyond a limit.
func (h *RequestCutHandler) withinLimits(ctx context.Context, tx Tx, a *domain.Asset, countAuto bool) error {
	if max := h.limits.MaxPerAsset; max > 0 {
		cuts, err := tx.CutsInFlight(ctx, a.ID())
		if err != nil {
			return err
		}
		if len(cuts) >= max {
			return &domain.LimitError{Code: "too_many_cuts",
				Message: fmt.Sprintf("the asset has %d cuts processing, its limit; retry once one completes", len(cuts)),
				Policy:  "cuts_in_flight", Quota: int64(max), RetryAfter: cutsRetryAfter}
		}
	}
	if !countAuto {
		return nil
	}
	n, err := tx.AutoCutsInFlight(ctx, a.AccountID())
	if err != nil {
		return err
	}
	if max := h.limits.MaxAutoPerAccount; n >= max {
		return &domain.LimitError{Code: "too_many_cuts",
			Message: fmt.Sprintf("the account has %d automatic cuts processing, its limit; retry once one completes", n),
			Policy:  "auto_cuts_in_flight", Quota: int64(max), RetryAfter: autoCutsRetryAfter}
	}
	return nil
}
