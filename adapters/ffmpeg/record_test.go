package ffmpeg_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
)

// TestRecordProbeSamples rewrites testdata/*.json, the recorded ffprobe
// output that the parser's table tests read, from freshly generated files.
// It runs only with RENDERD_RECORD_FFPROBE=1 (after an ffmpeg upgrade, say);
// the expectations in probe_parse_test.go must then be re-checked by hand.
func TestRecordProbeSamples(t *testing.T) {
	if os.Getenv("RENDERD_RECORD_FFPROBE") != "1" {
		t.Skip("set RENDERD_RECORD_FFPROBE=1 to re-record testdata/*.json")
	}
	small := []string{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=2",
		"-f", "lavfi", "-i", "sine=sample_rate=48000:duration=2", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast"}
	remux := func(t *testing.T, name, rotate string) string {
		src := mediatest.Generate(t, "src.mp4", small...)
		return mediatest.Generate(t, name, "-i", src, "-c", "copy", "-metadata:s:v:0", "rotate="+rotate)
	}
	srt := filepath.Join(t.TempDir(), "subtitles.srt")
	if err := os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:01,000\nhello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	samples := map[string]func(t *testing.T) string{
		"landscape_1080p":    func(t *testing.T) string { return mediatest.Landscape1080p(t) },
		"vertical_1080x1920": func(t *testing.T) string { return mediatest.Vertical1080x1920(t) },
		"rotated_90":         func(t *testing.T) string { return mediatest.Rotated90(t) },
		"rotated_minus_90":   func(t *testing.T) string { return remux(t, "rotated_minus_90.mp4", "-90") },
		"rotated_180":        func(t *testing.T) string { return remux(t, "rotated_180.mp4", "180") },
		"uhd_4k":             func(t *testing.T) string { return mediatest.UHD4K(t) },
		"low_bitrate_720p":   func(t *testing.T) string { return mediatest.LowBitrate(t) },
		"audio_m4a":          func(t *testing.T) string { return mediatest.AudioM4A(t) },
		"audio_mp3":          func(t *testing.T) string { return mediatest.AudioMP3(t) },
		"audio_mp3_cover":    func(t *testing.T) string { return mediatest.AudioMP3WithCoverArt(t) },
		"video_no_audio":     func(t *testing.T) string { return mediatest.VideoNoAudio(t) },
		"ten_bit":            func(t *testing.T) string { return mediatest.TenBit(t) },
		"anamorphic":         func(t *testing.T) string { return mediatest.Anamorphic(t) },
		"matroska_h264_aac": func(t *testing.T) string {
			return mediatest.Generate(t, "h264_aac.mkv", append(small, "-c:a", "aac")...)
		},
		"webm_opus_audio_only": func(t *testing.T) string {
			return mediatest.Generate(t, "opus.webm", "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=2", "-ac", "2", "-c:a", "libopus", "-b:a", "64k")
		},
		"mpegts_h264_aac": func(t *testing.T) string {
			return mediatest.Generate(t, "h264_aac.ts", append(small, "-c:a", "aac")...)
		},
		"wav_pcm": func(t *testing.T) string {
			return mediatest.Generate(t, "pcm.wav", "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=2", "-ac", "2")
		},
		"subtitles_only_mkv": func(t *testing.T) string { return mediatest.Generate(t, "subtitles.mkv", "-i", srt) },
		"hls_playlist":       func(t *testing.T) string { return mediatest.Playlist(t) },
		"ffconcat_list": func(t *testing.T) string {
			audio := mediatest.AudioM4A(t)
			list := filepath.Join(filepath.Dir(audio), "list.ffconcat")
			if err := os.WriteFile(list, []byte("ffconcat version 1.0\nfile audio.m4a\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return list
		},
	}
	ffprobe := mediatest.FFprobe(t)
	for name, generate := range samples {
		t.Run(name, func(t *testing.T) {
			path := generate(t)
			// Deliberately without the allowlist: the samples show what a
			// plain ffprobe sees, playlists included.
			cmd := exec.Command(ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ffprobe: %v: %s", err, stderr.String())
			}
			// The temp path means nothing in a sample.
			out = []byte(strings.ReplaceAll(string(out), filepath.Dir(path), "/blobs"))
			if err := os.WriteFile(filepath.Join("testdata", name+".json"), out, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}
