package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
)

// RequestRender asks for a deliverable of an asset, optionally through one
// of its cuts.
type RequestRender struct {
	AssetID string
	CutID   string
	Output  domain.OutputSpec
}

// RenderRequestResult is the render the request is answered with.
type RenderRequestResult struct {
	Written
	// Existing: a live render with the same signature answered the request
	// (200), instead of a new one (201).
	Existing bool
}

// RenderLimits bound what one account may ask of the encoders.
type RenderLimits struct {
	// MaxQueued is how many renders an account may have pending or
	// running at once (0: no limit); a request for another is refused
	// with too_many_renders until one finishes.
	MaxQueued int
	// StorageQuota is the bytes an account may store (0: no limit); an
	// account that stores as much already gets no new render (its output
	// would pass the quota): storage_quota_exceeded.
	StorageQuota int64
}

// queueRetryAfter is when a request refused for a full queue is worth
// retrying: about the time a short render takes.
const queueRetryAfter = 15 * time.Second

// RequestRenderHandler handles RequestRender.
type RequestRenderHandler struct {
	d      Deps
	limits RenderLimits
}

// NewRequestRenderHandler checks its dependencies once.
func NewRequestRenderHandler(d Deps, limits RenderLimits) (*RequestRenderHandler, error) {
	if limits.MaxQueued < 0 || limits.StorageQuota < 0 {
		return nil, errors.New("request render: limits must not be negative")
	}
	return &RequestRenderHandler{d: d, limits: limits}, d.Check()
}

// Handle applies the order of checks of docs/renders.md: unknown asset
// (404), the request on its own (422), the cut (422), an existing live
// render with the same signature (200), gating on the asset's or cut's
// state (409), the output against the known source (422), the account's
// storage (409) and queue (429); then the new
// render, which replaces the latest failed or cancelled one with the
// signature. Identical concurrent requests serialise on the signature's
// lock: exactly one creates.
func (h *RequestRenderHandler) Handle(ctx context.Context, c Caller, cmd RequestRender) (RenderRequestResult, error) {
	// The request alone first: the signature needs a valid output.
	if err := cmd.Output.Validate(); err != nil {
		if _, lerr := loadAsset(ctx, h.d.Store, c, cmd.AssetID); lerr != nil {
			return RenderRequestResult{}, lerr // 404 comes before 422
		}
		return RenderRequestResult{}, err
	}
	sig := domain.RenderSignature(c.AccountID, cmd.AssetID, cmd.CutID, cmd.Output)
	id := h.d.NewID("rnd")
	locks := []string{id, cmd.AssetID, SignatureStream(c.AccountID, sig)}
	if cmd.CutID != "" {
		locks = append(locks, cmd.CutID)
	}
	var res RenderRequestResult
	err := h.d.transact(ctx, "command RequestRender", locks, func(ctx context.Context, tx Tx) error {
		tx.WillNeedNewestRender(c.AccountID, sig)
		if h.limits.StorageQuota > 0 {
			tx.WillNeedStorageUsed(c.AccountID, h.d.Now())
		}
		a, err := loadAsset(ctx, tx, c, cmd.AssetID)
		if err != nil {
			return err
		}
		if err := outputFitsAsset(a, cmd.Output); err != nil {
			return err
		}
		cut, err := h.loadCut(ctx, tx, c, a, cmd.CutID)
		if err != nil {
			return err
		}
		newest, live, err := tx.NewestRender(ctx, c.AccountID, sig)
		if err != nil {
			return err
		}
		if live {
			res, err = h.existing(ctx, tx, newest)
			return err
		}
		if err := gate(a, cut, cmd.Output); err != nil {
			return err
		}
		plan, err := planFor(a, cut, cmd.Output)
		if err != nil {
			return err
		}
		if quota := h.limits.StorageQuota; quota > 0 {
			used, err := tx.StorageUsed(ctx, a.AccountID(), h.d.Now())
			if err != nil {
				return err
			}
			if used >= quota {
				return domain.Conflict("storage_quota_exceeded", "the account stores %d bytes, its storage quota; a new render's output would pass it", used)
			}
		}
		// The newest render with the signature is not live: failed or
		// cancelled, the new one replaces it.
		r, err := domain.RequestRender(id, a.AccountID(), domain.RenderRequested{AssetID: a.ID(), CutID: cmd.CutID,
			Output: cmd.Output, Plan: plan, Signature: sig, Replaces: newest}, h.d.Now())
		if err != nil {
			return err
		}
		if err := tx.ReserveSignature(ctx, c.AccountID, sig, id); err != nil {
			return err
		}
		if h.limits.MaxQueued > 0 {
			if err := tx.TakeRenderSlot(ctx, a.AccountID(), id, h.limits.MaxQueued); err != nil {
				return err
			}
		}
		meta := h.d.meta(ctx, c, a.AccountID())
		if err := tx.SetRenderJob(ctx, renderJob(r, h.d.Now(), meta)); err != nil {
			return err
		}
		res.Written, err = appendChanges(ctx, tx, id, 0, meta, r.Changes())
		return err
	})
	if errors.Is(err, ErrQueueFull) {
		return RenderRequestResult{}, &domain.LimitError{Code: "too_many_renders",
			Message: fmt.Sprintf("the account has %d renders pending or running, its limit; retry once one finishes", h.limits.MaxQueued),
			Policy:  "renders_queued", Quota: int64(h.limits.MaxQueued), RetryAfter: queueRetryAfter}
	}
	return res, err
}

