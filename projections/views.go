// Package projections is renderd's read side: the read models behind the GET
// endpoints, the projectors that keep them up to date from the event stream,
// the queries that read them, and the wait that gives the API read-your-writes.
//
// Every row is derived from its aggregate as the domain rebuilds it from its
// event history (domain.RebuildAsset, domain.RebuildCut), so the lifecycle
// rules live only in domain/; this package only decides which version of the
// history a row reflects.
package projections

import (
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
	Source  *MediaView
	Audio   *MediaView
	Failure *FailureView
	// Refusal is why an uploaded part was refused, until it comes again.
	Refusal        *RefusalView
	ChargedSeconds int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Version        int64 // the last event of the asset's stream this view reflects
}

// MediaView mirrors domain.MediaInfo. Width and Height are the displayed
// size (after rotation); zero bitrates and rates mean unknown.
type MediaView struct {
	Duration        time.Duration
	Container       string
	SizeBytes       int64
	HasVideo        bool
	HasAudio        bool
	VideoCodec      string
	Width           int
	Height          int
	Rotation        int
	FrameRate       string
	PixelFormat     string
	VideoBitrate    int64 // bits per second
	AudioCodec      string
	AudioBitrate    int64 // bits per second
	AudioChannels   int
	AudioSampleRate int // Hz
}

// FailureView says why an asset or a cut failed, with a stable code.
type FailureView struct {
	Code    string
	Message string
}

// RefusalView mirrors domain.Refusal.
type RefusalView struct {
	Part    domain.AssetPart
	Code    string
	Message string
}

// CutView is a cut as the API shows it.
type CutView struct {
	ID        string
	AccountID string
	AssetID   string
	State     domain.CutState
	// Requested is the explicit plan; nil for an automatic one (Auto).
	Requested []Segment
	Auto      *Silence
	// Segments are the final kept segments once completed, and Duration
	// their total.
	Segments  []Segment
	Duration  time.Duration
	Failure   *FailureView
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// Segment is one kept span of an asset, [Start, End).
type Segment struct {
	Start time.Duration
	End   time.Duration
}

// Silence is an automatic plan: keep everything but silences of at least
// MinSilence below ThresholdDB.
type Silence struct {
	MinSilence  time.Duration
	ThresholdDB float64
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
		Failure:   failureView(a.Failure()),
		CreatedAt: a.CreatedAt(),
		UpdatedAt: history[len(history)-1].OccurredAt,
		Version:   a.Version(),

		ChargedSeconds: a.ChargedSeconds(),
	}
	if m, ok := a.Media(); ok {
		v.Source = mediaView(m)
	}
	if r := a.Refusal(); r != nil {
		v.Refusal = &RefusalView{Part: r.Part, Code: r.Code, Message: r.Message}
	}
	// The aggregate exposes no accessor for these facts (yet), so they are
	// read off the events that state them. They are plain values, not
	// lifecycle rules: nothing here decides a state.
	for _, r := range history {
		switch e := r.Event.(type) {
		case domain.AssetCreated:
			v.Name = e.Name
		case domain.AssetProbed:
			if e.Part == domain.AssetPartAudio {
				v.Audio = mediaView(e.Media)
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
		Failure:   failureView(c.Failure()),
		CreatedAt: c.CreatedAt(),
		UpdatedAt: history[len(history)-1].OccurredAt,
		Version:   c.Version(),
	}
	if auto := c.Auto(); auto != nil {
		v.Auto = &Silence{MinSilence: auto.MinSilence, ThresholdDB: auto.ThresholdDB}
	}
	return v, nil
}

func mediaView(m domain.MediaInfo) *MediaView {
	return &MediaView{
		Duration:        m.Duration,
		Container:       m.Container,
		SizeBytes:       m.SizeBytes,
		HasVideo:        m.HasVideo,
		HasAudio:        m.HasAudio,
		VideoCodec:      m.VideoCodec,
		Width:           m.Width,
		Height:          m.Height,
		Rotation:        m.Rotation,
		FrameRate:       m.FrameRate,
		PixelFormat:     m.PixelFormat,
		VideoBitrate:    m.VideoBitrate,
		AudioCodec:      m.AudioCodec,
		AudioBitrate:    m.AudioBitrate,
		AudioChannels:   m.AudioChannels,
		AudioSampleRate: m.AudioSampleRate,
	}
}

func failureView(f *domain.Failure) *FailureView {
	if f == nil {
		return nil
	}
	return &FailureView{Code: f.Code, Message: f.Message}
}

// segments returns nil for none, so an automatic plan has no Requested.
func segments(segs []domain.Segment) []Segment {
	if len(segs) == 0 {
		return nil
	}
	out := make([]Segment, len(segs))
	for i, s := range segs {
		out[i] = Segment{Start: s.Start, End: s.End}
	}
	return out
}
