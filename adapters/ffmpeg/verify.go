package ffmpeg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// Tolerances of Verify: a duration within ±max(one frame, 50 ms), an MP3
// longer by up to libmp3lame's priming (lameDelaySamples and one frame),
// and audio and video within 50 ms plus one audio frame of each other. Why,
// with the measurements: docs/renders.md, "How an output is verified".
const (
	minDurationTolerance = 50 * time.Millisecond
	syncTolerance        = 50 * time.Millisecond
	lameDelaySamples     = 1105
)

// Verify reads the output at path and checks it against want: container,
// codecs (a video stream present iff want.VideoCodec != "", same for
// audio), displayed size, duration, audio/video sync and, when
// want.Faststart, the moov box before the media data, within the
// tolerances above. It reads the file's headers in Go (outputmedia.go: the
// MP4/MOV/M4A boxes, or the MP3 frame header with its Xing/LAME tag) and
// starts no process. On success it returns what ffprobe would have said of
// the output (outputMedia's fields). An output that fails a check, cannot
// be read as its container or does not exist is an *EncodeError with
// domain.FailureOutputInvalid naming every failed check with its numbers;
// any other error (cancellation, an I/O error) is the worker's trouble.
func (e *Encoder) Verify(ctx context.Context, path string, want encoders.Expect) (domain.MediaInfo, error) {
	if err := ctx.Err(); err != nil {
		return domain.MediaInfo{}, err
	}
	out, err := readOutput(path)
	if err != nil {
		return domain.MediaInfo{}, err
	}
	problems := outputProblems(out.info, out.videoDuration, out.audioDuration, want)
	if want.Faststart && out.moovAfterMdat {
		problems = append(problems, "faststart: the moov box follows the media data")
	}
	if len(problems) > 0 {
		return domain.MediaInfo{}, &EncodeError{Code: domain.FailureOutputInvalid,
			Message: "the output does not match the plan: " + strings.Join(problems, "; ")}
	}
	return out.info, nil
}

// outputProblems lists the checks info fails, one phrase each. videoDur and
// audioDur are the picked streams' durations, zero when unknown.
func outputProblems(info domain.MediaInfo, videoDur, audioDur time.Duration, want encoders.Expect) []string {
	var problems []string
	if want.Container != "" && !slices.Contains(strings.Split(info.Container, ","), want.Container) {
		problems = append(problems, fmt.Sprintf("container: got %q, want %q", info.Container, want.Container))
	}
	problems = append(problems, streamProblems("video", info.HasVideo, info.VideoCodec, want.VideoCodec)...)
	problems = append(problems, streamProblems("audio", info.HasAudio, info.AudioCodec, want.AudioCodec)...)
	if want.VideoCodec != "" && info.HasVideo && (info.Width != want.Width || info.Height != want.Height) {
		problems = append(problems, fmt.Sprintf("size: got %d×%d, want %d×%d", info.Width, info.Height, want.Width, want.Height))
	}

	tolerance := minDurationTolerance
	if want.VideoCodec != "" {
		tolerance = max(tolerance, frameDuration(want.FrameRate))
	}
	var priming time.Duration
	if info.AudioCodec == "mp3" {
		priming = lamePriming(info.AudioSampleRate)
	}
	if d := info.Duration - want.Duration; d < -tolerance || d > tolerance+priming {
		within := "±" + tolerance.String()
		if priming > 0 {
			within = "−" + tolerance.String() + "/+" + (tolerance + priming).String()
		}
		problems = append(problems, fmt.Sprintf("duration: got %v, want %v %s", info.Duration, want.Duration, within))
	}

	// A stream without a stated duration cannot be checked; ffmpeg's mov
	// muxer always states them.
	if videoDur > 0 && audioDur > 0 {
		limit := syncTolerance + audioFrame(info.AudioCodec, info.AudioSampleRate)
		if d := (videoDur - audioDur).Abs(); d > limit {
			problems = append(problems, fmt.Sprintf("sync: video lasts %v, audio %v, %v apart (at most %v)",
				videoDur, audioDur, d, limit))
		}
	}
	return problems
}

func streamProblems(kind string, has bool, got, want string) []string {
	switch {
	case want == "" && has:
		return []string{fmt.Sprintf("%s: unexpected %s stream, want none", kind, got)}
	case want != "" && !has:
		return []string{fmt.Sprintf("%s: no %s stream, want %s", kind, kind, want)}
	case want != "" && got != want:
		return []string{fmt.Sprintf("%s codec: got %s, want %s", kind, got, want)}
	}
	return nil
}

// frameDuration is one frame at rate ("30000/1001"), or 0 when unknown.
func frameDuration(rate string) time.Duration {
	num, den, ok := ratio(rate, "/")
	if !ok {
		return 0
	}
	return time.Duration(float64(den) / float64(num) * float64(time.Second))
}

// lamePriming is how much longer libmp3lame makes a stream at rate: its
// delay plus at most one frame of padding. An unknown rate gets the lowest
// MP3 rate's (the most lenient) figure.
func lamePriming(rate int) time.Duration {
	if rate <= 0 {
		rate = 8000
	}
	return samples(lameDelaySamples+mp3FrameSamples(rate), rate)
}

// audioFrame is one frame of the codec at rate (AAC's 1024 samples for
// codecs other than MP3, 48 kHz when the rate is unknown).
func audioFrame(codec string, rate int) time.Duration {
	if rate <= 0 {
		rate = 48000
	}
	if codec == "mp3" {
		return samples(mp3FrameSamples(rate), rate)
	}
	return samples(1024, rate)
}

// mp3FrameSamples: MPEG-1 Layer III (32–48 kHz) frames hold 1152 samples,
// MPEG-2 and 2.5 (8–24 kHz) 576.
func mp3FrameSamples(rate int) int {
	if rate >= 32000 {
		return 1152
	}
	return 576
}

func samples(n, rate int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(rate))
}