func (h *RequestRenderHandler) existing(ctx context.Context, tx Tx, id string) (RenderRequestResult, error) {
	recs, err := tx.Load(ctx, id)
	if err != nil || len(recs) == 0 {
		return RenderRequestResult{}, errors.Join(fmt.Errorf("live render %s has no events", id), err)
	}
	return RenderRequestResult{Written: Written{StreamID: id, Version: recs[len(recs)-1].StreamVersion}, Existing: true}, nil
}

// outputFitsAsset refuses outputs the asset can never give: video from an
// audio asset, audio from a video whose source is known to have none.
func outputFitsAsset(a *domain.Asset, o domain.OutputSpec) error {
	if o.Format.IsVideo() && a.Kind() == domain.AssetKindAudio {
		return domain.Invalid("output.format", "%s is a video format and the asset is audio-only", o.Format)
	}
	if !o.Format.IsVideo() {
		if m, ok := a.AudioMedia(); ok && !m.HasAudio {
			return domain.Invalid("output.format", "%s is an audio format and the asset has no audio stream", o.Format)
		}
	}
	return nil
}

// loadCut loads the cut a request names: it must exist, belong to the
// caller and the asset, and not have failed (422 otherwise).
func (h *RequestRenderHandler) loadCut(ctx context.Context, tx Tx, c Caller, a *domain.Asset, cutID string) (*domain.Cut, error) {
	if cutID == "" {
		return nil, nil
	}
	cut, err := loadCut(ctx, tx, c, cutID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return nil, domain.Invalid("cut_id", "no cut %s", cutID)
	case err != nil:
		return nil, err
	case cut.AssetID() != a.ID():
		return nil, domain.Invalid("cut_id", "cut %s is not a cut of asset %s", cutID, a.ID())
	case cut.State() == domain.CutStateFailed:
		return nil, domain.Invalid("cut_id", "cut %s failed: %s", cutID, cut.Failure().Message)
	}
	return cut, nil
}

// gate refuses, with the precise 409, a render its asset or cut is not
// ready for: a video output needs the asset ready; an audio output needs it
// cuttable; a cut must be completed.
func gate(a *domain.Asset, cut *domain.Cut, o domain.OutputSpec) error {
	if cut != nil && cut.State() != domain.CutStateCompleted {
		return domain.Conflict("modifier_not_ready", "cut %s is still %s; retry once it completes", cut.ID(), cut.State())
	}
	if o.Format.IsVideo() {
		if a.State() != domain.AssetStateReady {
			return domain.Conflict("asset_not_ready", "a video render needs the asset ready; it is %s", a.State())
		}
		return nil
	}
	if a.Cuttable() {
		return nil
	}
	switch a.State() {
	case domain.AssetStateFailed:
		return domain.Conflict("asset_failed", "the asset failed: %s", a.Failure().Message)
	case domain.AssetStatePaymentRequired:
		return domain.Conflict("asset_payment_required", "the asset waits for credits")
	}
	return domain.Conflict("asset_processing", "the asset's audio is not processed yet")
}

// planFor resolves the output against the source the render reads.
func planFor(a *domain.Asset, cut *domain.Cut, o domain.OutputSpec) (domain.RenderPlan, error) {
	m, _ := a.AudioMedia()
	if o.Format.IsVideo() {
		m, _ = a.Media()
	}
	var segs []domain.Segment
	var d = m.Duration
	if cut != nil {
		segs, d = cut.Kept(), cut.Duration()
	}
	return domain.PlanOutput(o, m, segs, d)
}
