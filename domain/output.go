package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// The output ladders and tiers (docs/renders.md, "Output spec").
var (
	videoLadderMbps = []int{5, 10, 20, 50}
	audioLadderKbps = []int{128, 192, 256, 320}
	tierShortEdge   = map[Resolution]int{Resolution720p: 720, Resolution1080p: 1080, Resolution4K: 2160}
)

// Auto bitrates (docs/renders.md, "Auto, caps and refusals"): video
// 5/10/20 Mbps for outputs whose short edge is ≤ 720 / ≤ 1080 / larger,
// audio 192 kbps; each capped to the source.
const (
	autoAudioBitrate   = 192_000
	videoOverSourceCap = 1.10 // an explicit video bitrate more than 10 % above the source is refused
)

// IsVideo reports whether the format carries video (mp4, mov).
func (f Format) IsVideo() bool { return f == FormatMP4 || f == FormatMOV }

// Validate checks the output on its own (no source needed): known format,
// tiers and ladder steps (case-sensitive), and no video settings on an audio
// format. Zero values are omitted; any other value off the formats, tiers
// and ladders is refused on its field.
func (o OutputSpec) Validate() error {
	switch o.Format {
	case FormatMP4, FormatMOV, FormatM4A, FormatMP3:
	case "":
		return Invalid("output.format", "is required: mp4, mov, m4a or mp3")
	default:
		return Invalid("output.format", "%q is not a format: use mp4, mov, m4a or mp3", o.Format)
	}
	if _, ok := tierShortEdge[o.Resolution]; o.Resolution != "" && !ok {
		return Invalid("output.resolution", "%q is not a tier: use 720p, 1080p or 4k", o.Resolution)
	}
	if o.VideoBitrate != 0 && !slices.Contains(videoLadderMbps, o.VideoBitrate) {
		return Invalid("output.video_bitrate", "must be one of 5, 10, 20, 50 (Mbps)")
	}
	if o.AudioBitrate != 0 && !slices.Contains(audioLadderKbps, o.AudioBitrate) {
		return Invalid("output.audio_bitrate", "must be one of 128, 192, 256, 320 (kbps)")
	}
	if !o.Format.IsVideo() {
		if o.Resolution != "" {
			return Invalid("output.resolution", "applies to video formats only, not %s", o.Format)
		}
		if o.VideoBitrate != 0 {
			return Invalid("output.video_bitrate", "applies to video formats only, not %s", o.Format)
		}
	}
	return nil
}

// PlanOutput resolves an output against its source: the picture size
// (shorter displayed edge = tier, aspect kept, even, never upscaled; source
// size when omitted), the bitrates (explicit capped to the source, Auto per
// tier capped to the source), and the kept segments and their duration.
// media is the source for a video output and the audio a cut or audio
// render reads for an audio output. A tier above the source's short edge, or
// an explicit video bitrate more than 10 % above the source's, is refused.
//
// A cut completes against the asset's audio, which may last a little longer
// than the video source (within DurationTolerance): its segments are
// clipped to the end of the file the render reads, and a cut that lies
// wholly beyond it is refused.
func PlanOutput(o OutputSpec, media MediaInfo, segments []Segment, cutDuration time.Duration) (RenderPlan, error) {
	plan := RenderPlan{Segments: segments, Duration: media.Duration}
	if len(segments) > 0 {
		plan.Duration = cutDuration
		if end := segments[len(segments)-1].End; media.Duration > 0 && end > media.Duration {
			plan.Segments, plan.Duration = clipSegments(segments, media.Duration)
			if len(plan.Segments) == 0 {
				return RenderPlan{}, Invalid("cut_id", "the cut lies after the end of the source (%.3f s)", media.Duration.Seconds())
			}
		}
	}
	if media.HasAudio {
		plan.AudioBitrate = capTo(autoAudioBitrate, media.AudioBitrate)
		if o.AudioBitrate != 0 {
			plan.AudioBitrate = capTo(int64(o.AudioBitrate)*1000, media.AudioBitrate)
		}
	}
	if !o.Format.IsVideo() {
		return plan, nil
	}

	short, long := min(media.Width, media.Height), max(media.Width, media.Height)
	if short <= 0 {
		return RenderPlan{}, Invalid("asset_id", "the source's picture size is unknown")
	}
	outShort, outLong := even(short), even(long)
	if o.Resolution != "" {
		tier := tierShortEdge[o.Resolution]
		if tier > short {
			return RenderPlan{}, Invalid("output.resolution", "%s is above the source (its shorter edge is %d px); a render never upscales", o.Resolution, short)
		}
		outShort, outLong = tier, even(int(float64(long)*float64(tier)/float64(short)+0.5))
	}
	if media.Width >= media.Height {
		plan.Width, plan.Height = outLong, outShort
	} else {
		plan.Width, plan.Height = outShort, outLong
	}

	plan.VideoBitrate = capTo(autoVideoBitrate(outShort), media.VideoBitrate)
	if o.VideoBitrate != 0 {
		want := int64(o.VideoBitrate) * 1_000_000
		if media.VideoBitrate > 0 && float64(want) > videoOverSourceCap*float64(media.VideoBitrate) {
			return RenderPlan{}, Invalid("output.video_bitrate", "%d Mbps is above the source's video bitrate (%.1f Mbps)",
				o.VideoBitrate, float64(media.VideoBitrate)/1e6)
		}
		plan.VideoBitrate = capTo(want, media.VideoBitrate)
	}
	return plan, nil
}

func autoVideoBitrate(shortEdge int) int64 {
	switch {
	case shortEdge <= 720:
		return 5_000_000
	case shortEdge <= 1080:
		return 10_000_000
	}
	return 20_000_000
}

// capTo caps v to a known source value (0 = unknown: no cap).
func capTo(v, source int64) int64 {
	if source > 0 && v > source {
		return source
	}
	return v
}

// clipSegments keeps what of segments lies before end, and its duration.
func clipSegments(segments []Segment, end time.Duration) ([]Segment, time.Duration) {
	var out []Segment
	var total time.Duration
	for _, s := range segments {
		if s.Start >= end {
			break
		}
		s.End = min(s.End, end)
		out = append(out, s)
		total += s.End - s.Start
	}
	return out, total
}

// even rounds a dimension down to an even number (yuv420p needs even sizes).
func even(n int) int { return n &^ 1 }

// String is the output as the API shows it, for messages.
func (o OutputSpec) String() string {
	return fmt.Sprintf("%s/%s/%d/%d", o.Format, o.Resolution, o.VideoBitrate, o.AudioBitrate)
}

// RenderSignature is the content signature a render is idempotent on:
// (account, asset, cut or none, the requested output). The output is taken
// as requested, normalised only by its struct (absent and null are the same,
// field order is irrelevant); an omitted value and an explicit one equal to
// Auto differ. Validate the output first.
func RenderSignature(accountID, assetID, cutID string, o OutputSpec) string {
	h := sha256.New()
	for _, part := range []string{"render-signature/v1", accountID, assetID, cutID, string(o.Format), string(o.Resolution),
		strconv.Itoa(o.VideoBitrate), strconv.Itoa(o.AudioBitrate)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
