package domain

import "time"

// Segment is one kept span of an asset, [Start, End).
type Segment struct {
	Start time.Duration
	End   time.Duration
}

// SilenceRemoval asks for an automatic plan that keeps everything but the
// silences of at least MinSilence below ThresholdDB.
type SilenceRemoval struct {
	MinSilence  time.Duration
	ThresholdDB float64
}

// CutRequested opens a cut's stream. Exactly one of Segments and Auto is set.
type CutRequested struct {
	AssetID  string
	Segments []Segment
	Auto     *SilenceRemoval
}

// CutCompleted records the final kept segments, validated against the asset's
// real duration.
type CutCompleted struct {
	Segments []Segment
	Duration time.Duration
}

// CutFailed records why a cut cannot be completed.
type CutFailed struct {
	Code    string
	Message string
}

// CutDeleted records that the cut went with its deleted asset.
type CutDeleted struct{}

func (CutRequested) AggregateType() AggregateType { return AggregateCut }
func (CutCompleted) AggregateType() AggregateType { return AggregateCut }
func (CutFailed) AggregateType() AggregateType    { return AggregateCut }
func (CutDeleted) AggregateType() AggregateType   { return AggregateCut }

func (CutRequested) isEvent() {}
func (CutCompleted) isEvent() {}
func (CutFailed) isEvent()    {}
func (CutDeleted) isEvent()   {}
