package eventschema

import "github.com/renderd/renderd/domain"

// render.requested.v1
type renderRequestedV1 struct {
	AssetID   string       `json:"asset_id"`
	CutID     string       `json:"cut_id,omitempty"`
	Output    outputSpecV1 `json:"output"`
	Plan      renderPlanV1 `json:"plan"`
	Signature string       `json:"signature"`
	Replaces  string       `json:"replaces,omitempty"`
}

// outputSpecV1 is exactly what the client asked for, in the REST API's shape
// and units (Mbps, kbps). Omitted fields stay omitted: "omitted" (Auto) and an
// explicit value equal to Auto are different requests.
type outputSpecV1 struct {
	Format       string `json:"format"`
	Resolution   string `json:"resolution,omitempty"`
	VideoBitrate int    `json:"video_bitrate,omitempty"`
	AudioBitrate int    `json:"audio_bitrate,omitempty"`
}

// renderPlanV1 is the output resolved against the source, in bits per second.
// Video fields are omitted for audio formats; segments for full-source renders.
type renderPlanV1 struct {
	Width           int         `json:"width,omitempty"`
	Height          int         `json:"height,omitempty"`
	VideoBitrateBPS int64       `json:"video_bitrate_bps,omitempty"`
	AudioBitrateBPS int64       `json:"audio_bitrate_bps,omitempty"`
	Segments        []segmentV1 `json:"segments,omitempty"`
	DurationSeconds float64     `json:"duration_seconds"`
}

func renderRequestedToWire(e domain.RenderRequested) renderRequestedV1 {
	return renderRequestedV1{
		AssetID: e.AssetID,
		CutID:   e.CutID,
		Output: outputSpecV1{
			Format:       string(e.Output.Format),
			Resolution:   string(e.Output.Resolution),
			VideoBitrate: e.Output.VideoBitrate,
			AudioBitrate: e.Output.AudioBitrate,
		},
		Plan: renderPlanV1{
			Width:           e.Plan.Width,
			Height:          e.Plan.Height,
			VideoBitrateBPS: e.Plan.VideoBitrate,
			AudioBitrateBPS: e.Plan.AudioBitrate,
			Segments:        segmentsToWire(e.Plan.Segments),
			DurationSeconds: secondsFromDuration(e.Plan.Duration),
		},
		Signature: e.Signature,
		Replaces:  e.Replaces,
	}
}

func (w renderRequestedV1) toDomain() (domain.Event, error) {
	segs, err := segmentsFromWire("plan.segments", w.Plan.Segments)
	if err != nil {
		return nil, err
	}
	duration, err := durationFromSeconds("plan.duration_seconds", w.Plan.DurationSeconds)
	if err != nil {
		return nil, err
	}
	return domain.RenderRequested{
		AssetID: w.AssetID,
		CutID:   w.CutID,
		Output: domain.OutputSpec{
			Format:       domain.Format(w.Output.Format),
			Resolution:   domain.Resolution(w.Output.Resolution),
			VideoBitrate: w.Output.VideoBitrate,
			AudioBitrate: w.Output.AudioBitrate,
		},
		Plan: domain.RenderPlan{
			Width:        w.Plan.Width,
			Height:       w.Plan.Height,
			VideoBitrate: w.Plan.VideoBitrateBPS,
			AudioBitrate: w.Plan.AudioBitrateBPS,
			Segments:     segs,
			Duration:     duration,
		},
		Signature: w.Signature,
		Replaces:  w.Replaces,
	}, nil
}

// render.started.v1
type renderStartedV1 struct {
	Attempt    int    `json:"attempt"`
	WorkerID   string `json:"worker_id"`
	LeaseUntil string `json:"lease_until"`
}

func renderStartedToWire(e domain.RenderStarted) renderStartedV1 {
	return renderStartedV1{Attempt: e.Attempt, WorkerID: e.WorkerID, LeaseUntil: formatTime(e.LeaseUntil)}
}

func (w renderStartedV1) toDomain() (domain.Event, error) {
	leaseUntil, err := parseTime("lease_until", w.LeaseUntil)
	if err != nil {
		return nil, err
	}
	return domain.RenderStarted{Attempt: w.Attempt, WorkerID: w.WorkerID, LeaseUntil: leaseUntil}, nil
}

// render.progressed.v1
type renderProgressedV1 struct {
	Attempt         int     `json:"attempt"`
	Percent         int     `json:"percent"`
	ETASeconds      float64 `json:"eta_seconds"`
	PositionSeconds float64 `json:"position_seconds"`
}

func renderProgressedToWire(e domain.RenderProgressed) renderProgressedV1 {
	return renderProgressedV1{
		Attempt:         e.Attempt,
		Percent:         e.Percent,
		ETASeconds:      secondsFromDuration(e.ETA),
		PositionSeconds: secondsFromDuration(e.Position),
	}
}

