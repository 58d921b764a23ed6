package httpapi

import (
	"time"

	"github.com/renderd/renderd/domain"

	"github.com/renderd/renderd/projections"
)

// Response shapes of the API. Durations are seconds; bitrates bits per
// second; times RFC 3339 UTC.

type failureJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type mediaJSON struct {
	Container       string  `json:"container"`
	Duration        float64 `json:"duration"`
	SizeBytes       int64   `json:"size_bytes"`
	HasVideo        bool    `json:"has_video"`
	HasAudio        bool    `json:"has_audio"`
	VideoCodec      string  `json:"video_codec,omitempty"`
	Width           int     `json:"width,omitempty"`
	Height          int     `json:"height,omitempty"`
	Rotation        int     `json:"rotation"`
	FrameRate       string  `json:"frame_rate,omitempty"`
	PixelFormat     string  `json:"pixel_format,omitempty"`
	VideoBitrate    int64   `json:"video_bitrate_bps,omitempty"`
	AudioCodec      string  `json:"audio_codec,omitempty"`
	AudioBitrate    int64   `json:"audio_bitrate_bps,omitempty"`
	AudioChannels   int     `json:"audio_channels,omitempty"`
	AudioSampleRate int     `json:"audio_sample_rate,omitempty"`
}

type assetJSON struct {
	ID        string       `json:"id"`
	Object    string       `json:"object"`
	Kind      string       `json:"kind"`
	Name      string       `json:"name"`
	State     string       `json:"state"`
	Cuttable  bool         `json:"cuttable"`
	Source    *mediaJSON   `json:"source"`
	Audio     *mediaJSON   `json:"audio"`
	Failure   *failureJSON `json:"failure"`
	Refusal   *refusalJSON `json:"refusal"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

type refusalJSON struct {
	Part    string `json:"part"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type segmentJSON struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

type silenceJSON struct {
	MinSilence  float64 `json:"min_silence"`
	ThresholdDB float64 `json:"threshold_db"`
}

type planJSON struct {
	Segments []segmentJSON `json:"segments,omitempty"`
	Auto     *autoJSON     `json:"auto,omitempty"`
}

type autoJSON struct {
	RemoveSilence *silenceJSON `json:"remove_silence"`
}

type cutJSON struct {
	ID        string        `json:"id"`
	Object    string        `json:"object"`
	AssetID   string        `json:"asset_id"`
	State     string        `json:"state"`
	Plan      planJSON      `json:"plan"`
	Segments  []segmentJSON `json:"segments"`
	Duration  *float64      `json:"duration"`
	Failure   *failureJSON  `json:"failure"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

type listJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func toFailure(f *domain.Failure) *failureJSON {
	if f == nil {
		return nil
	}
	return &failureJSON{Code: f.Code, Message: f.Message}
}

func toMedia(m *domain.MediaInfo) *mediaJSON {
	if m == nil {
		return nil
	}
	return &mediaJSON{Container: m.Container, Duration: seconds(m.Duration), SizeBytes: m.SizeBytes, HasVideo: m.HasVideo,
		HasAudio: m.HasAudio, VideoCodec: m.VideoCodec, Width: m.Width, Height: m.Height, Rotation: m.Rotation,
		FrameRate: m.FrameRate, PixelFormat: m.PixelFormat, VideoBitrate: m.VideoBitrate, AudioCodec: m.AudioCodec,
		AudioBitrate: m.AudioBitrate, AudioChannels: m.AudioChannels, AudioSampleRate: m.AudioSampleRate}
}

func toAsset(v projections.AssetView) assetJSON {
	return assetJSON{ID: v.ID, Object: "asset", Kind: string(v.Kind), Name: v.Name, State: string(v.State), Cuttable: v.Cuttable,
		Source: toMedia(v.Source), Audio: toMedia(v.Audio), Failure: toFailure(v.Failure), Refusal: toRefusal(v.Refusal),
		CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
}

func toRefusal(r *domain.Refusal) *refusalJSON {
	if r == nil {
		return nil
	}
	return &refusalJSON{Part: string(r.Part), Code: r.Code, Message: r.Message}
}

func toSegments(segs []domain.Segment) []segmentJSON {
	out := make([]segmentJSON, len(segs))
	for i, s := range segs {
		out[i] = segmentJSON{Start: seconds(s.Start), End: seconds(s.End)}
	}
	return out
}

func toCut(v projections.CutView) cutJSON {
	c := cutJSON{ID: v.ID, Object: "cut", AssetID: v.AssetID, State: string(v.State), Segments: toSegments(v.Segments),
		Failure: toFailure(v.Failure), CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
	if v.Auto != nil {
		c.Plan.Auto = &autoJSON{RemoveSilence: &silenceJSON{MinSilence: seconds(v.Auto.MinSilence), ThresholdDB: v.Auto.ThresholdDB}}
	} else {
		c.Plan.Segments = toSegments(v.Requested)
	}
	if v.State == domain.CutStateCompleted {
		d := seconds(v.Duration)
		c.Duration = &d
	}
	return c
}

func list[V, T any](views []V, next string, conv func(V) T) listJSON[T] {
	out := listJSON[T]{Data: make([]T, 0, len(views))}
	for _, v := range views {
		out.Data = append(out.Data, conv(v))
	}
	if next != "" {
		out.NextCursor = &next
	}
	return out
}

type outputJSON struct {
	Format       string `json:"format"`
	Resolution   string `json:"resolution,omitempty"`
	VideoBitrate int    `json:"video_bitrate,omitempty"`
	AudioBitrate int    `json:"audio_bitrate,omitempty"`
}

type renderPlanJSON struct {
	Width        int           `json:"width,omitempty"`
	Height       int           `json:"height,omitempty"`
	VideoBitrate int64         `json:"video_bitrate_bps,omitempty"`
	AudioBitrate int64         `json:"audio_bitrate_bps,omitempty"`
	Segments     []segmentJSON `json:"segments"`
	Duration     float64       `json:"duration"`
}

type renderJSON struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	AssetID           string         `json:"asset_id"`
	CutID             *string        `json:"cut_id"`
	Output            outputJSON     `json:"output"`
	Plan              renderPlanJSON `json:"plan"`
	State             string         `json:"state"`
	Progress          int            `json:"progress"`
	Attempt           int            `json:"attempt"`
	ETASeconds        *float64       `json:"eta_seconds"`
	Failure           *failureJSON   `json:"failure"`
	Replaces          *string        `json:"replaces"`
	SizeBytes         *int64         `json:"size_bytes"`
	Duration          *float64       `json:"duration"`
	OutputExpired     bool           `json:"output_expired"`
	DownloadURL       *string        `json:"download_url,omitempty"`
	DownloadExpiresAt *time.Time     `json:"download_expires_at,omitempty"`
	CreatedAt         time.Time      `json:"created_at"`
	StartedAt         *time.Time     `json:"started_at"`
	CompletedAt       *time.Time     `json:"completed_at"`
	FailedAt          *time.Time     `json:"failed_at"`
	CancelledAt       *time.Time     `json:"cancelled_at"`
	UpdatedAt         time.Time      `json:"updated_at"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toRender(v projections.RenderView) renderJSON {
	out := renderJSON{ID: v.ID, Object: "render", AssetID: v.AssetID, CutID: optString(v.CutID),
		Output: outputJSON{Format: string(v.Output.Format), Resolution: string(v.Output.Resolution),
			VideoBitrate: v.Output.VideoBitrate, AudioBitrate: v.Output.AudioBitrate},
		Plan: renderPlanJSON{Width: v.Plan.Width, Height: v.Plan.Height, VideoBitrate: v.Plan.VideoBitrate,
			AudioBitrate: v.Plan.AudioBitrate, Segments: toSegments(v.Plan.Segments), Duration: seconds(v.Plan.Duration)},
		State: string(v.State), OutputExpired: v.OutputExpired, Progress: v.Progress, Attempt: v.Attempt, Failure: toFailure(v.Failure), Replaces: optString(v.Replaces),
		CreatedAt: v.CreatedAt.UTC(), StartedAt: optTime(v.StartedAt), CompletedAt: optTime(v.CompletedAt),
		FailedAt: optTime(v.FailedAt), CancelledAt: optTime(v.CancelledAt), UpdatedAt: v.UpdatedAt.UTC()}
	if v.State == domain.RenderStateRunning && v.ETA > 0 {
		eta := seconds(v.ETA)
		out.ETASeconds = &eta
	}
	if res := v.Result; res != nil {
		size, d := res.SizeBytes, seconds(res.Duration)
		out.SizeBytes, out.Duration = &size, &d
	}
	return out
}
