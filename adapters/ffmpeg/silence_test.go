package ffmpeg_test

import (
	"context"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/domain"
)

func newDetector(t *testing.T) *ffmpeg.SilenceDetector {
	return ffmpeg.NewSilenceDetector(mediatest.FFmpeg(t), newProber(t), 20*time.Second)
}

// mediatest.WithSilences: tone 0–0.8 s, silence 0.8–1.1 s, tone 1.1–1.5 s,
// silence 1.5–2.5 s, tone 2.5–3.0 s.
func TestDetectSilences_keeps_the_tone_around_long_enough_silences(t *testing.T) {
	path := mediatest.WithSilences(t)
	tests := []struct {
		rule       string
		minSilence time.Duration
		want       []domain.Segment
	}{
		{"a_silence_shorter_than_the_minimum_is_kept", 500 * time.Millisecond,
			[]domain.Segment{{Start: 0, End: 1500 * time.Millisecond}, {Start: 2500 * time.Millisecond, End: 3 * time.Second}}},
		{"every_silence_of_the_minimum_is_removed", 200 * time.Millisecond,
			[]domain.Segment{{Start: 0, End: 800 * time.Millisecond}, {Start: 1100 * time.Millisecond, End: 1500 * time.Millisecond},
				{Start: 2500 * time.Millisecond, End: 3 * time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			kept, duration, err := newDetector(t).DetectSilences(context.Background(), path,
				domain.SilenceRemoval{MinSilence: tt.minSilence, ThresholdDB: -35})
			if err != nil {
				t.Fatalf("DetectSilences: %v", err)
			}
			if duration != 3*time.Second {
				t.Errorf("duration = %v, want 3s", duration)
			}
			if len(kept) != len(tt.want) {
				t.Fatalf("kept %v, want %v", kept, tt.want)
			}
			const tolerance = 50 * time.Millisecond
			for i, w := range tt.want {
				if d := (kept[i].Start - w.Start).Abs(); d > tolerance {
					t.Errorf("segment %d starts at %v, want %v ±%v", i, kept[i].Start, w.Start, tolerance)
				}
				if d := (kept[i].End - w.End).Abs(); d > tolerance {
					t.Errorf("segment %d ends at %v, want %v ±%v", i, kept[i].End, w.End, tolerance)
				}
			}
		})
	}
}

func TestDetectSilences_files_that_cannot_be_planned(t *testing.T) {
	tests := []struct {
		rule     string
		generate func(testing.TB) string
		code     string
	}{
		{"video_without_audio_is_no_audio", mediatest.VideoNoAudio, domain.FailureNoAudio},
		{"playlist_is_container_not_allowed", mediatest.Playlist, domain.FailureContainerNotAllowed},
		{"corrupt_file_is_source_unreadable", mediatest.Corrupt, domain.FailureSourceUnreadable},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			_, _, err := newDetector(t).DetectSilences(context.Background(), tt.generate(t),
				domain.SilenceRemoval{MinSilence: 800 * time.Millisecond, ThresholdDB: -35})
			assertCode(t, err, tt.code)
		})
	}
}

// DetectSilences reopens the file with the demuxer Probe found pinned by
// -f (InputArgs); every container on the allowlist must survive that.
func TestDetectSilences_every_allowed_container_opens_with_its_demuxer_pinned(t *testing.T) {
	tests := []struct {
		file      string
		codec     []string
		container string
	}{
		{"tone.mkv", []string{"-c:a", "aac"}, "matroska,webm"},
		{"tone.webm", []string{"-c:a", "libopus"}, "matroska,webm"},
		{"tone.ts", []string{"-c:a", "aac"}, "mpegts"},
		{"tone.aac", []string{"-c:a", "aac"}, "aac"},
		{"tone.wav", nil, "wav"},
		{"tone.flac", nil, "flac"},
		{"tone.ogg", []string{"-c:a", "libvorbis"}, "ogg"},
		{"tone.avi", []string{"-c:a", "libmp3lame"}, "avi"},
		{"tone.mp3", nil, "mp3"},
		{"tone.m4a", nil, mp4},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1", "-ac", "2"}, tt.codec...)
			path := mediatest.Generate(t, tt.file, args...)
			info, err := newProber(t).Probe(context.Background(), path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if info.Container != tt.container || !info.HasAudio || info.AudioBitrate <= 0 {
				t.Errorf("Probe = %+v, want container %q with audio and a bitrate", info, tt.container)
			}
			kept, duration, err := newDetector(t).DetectSilences(context.Background(), path,
				domain.SilenceRemoval{MinSilence: 300 * time.Millisecond, ThresholdDB: -35})
			if err != nil {
				t.Fatalf("DetectSilences: %v", err)
			}
			if len(kept) != 1 || kept[0].Start != 0 || kept[0].End != duration {
				t.Errorf("kept %v of %v, want the whole tone", kept, duration)
			}
		})
	}
}