func (w renderProgressedV1) toDomain() (domain.Event, error) {
	eta, err := durationFromSeconds("eta_seconds", w.ETASeconds)
	if err != nil {
		return nil, err
	}
	position, err := durationFromSeconds("position_seconds", w.PositionSeconds)
	if err != nil {
		return nil, err
	}
	return domain.RenderProgressed{Attempt: w.Attempt, Percent: w.Percent, ETA: eta, Position: position}, nil
}

// render.completed.v1: video fields are omitted for audio deliverables.
type renderCompletedV1 struct {
	Attempt         int     `json:"attempt"`
	BlobKey         string  `json:"blob_key"`
	SizeBytes       int64   `json:"size_bytes"`
	DurationSeconds float64 `json:"duration_seconds"`
	Width           int     `json:"width,omitempty"`
	Height          int     `json:"height,omitempty"`
	VideoBitrateBPS int64   `json:"video_bitrate_bps,omitempty"`
	AudioBitrateBPS int64   `json:"audio_bitrate_bps,omitempty"`
	EncodeSeconds   float64 `json:"encode_seconds"`
	FastPath        bool    `json:"fast_path"`
}

func renderCompletedToWire(e domain.RenderCompleted) renderCompletedV1 {
	return renderCompletedV1{
		Attempt:         e.Attempt,
		BlobKey:         e.BlobKey,
		SizeBytes:       e.SizeBytes,
		DurationSeconds: secondsFromDuration(e.Duration),
		Width:           e.Width,
		Height:          e.Height,
		VideoBitrateBPS: e.VideoBitrate,
		AudioBitrateBPS: e.AudioBitrate,
		EncodeSeconds:   secondsFromDuration(e.EncodeTime),
		FastPath:        e.FastPath,
	}
}

func (w renderCompletedV1) toDomain() (domain.Event, error) {
	duration, err := durationFromSeconds("duration_seconds", w.DurationSeconds)
	if err != nil {
		return nil, err
	}
	encodeTime, err := durationFromSeconds("encode_seconds", w.EncodeSeconds)
	if err != nil {
		return nil, err
	}
	return domain.RenderCompleted{
		Attempt:      w.Attempt,
		BlobKey:      w.BlobKey,
		SizeBytes:    w.SizeBytes,
		Duration:     duration,
		Width:        w.Width,
		Height:       w.Height,
		VideoBitrate: w.VideoBitrateBPS,
		AudioBitrate: w.AudioBitrateBPS,
		EncodeTime:   encodeTime,
		FastPath:     w.FastPath,
	}, nil
}

// render.failed.v1
type renderFailedV1 struct {
	Attempt   int    `json:"attempt"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

func renderFailedToWire(e domain.RenderFailed) renderFailedV1 {
	return renderFailedV1{Attempt: e.Attempt, Code: e.Code, Message: e.Message, Retryable: e.Retryable}
}

func (w renderFailedV1) toDomain() (domain.Event, error) {
	return domain.RenderFailed{Attempt: w.Attempt, Code: w.Code, Message: w.Message, Retryable: w.Retryable}, nil
}

// render.cancelled.v1: attempt is 0 when no attempt had started.
type renderCancelledV1 struct {
	Attempt int `json:"attempt"`
}

func renderCancelledToWire(e domain.RenderCancelled) renderCancelledV1 {
	return renderCancelledV1{Attempt: e.Attempt}
}

func (w renderCancelledV1) toDomain() (domain.Event, error) {
	return domain.RenderCancelled{Attempt: w.Attempt}, nil
}

// render.retried.v1: attempt is the attempt the render is pending for.
type renderRetriedV1 struct {
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason"`
}

func renderRetriedToWire(e domain.RenderRetried) renderRetriedV1 {
	return renderRetriedV1{Attempt: e.Attempt, Reason: e.Reason}
}

func (w renderRetriedV1) toDomain() (domain.Event, error) {
	return domain.RenderRetried{Attempt: w.Attempt, Reason: w.Reason}, nil
}

// render.output_expired.v1: the attempt whose output was removed, and its
// blob key (as render.completed.v1 named it).
type renderOutputExpiredV1 struct {
	Attempt int    `json:"attempt"`
	BlobKey string `json:"blob_key"`
}

func (w renderOutputExpiredV1) toDomain() (domain.Event, error) {
	return domain.RenderOutputExpired{Attempt: w.Attempt, BlobKey: w.BlobKey}, nil
}

// render.deleted.v1: no data; the CloudEvents attributes name the render.
type renderDeletedV1 struct{}

func (renderDeletedV1) toDomain() (domain.Event, error) { return domain.RenderDeleted{}, nil }
