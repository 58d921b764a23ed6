package commands

import (
	"context"
	"errors"

	"github.com/renderd/renderd/domain"
)

// GrantCredits adds seconds to an account's credits and resumes, in the
// order they started waiting, the assets that waited for payment: a charge
// that makes an asset cuttable wakes its waiting media jobs.
type GrantCredits struct {
	AccountID string
	Seconds   int64
}

// GrantResult is what a grant did.
type GrantResult struct {
	EntryID string
	Resumed []string // assets charged thanks to this grant
}

// GrantCreditsHandler handles GrantCredits.
type GrantCreditsHandler struct{ d Deps }

// NewGrantCreditsHandler checks its dependencies once.
func NewGrantCreditsHandler(d Deps) (*GrantCreditsHandler, error) {
	return &GrantCreditsHandler{d: d}, d.Check()
}

// Handle grants, then charges waiting assets one transaction each, oldest
// first, stopping at the first the balance cannot cover (later, smaller
// ones keep waiting their turn rather than jumping the queue).
func (h *GrantCreditsHandler) Handle(ctx context.Context, c Caller, cmd GrantCredits) (GrantResult, error) {
	res := GrantResult{Resumed: []string{}}
	ledger := LedgerStream(cmd.AccountID)
	var waiting []string
	err := h.d.transact(ctx, "command GrantCredits", []string{ledger}, func(ctx context.Context, tx Tx) (err error) {
		if res.EntryID, err = tx.GrantCredits(ctx, cmd.AccountID, cmd.Seconds); err != nil {
			return err
		}
		waiting, err = tx.AwaitingPayment(ctx, cmd.AccountID)
		return err
	})
	if err != nil {
		return res, err
	}
	for _, assetID := range waiting {
		outcome, err := h.charge(ctx, c, cmd.AccountID, assetID)
		if err != nil {
			return res, err
		}
		if outcome == stillWaiting {
			break
		}
		if outcome == charged {
			res.Resumed = append(res.Resumed, assetID)
		}
	}
	return res, nil
}

var (
	errStillWaiting = errors.New("still waiting for payment")
	errStaleWait    = errors.New("no longer waiting for payment")
)

type chargeOutcome int

const (
	charged chargeOutcome = iota
	skipped
	stillWaiting
)

func (h *GrantCreditsHandler) charge(ctx context.Context, c Caller, accountID, assetID string) (chargeOutcome, error) {
	err := h.d.transact(ctx, "command GrantCredits", []string{assetID, LedgerStream(accountID)}, func(ctx context.Context, tx Tx) error {
		a, err := loadAsset(ctx, tx, Caller{AccountID: accountID}, assetID)
		if err != nil {
			return err
		}
		if _, due := a.NeedsCharge(); !due {
			return errStaleWait // charged or failed since: skip it
		}
		loaded, now := a.Version(), h.d.Now()
		if err := settle(ctx, tx, a, now); err != nil {
			return err
		}
		if _, due := a.NeedsCharge(); due {
			return errStillWaiting // roll back: nothing to record
		}
		if err := wakeIfSettled(ctx, tx, a); err != nil {
			return err
		}
		_, err = appendChanges(ctx, tx, a.ID(), loaded, h.d.meta(ctx, c, accountID), a.Changes())
		return err
	})
	switch {
	case err == nil:
		return charged, nil
	case errors.Is(err, errStillWaiting):
		return stillWaiting, nil
	case errors.Is(err, errStaleWait), errors.Is(err, domain.ErrNotFound):
		return skipped, nil // nothing to resume; the queue moves on
	}
	return stillWaiting, err
}
