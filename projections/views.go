// Package projections is renderd's read side: the read models behind the GET
// endpoints, the projectors that keep them up to date from the event stream,
// the queries that read them, and the wait that gives the API read-your-writes.
//
// Every row is derived from its aggregate as the domain rebuilds it from its
// event history (domain.RebuildAsset, domain.RebuildCut, domain.RebuildRender),
// or, for a render's next event, folded onto the row with the render's own
// transition function (domain.RenderLifecycle.Next), so the lifecycle rules
// live only in domain/; this package only decides which version of the
// history a row reflects.
package projections

import (
	"slices"
	"time"

	"github.com/renderd/renderd/domain"
)

// AssetView is an asset as the API shows it.
type AssetView struct {
	ID        string
	AccountID string
	Kind      domain.AssetKind
	Name      string
	State     domain.AssetState
	// Cuttable: the asset's audio is processed and paid for, so cuts can
	// complete and audio renders can start.
	Cuttable bool
	// Source and Audio are what probing found in the uploaded source and in
	// the client-extracted audio; nil until that part is probed.
	Source  *domain.MediaInfo
	Audio   *domain.MediaInfo
	Failure *domain.Failure
	// Refusal is why an uploaded part was refused, until it comes again.
	Refusal        *domain.Refusal
	ChargedSeconds int64
	// Deleted: the account deleted the asset; the API shows it no more.
	Deleted   bool
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64 // the last event of the asset's stream this view reflects
}

// CutView is a cut as the API shows it.
type CutView struct {
	ID        string
	AccountID string
	AssetID   string
	State     domain.CutState
	// Requested is the explicit plan; nil for an automatic one (Auto).
	Requested []domain.Segment
	Auto      *domain.SilenceRemoval
	// Segments are the final kept segments once completed, and Duration
	// their total.
	Segments  []domain.Segment
	Duration  time.Duration
	Failure   *domain.Failure
	Deleted   bool // deleted with its asset; the API shows it no more
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// assetView builds the view of an asset from its history (versions 1..n).
func assetView(history []domain.Recorded) (AssetView, error) {
	a, err := domain.RebuildAsset(history)
	if err != nil {
		return AssetView{}, err
	}
	v := AssetView{
		ID:        a.ID(),
		AccountID: a.AccountID(),
		Kind:      a.Kind(),
		State:     a.State(),
		Cuttable:  a.Cuttable(),
		Failure:   a.Failure(),
		CreatedAt: a.CreatedAt(),
		UpdatedAt: history[len(history)-1].OccurredAt,
		Version:   a.Version(),

		ChargedSeconds: a.ChargedSeconds(),
		Deleted:        a.Deleted(),
	}
	if m, ok := a.Media(); ok {
		v.Source = &m
	}
	v.Refusal = a.Refusal()
	// The aggregate exposes no accessor for these facts (yet), so they are
	// read off the events that state them. They are plain values, not
	// lifecycle rules: nothing here decides a state.
	for _, r := range history {
		switch e := r.Event.(type) {
		case domain.AssetCreated:
			v.Name = e.Name
		case domain.AssetProbed:
			if e.Part == domain.AssetPartAudio {
				m := e.Media
				v.Audio = &m
			}
		}
	}
	return v, nil
}

// cutView builds the view of a cut from its history (versions 1..n).
func cutView(history []domain.Recorded) (CutView, error) {
	c, err := domain.RebuildCut(history)
	if err != nil {
		return CutView{}, err
	}
	v := CutView{
		ID:        c.ID(),
		AccountID: c.AccountID(),
		AssetID:   c.AssetID(),
		State:     c.State(),
		Requested: segments(c.Requested()),
		Segments:  segments(c.Kept()),
		Duration:  c.Duration(),
		Failure:   c.Failure(),
		Deleted:   c.Deleted(),
		CreatedAt: c.CreatedAt(),
		UpdatedAt: history[len(history)-1].OccurredAt,
		Version:   c.Version(),
	}
	v.Auto = c.Auto()
	return v, nil
}

// segments returns nil for none, so an automatic plan has no Requested and
// a full-source render's plan no Segments.
func segments(segs []domain.Segment) []domain.Segment {
	if len(segs) == 0 {
		return nil
	}
	return slices.Clone(segs)
}
