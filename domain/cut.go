package domain

import (
	"fmt"
	"time"
)

// CutState is where a cut is in its lifecycle.
type CutState string

const (
	CutStateProcessing CutState = "processing"
	CutStateCompleted  CutState = "completed"
	CutStateFailed     CutState = "failed"
)

// Limits of a cut's plan.
const (
	MinSegment      = 100 * time.Millisecond
	MaxSegments     = 1000
	minSilenceFloor = 100 * time.Millisecond
	minSilenceCeil  = time.Minute
	durationSlack   = time.Millisecond // float seconds from JSON round to this
)

// Cut is a kept-segment plan over one asset (1:N per asset). It completes
// once its asset is cuttable and the plan holds against the real duration.
type Cut struct {
	id, accountID, assetID string
	requested              []Segment
	auto                   *SilenceRemoval
	state                  CutState
	kept                   []Segment
	duration               time.Duration
	failure                *Failure
	deleted                bool
	version                int64
	createdAt              time.Time
	changes                []Event
}

// RequestCut validates a plan and starts a cut. Exactly one of segments and
// auto is given: segments that are given but empty (not nil) count as
// given, so an empty list next to auto is refused too.
func RequestCut(id, accountID, assetID string, segments []Segment, auto *SilenceRemoval, now time.Time) (*Cut, error) {
	switch {
	case segments != nil && auto != nil:
		return nil, Invalid("auto", "give either segments or auto, not both")
	case auto != nil:
		if auto.MinSilence < minSilenceFloor || auto.MinSilence > minSilenceCeil {
			return nil, Invalid("auto.remove_silence.min_silence", "must be between %.1f and %.0f seconds", minSilenceFloor.Seconds(), minSilenceCeil.Seconds())
		}
		if auto.ThresholdDB < -100 || auto.ThresholdDB >= 0 {
			return nil, Invalid("auto.remove_silence.threshold_db", "must be between -100 and 0 (exclusive)")
		}
	default:
		if err := validateSegments(segments); err != nil {
			return nil, err
		}
	}
	c := &Cut{id: id, accountID: accountID}
	c.record(CutRequested{AssetID: assetID, Segments: segments, Auto: auto}, now)
	return c, nil
}

func validateSegments(segments []Segment) error {
	if len(segments) == 0 {
		return Invalid("segments", "give at least one segment, or an auto plan")
	}
	if len(segments) > MaxSegments {
		return Invalid("segments", "at most %d segments", MaxSegments)
	}
	for i, s := range segments {
		field := fmt.Sprintf("segments[%d]", i)
		switch {
		case s.Start < 0:
			return Invalid(field+".start", "must not be negative")
		case s.End <= s.Start:
			return Invalid(field+".end", "must be after start")
		case s.End-s.Start < MinSegment:
			return Invalid(field, "must be at least %.1f seconds long", MinSegment.Seconds())
		case i > 0 && s.Start < segments[i-1].End:
			return Invalid(field+".start", "segments must be sorted and must not overlap")
		}
	}
	return nil
}

// RebuildCut replays a cut's history. It is the only way to load one.
func RebuildCut(history []Recorded) (*Cut, error) {
	if len(history) == 0 {
		return nil, fmt.Errorf("cut: %w", ErrNotFound)
	}
	c := &Cut{id: history[0].StreamID, accountID: history[0].AccountID}
	for _, r := range history {
		if err := c.apply(r.Event, r.OccurredAt); err != nil {
			return nil, fmt.Errorf("cut %s v%d: %w", c.id, r.StreamVersion, err)
		}
		c.version = r.StreamVersion
	}
	return c, nil
}

func (c *Cut) ID() string              { return c.id }
func (c *Cut) AccountID() string       { return c.accountID }
func (c *Cut) AssetID() string         { return c.assetID }
func (c *Cut) State() CutState         { return c.state }
func (c *Cut) Version() int64          { return c.version }
func (c *Cut) Auto() *SilenceRemoval   { return c.auto }
func (c *Cut) Kept() []Segment         { return c.kept }
func (c *Cut) Duration() time.Duration { return c.duration }
func (c *Cut) Failure() *Failure       { return c.failure }
func (c *Cut) Changes() []Event        { return c.changes }
func (c *Cut) CreatedAt() time.Time    { return c.createdAt }
func (c *Cut) Requested() []Segment    { return c.requested }
func (c *Cut) Deleted() bool           { return c.deleted }

// Delete records that the cut went with its deleted asset; a processing
// cut stops there (Complete and Fail change nothing after it).
func (c *Cut) Delete(now time.Time) {
	if !c.deleted {
		c.record(CutDeleted{}, now)
	}
}

// Complete finishes the cut against its asset's real duration. For an auto
// plan, detected is what silence detection kept; for explicit segments it is
// ignored. A plan that falls outside the asset fails the cut instead.
func (c *Cut) Complete(assetDuration time.Duration, detected []Segment, now time.Time) error {
	if c.state != CutStateProcessing || c.deleted {
		return nil // already decided (a redelivered trigger), or deleted
	}
	kept := c.requested
	if c.auto != nil {
		kept = detected
	}
	if len(kept) == 0 {
		c.record(CutFailed{Code: FailureNothingKept, Message: "silence detection kept nothing of the asset"}, now)
		return nil
	}
	if last := kept[len(kept)-1]; last.End > assetDuration+durationSlack {
		c.record(CutFailed{Code: FailureOutOfRange,
			Message: fmt.Sprintf("a segment ends at %.3f s, after the end of the asset (%.3f s)", last.End.Seconds(), assetDuration.Seconds())}, now)
		return nil
	}
	var total time.Duration
	for _, s := range kept {
		total += s.End - s.Start
	}
	c.record(CutCompleted{Segments: kept, Duration: total}, now)
	return nil
}

// Fail records that the cut cannot complete (its asset failed, say).
func (c *Cut) Fail(code, message string, now time.Time) {
	if c.state == CutStateProcessing && !c.deleted {
		c.record(CutFailed{Code: code, Message: message}, now)
	}
}

// record applies and keeps a new event; the events recorded here are valid
// by construction, so apply cannot fail.
func (c *Cut) record(e Event, now time.Time) {
	_ = c.apply(e, now)
	c.version++
	c.changes = append(c.changes, e)
}

func (c *Cut) apply(e Event, at time.Time) error {
	switch e := e.(type) {
	case CutRequested:
		c.assetID, c.requested, c.auto, c.state, c.createdAt = e.AssetID, e.Segments, e.Auto, CutStateProcessing, at
	case CutCompleted:
		c.state, c.kept, c.duration = CutStateCompleted, e.Segments, e.Duration
	case CutFailed:
		c.state, c.failure = CutStateFailed, &Failure{Code: e.Code, Message: e.Message}
	case CutDeleted:
		c.deleted = true
	default:
		return fmt.Errorf("not a cut event: %T", e)
	}
	return nil
}
