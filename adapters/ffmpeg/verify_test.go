package ffmpeg

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

func TestVerify_outputs_against_the_plan(t *testing.T) {
	t.Parallel()
	video := mediatest.LowBitrate(t) // 1280×720 h264 + aac stereo 48 kHz, 2.000 s, 30 fps
	noAudio := mediatest.VideoNoAudio(t)
	m4a := mediatest.AudioM4A(t)
	// An MP3 at 8 kHz carries 1105 samples of encoder delay plus padding to
	// a 576-sample frame: ffprobe says 2.160 s for 2 s of tone.
	mp3 := mediatest.Generate(t, "tone_8k.mp3", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=2",
		"-c:a", "libmp3lame", "-b:a", "32k")
	// Video 2 s, audio 1 s.
	shortAudio := mediatest.Generate(t, "short_audio.mp4",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac")

	hd := encoders.Expect{Container: "mp4", VideoCodec: "h264", AudioCodec: "aac", Width: 1280, Height: 720,
		Duration: 2 * time.Second, FrameRate: "30/1"}
	with := func(change func(*encoders.Expect)) encoders.Expect { e := hd; change(&e); return e }
	tests := []struct {
		rule string
		path string
		want encoders.Expect
		fail string // "" when the output passes, else the check the message names
	}{
		{"matching_mp4_passes", video, hd, ""},
		{"mov_container_matches_the_mov_mp4_family", video, with(func(e *encoders.Expect) { e.Container = "mov" }), ""},
		{"m4a_passes_as_mp4_with_aac_only", m4a, encoders.Expect{Container: "mp4", AudioCodec: "aac", Duration: 2 * time.Second}, ""},
		{"mp3_encoder_delay_and_padding_are_tolerated", mp3, encoders.Expect{Container: "mp3", AudioCodec: "mp3", Duration: 2 * time.Second}, ""},
		{"one_frame_of_a_slow_source_is_tolerated", video,
			with(func(e *encoders.Expect) { e.Duration, e.FrameRate = 2150*time.Millisecond, "5/1" }), ""},
		{"wrong_container_fails", video, with(func(e *encoders.Expect) { e.Container = "mp3" }), `container: got "mov,mp4,m4a,3gp,3g2,mj2", want "mp3"`},
		{"wrong_size_fails", video, with(func(e *encoders.Expect) { e.Width, e.Height = 1920, 1080 }), "size: got 1280×720, want 1920×1080"},
		{"wrong_video_codec_fails", video, with(func(e *encoders.Expect) { e.VideoCodec = "hevc" }), "video codec: got h264, want hevc"},
		{"missing_audio_fails", noAudio, with(func(e *encoders.Expect) {}), "audio: no audio stream, want aac"},
		{"unexpected_audio_fails", video, with(func(e *encoders.Expect) { e.AudioCodec = "" }), "audio: unexpected aac stream, want none"},
		{"unexpected_video_fails", video, encoders.Expect{Container: "mp4", AudioCodec: "aac", Duration: 2 * time.Second}, "video: unexpected h264 stream, want none"},
		// The fixtures are written without +faststart.
		{"moov_after_mdat_fails_when_faststart_is_wanted", video, with(func(e *encoders.Expect) { e.Faststart = true }),
			"faststart: the moov box follows the media data"},
		{"wrong_duration_fails", video, with(func(e *encoders.Expect) { e.Duration = 2100 * time.Millisecond }), "duration: got 2s, want 2.1s ±50ms"},
		{"mp3_longer_than_its_priming_fails", mp3, encoders.Expect{Container: "mp3", AudioCodec: "mp3", Duration: 1800 * time.Millisecond}, "duration: got 2.16s, want 1.8s −50ms/+260.125ms"},
		{"audio_out_of_step_with_video_fails", shortAudio,
			with(func(e *encoders.Expect) { e.Width, e.Height = 320, 240 }), "sync: video lasts 2s, audio 1s, 1s apart (at most 71.333333ms)"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			info, err := NewEncoder("", 0, EncodeLimits{}, nil).Verify(context.Background(), tt.path, tt.want)
			assertVerdict(t, info, err, tt.fail)
		})
	}
}

// assertVerdict checks what Verify returned: a pass with what it read when
// fail is "", else an output_invalid saying fail and no MediaInfo.
func assertVerdict(t *testing.T, info domain.MediaInfo, err error, fail string) {
	t.Helper()
	if fail == "" {
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if info.Duration <= 0 || info.Container == "" {
			t.Errorf("Verify returned %+v, want what it read", info)
		}
		return
	}
	ee := assertEncodeCode(t, err, domain.FailureOutputInvalid)
	if !strings.Contains(ee.Message, fail) {
		t.Errorf("message %q, want it to say %q", ee.Message, fail)
	}
	if info != (domain.MediaInfo{}) {
		t.Errorf("a failed Verify returned %+v", info)
	}
}

func TestVerify_unreadable_or_missing_output_is_output_invalid(t *testing.T) {
	t.Parallel()
	verifier := NewEncoder("", 0, EncodeLimits{}, nil)
	want := encoders.Expect{Container: "mp4", AudioCodec: "aac", Duration: 2 * time.Second}
	tests := []struct {
		rule string
		path string
	}{
		{"corrupt_output", mediatest.Corrupt(t)},
		{"empty_output", mediatest.Empty(t)},
		{"no_output_file", filepath.Join(t.TempDir(), "never-written.mp4")},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			_, err := verifier.Verify(context.Background(), tt.path, want)
			ee := assertEncodeCode(t, err, domain.FailureOutputInvalid)
			if strings.Contains(ee.Message, filepath.Dir(tt.path)) {
				t.Errorf("message %q names a server path", ee.Message)
			}
		})
	}
}

func TestVerify_cancellation_is_the_workers_error(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewEncoder("", 0, EncodeLimits{}, nil).Verify(ctx, mediatest.Corrupt(t), encoders.Expect{Container: "mp4"})
	var ee *EncodeError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ee) {
		t.Fatalf("got %v, want a plain context.Canceled", err)
	}
}
