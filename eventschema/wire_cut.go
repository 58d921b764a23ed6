package eventschema

import (
	"errors"

	"github.com/renderd/renderd/domain"
)

// cut.requested.v1: exactly one of segments and auto is present.
type cutRequestedV1 struct {
	AssetID  string      `json:"asset_id"`
	Segments []segmentV1 `json:"segments,omitempty"`
	Auto     *autoPlanV1 `json:"auto,omitempty"`
}

// autoPlanV1 mirrors the REST API's {"auto": {"remove_silence": {...}}}, which
// leaves room for other automatic plans as new optional members.
type autoPlanV1 struct {
	RemoveSilence *silenceRemovalV1 `json:"remove_silence,omitempty"`
}

type silenceRemovalV1 struct {
	MinSilenceSeconds float64 `json:"min_silence_seconds"`
	ThresholdDB       float64 `json:"threshold_db"`
}

func cutRequestedToWire(e domain.CutRequested) cutRequestedV1 {
	w := cutRequestedV1{AssetID: e.AssetID, Segments: segmentsToWire(e.Segments)}
	if e.Auto != nil {
		w.Auto = &autoPlanV1{RemoveSilence: &silenceRemovalV1{
			MinSilenceSeconds: secondsFromDuration(e.Auto.MinSilence),
			ThresholdDB:       e.Auto.ThresholdDB,
		}}
	}
	return w
}

func (w cutRequestedV1) toDomain() (domain.Event, error) {
	segs, err := segmentsFromWire("segments", w.Segments)
	if err != nil {
		return nil, err
	}
	e := domain.CutRequested{AssetID: w.AssetID, Segments: segs}
	if w.Auto != nil {
		// An auto plan of a kind this version does not know cannot be
		// executed; dropping it would turn the cut into an empty manual one.
		if w.Auto.RemoveSilence == nil {
			return nil, errors.New("auto: no known automatic plan (expected remove_silence)")
		}
		minSilence, err := durationFromSeconds("auto.remove_silence.min_silence_seconds", w.Auto.RemoveSilence.MinSilenceSeconds)
		if err != nil {
			return nil, err
		}
		e.Auto = &domain.SilenceRemoval{MinSilence: minSilence, ThresholdDB: w.Auto.RemoveSilence.ThresholdDB}
	}
	return e, nil
}

// cut.completed.v1
type cutCompletedV1 struct {
	Segments        []segmentV1 `json:"segments"`
	DurationSeconds float64     `json:"duration_seconds"`
}

func cutCompletedToWire(e domain.CutCompleted) cutCompletedV1 {
	segs := segmentsToWire(e.Segments)
	if segs == nil {
		segs = []segmentV1{} // required field: write [] rather than null
	}
	return cutCompletedV1{Segments: segs, DurationSeconds: secondsFromDuration(e.Duration)}
}

func (w cutCompletedV1) toDomain() (domain.Event, error) {
	segs, err := segmentsFromWire("segments", w.Segments)
	if err != nil {
		return nil, err
	}
	duration, err := durationFromSeconds("duration_seconds", w.DurationSeconds)
	if err != nil {
		return nil, err
	}
	return domain.CutCompleted{Segments: segs, Duration: duration}, nil
}

// cut.failed.v1
type cutFailedV1 struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func cutFailedToWire(e domain.CutFailed) cutFailedV1 {
	return cutFailedV1{Code: e.Code, Message: e.Message}
}

func (w cutFailedV1) toDomain() (domain.Event, error) {
	return domain.CutFailed{Code: w.Code, Message: w.Message}, nil
}

// cut.deleted.v1: no data; the CloudEvents attributes name the cut.
type cutDeletedV1 struct{}

func (cutDeletedV1) toDomain() (domain.Event, error) { return domain.CutDeleted{}, nil }
