package projections

import (
	"fmt"
	"time"

	"github.com/renderd/renderd/domain"
)

// HistoryEntry is one event of a render's history as auditors see it: the
// public, unversioned type ("render.completed") and the public part of the
// event's data. The JSON tags are the API's shape.
type HistoryEntry struct {
	ID         string    `json:"id"` // the event id, as in the CloudEvent's id
	Type       string    `json:"type"`
	Version    int64     `json:"version"`
	OccurredAt time.Time `json:"occurred_at"`
	// Data is one of the Render*Data types; nil for an event this build does
	// not know (written by a newer one): its data may hold anything.
	Data HistoryData `json:"data"`
}

// HistoryData is the public data of one render event. Only this package
// implements it.
type HistoryData interface{ historyData() }

// RenderRequestedData is render.requested without the signature (an
// internal idempotency key).
type RenderRequestedData struct {
	AssetID  string           `json:"asset_id"`
	CutID    string           `json:"cut_id,omitempty"`
	Output   RenderOutputData `json:"output"`
	Plan     RenderPlanData   `json:"plan"`
	Replaces string           `json:"replaces,omitempty"`
}

// RenderOutputData is the output as requested, in the API's shape.
type RenderOutputData struct {
	Format       string `json:"format"`
	Resolution   string `json:"resolution,omitempty"`
	VideoBitrate int    `json:"video_bitrate,omitempty"`
	AudioBitrate int    `json:"audio_bitrate,omitempty"`
}

// RenderPlanData is the resolved output, bitrates in bits per second.
type RenderPlanData struct {
	Width           int           `json:"width,omitempty"`
	Height          int           `json:"height,omitempty"`
	VideoBitrateBPS int64         `json:"video_bitrate_bps,omitempty"`
	AudioBitrateBPS int64         `json:"audio_bitrate_bps,omitempty"`
	Segments        []SegmentData `json:"segments,omitempty"`
	DurationSeconds float64       `json:"duration_seconds"`
}

// SegmentData is a kept segment in seconds, as the cuts API takes them.
type SegmentData struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// RenderStartedData is render.started without the worker id and its lease.
type RenderStartedData struct {
	Attempt int `json:"attempt"`
}

// RenderProgressedData is render.progressed.
type RenderProgressedData struct {
	Attempt         int     `json:"attempt"`
	Percent         int     `json:"percent"`
	ETASeconds      float64 `json:"eta_seconds"`
	PositionSeconds float64 `json:"position_seconds"`
}

// RenderCompletedData is render.completed without the blob key (a storage
// path; clients download through GET /v1/renders/{id}).
type RenderCompletedData struct {
	Attempt         int     `json:"attempt"`
	SizeBytes       int64   `json:"size_bytes"`
	DurationSeconds float64 `json:"duration_seconds"`
	Width           int     `json:"width,omitempty"`
	Height          int     `json:"height,omitempty"`
	VideoBitrateBPS int64   `json:"video_bitrate_bps,omitempty"`
	AudioBitrateBPS int64   `json:"audio_bitrate_bps,omitempty"`
	EncodeSeconds   float64 `json:"encode_seconds"`
	FastPath        bool    `json:"fast_path"`
}

// RenderFailedData is render.failed with the public message for its code
// in place of the encoder's (see publicFailureMessage).
type RenderFailedData struct {
	Attempt   int    `json:"attempt"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// RenderCancelledData is render.cancelled; attempt 0: none had started.
type RenderCancelledData struct {
	Attempt int `json:"attempt"`
}

// RenderRetriedData is render.retried without its reason, which is an
// operator's note (a lost lease names the worker that lost it).
type RenderRetriedData struct {
	Attempt int `json:"attempt"` // the attempt the render now waits for
}

// RenderOutputExpiredData is render.output_expired without the blob key,
// which is the server's own.
type RenderOutputExpiredData struct {
	Attempt int `json:"attempt"` // the attempt whose output was removed
}

// RenderDeletedData is render.deleted, which has no data; the API serves
// no history of a deleted render, so only operators' tools show it.
type RenderDeletedData struct{}

func (RenderRequestedData) historyData()  {}
func (RenderStartedData) historyData()    {}
func (RenderProgressedData) historyData() {}
func (RenderCompletedData) historyData()  {}
func (RenderFailedData) historyData()     {}
func (RenderCancelledData) historyData()  {}
func (RenderRetriedData) historyData()    {}

func (RenderOutputExpiredData) historyData() {}
func (RenderDeletedData) historyData()       {}

// PublicData maps a render event to its public data, field by field: a
// field added to an event stays private until it is added here.
func PublicData(ev domain.Event) (HistoryData, error) {
	switch e := ev.(type) {
	case domain.RenderRequested:
		d := RenderRequestedData{AssetID: e.AssetID, CutID: e.CutID, Replaces: e.Replaces,
			Output: RenderOutputData{Format: string(e.Output.Format), Resolution: string(e.Output.Resolution),
				VideoBitrate: e.Output.VideoBitrate, AudioBitrate: e.Output.AudioBitrate},
			Plan: RenderPlanData{Width: e.Plan.Width, Height: e.Plan.Height, VideoBitrateBPS: e.Plan.VideoBitrate,
				AudioBitrateBPS: e.Plan.AudioBitrate, DurationSeconds: e.Plan.Duration.Seconds()}}
		for _, s := range e.Plan.Segments {
			d.Plan.Segments = append(d.Plan.Segments, SegmentData{Start: s.Start.Seconds(), End: s.End.Seconds()})
		}
		return d, nil
	case domain.RenderStarted:
		return RenderStartedData{Attempt: e.Attempt}, nil
	case domain.RenderProgressed:
		return RenderProgressedData{Attempt: e.Attempt, Percent: e.Percent, ETASeconds: e.ETA.Seconds(),
			PositionSeconds: e.Position.Seconds()}, nil
	case domain.RenderCompleted:
		return RenderCompletedData{Attempt: e.Attempt, SizeBytes: e.SizeBytes, DurationSeconds: e.Duration.Seconds(),
			Width: e.Width, Height: e.Height, VideoBitrateBPS: e.VideoBitrate, AudioBitrateBPS: e.AudioBitrate,
			EncodeSeconds: e.EncodeTime.Seconds(), FastPath: e.FastPath}, nil
	case domain.RenderFailed:
		return RenderFailedData{Attempt: e.Attempt, Code: e.Code, Message: publicFailureMessage(e.Code), Retryable: e.Retryable}, nil
	case domain.RenderCancelled:
		return RenderCancelledData{Attempt: e.Attempt}, nil
	case domain.RenderRetried:
		return RenderRetriedData{Attempt: e.Attempt}, nil
	case domain.RenderOutputExpired:
		return RenderOutputExpiredData{Attempt: e.Attempt}, nil
	case domain.RenderDeleted:
		return RenderDeletedData{}, nil
	}
	return nil, fmt.Errorf("not a render event: %T", ev)
}
