package ffmpeg_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/domain"
)

const mp4 = "mov,mp4,m4a,3gp,3g2,mj2"

func newProber(t *testing.T) *ffmpeg.Prober {
	return ffmpeg.NewProber(mediatest.FFprobe(t), 20*time.Second, ffmpeg.Limits{})
}

type bitrateRange struct{ min, max int64 }

func (r bitrateRange) check(t *testing.T, what string, got int64) {
	t.Helper()
	if got < r.min || got > r.max {
		t.Errorf("%s = %d b/s, want %d–%d as documented", what, got, r.min, r.max)
	}
}

// Every mediatest file probes to what its doc comment promises: other tests
// across the repo assert against those properties.
func TestProbe_mediatest_files_have_their_documented_properties(t *testing.T) {
	video := func(w, h int) domain.MediaInfo {
		return domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, HasVideo: true, VideoCodec: "h264",
			Width: w, Height: h, FrameRate: "30/1", PixelFormat: "yuv420p"}
	}
	withAAC := func(m domain.MediaInfo) domain.MediaInfo {
		m.HasAudio, m.AudioCodec, m.AudioChannels, m.AudioSampleRate = true, "aac", 2, 48000
		return m
	}
	mp3 := domain.MediaInfo{Container: "mp3", Duration: 2037551 * time.Microsecond, HasAudio: true,
		AudioCodec: "mp3", AudioChannels: 2, AudioSampleRate: 44100}
	aac128 := bitrateRange{120_000, 136_000}
	none := bitrateRange{0, 0}

	tests := []struct {
		rule         string
		generate     func(testing.TB) string
		want         domain.MediaInfo // bitrates and size checked apart
		videoBitrate bitrateRange
		audioBitrate bitrateRange
	}{
		{"landscape_1080p_probes_as_1920x1080_h264_aac", mediatest.Landscape1080p,
			withAAC(video(1920, 1080)), bitrateRange{5_500_000, 7_500_000}, aac128},
		{"vertical_encode_probes_as_1080x1920", mediatest.Vertical1080x1920,
			withAAC(video(1080, 1920)), bitrateRange{5_500_000, 7_500_000}, aac128},
		{"rotated_phone_clip_probes_as_displayed", mediatest.Rotated90,
			func() domain.MediaInfo { m := withAAC(video(1080, 1920)); m.Rotation = 90; return m }(),
			bitrateRange{5_500_000, 7_500_000}, aac128},
		{"uhd_probes_as_3840x2160", mediatest.UHD4K,
			func() domain.MediaInfo { m := withAAC(video(3840, 2160)); m.Duration = time.Second; return m }(),
			bitrateRange{21_000_000, 27_000_000}, aac128},
		{"low_bitrate_source_sits_below_every_ladder_step", mediatest.LowBitrate,
			withAAC(video(1280, 720)), bitrateRange{250_000, 450_000}, bitrateRange{56_000, 72_000}},
		{"m4a_is_audio_only_aac", mediatest.AudioM4A,
			withAAC(domain.MediaInfo{Container: mp4, Duration: 2 * time.Second}), none, aac128},
		{"mp3_is_audio_only_cbr_128k", mediatest.AudioMP3, mp3, none, bitrateRange{128_000, 128_000}},
		{"cover_art_does_not_make_an_mp3_a_video", mediatest.AudioMP3WithCoverArt, mp3, none, bitrateRange{128_000, 128_000}},
		{"video_without_audio_has_no_audio", mediatest.VideoNoAudio,
			video(1280, 720), bitrateRange{1_500_000, 2_500_000}, none},
		{"ten_bit_source_reports_its_pixel_format", mediatest.TenBit,
			func() domain.MediaInfo { m := withAAC(video(1280, 720)); m.PixelFormat = "yuv420p10le"; return m }(),
			bitrateRange{1_500_000, 2_500_000}, aac128},
		{"anamorphic_source_probes_at_its_displayed_width", mediatest.Anamorphic,
			func() domain.MediaInfo { m := video(1920, 1080); m.Duration = time.Second; return m }(),
			bitrateRange{1_500_000, 3_000_000}, none},
		{"silences_file_is_three_seconds_of_aac", mediatest.WithSilences,
			withAAC(domain.MediaInfo{Container: mp4, Duration: 3 * time.Second}), none, bitrateRange{60_000, 100_000}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			path := tt.generate(t)
			got, err := newProber(t).Probe(context.Background(), path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.SizeBytes != st.Size() {
				t.Errorf("SizeBytes = %d, want the file's %d", got.SizeBytes, st.Size())
			}
			tt.videoBitrate.check(t, "VideoBitrate", got.VideoBitrate)
			tt.audioBitrate.check(t, "AudioBitrate", got.AudioBitrate)
			got.SizeBytes, got.VideoBitrate, got.AudioBitrate = 0, 0, 0
			if got != tt.want {
				t.Errorf("Probe\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}

func TestProbe_files_that_cannot_be_sources(t *testing.T) {
	tests := []struct {
		rule     string
		generate func(testing.TB) string
		code     string
	}{
		{"corrupt_file_is_source_unreadable", mediatest.Corrupt, domain.FailureSourceUnreadable},
		{"empty_file_is_source_unreadable", mediatest.Empty, domain.FailureSourceUnreadable},
		{"playlist_is_container_not_allowed", mediatest.Playlist, domain.FailureContainerNotAllowed},
		{"ffconcat_list_is_container_not_allowed", ffconcatList, domain.FailureContainerNotAllowed},
		{"png_image_is_container_not_allowed", pngImage, domain.FailureContainerNotAllowed},
		{"subtitles_only_file_has_no_media_streams", subtitlesOnly, domain.FailureNoMediaStreams},
		{"video_in_a_codec_outside_the_allowlist_is_codec_not_allowed", mediatest.SnowVideo, domain.FailureCodecNotAllowed},
		{"one_audio_stream_outside_the_allowlist_is_codec_not_allowed", wavpackBesideH264, domain.FailureCodecNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			path := tt.generate(t)
			_, err := newProber(t).Probe(context.Background(), path)
			pe := assertCode(t, err, tt.code)
			if strings.Contains(pe.Message, filepath.Dir(path)) {
				t.Errorf("message %q leaks the server path", pe.Message)
			}
			t.Logf("%s: %s", pe.Code, pe.Message)
		})
	}
}

// A stand-in ffprobe that never finishes shows the process is killed; a real
// ffprobe finishes too fast on any file to be caught mid-run.
func hangingTool(t *testing.T) (bin, pidFile string) {
	dir := t.TempDir()
	pidFile = filepath.Join(dir, "pid")
	bin = filepath.Join(dir, "ffprobe")
	script := "#!/bin/sh\necho $$ > " + pidFile + "\nexec sleep 60\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, pidFile
}

func assertKilled(t *testing.T, pidFile string) {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the tool never started: %v", err)
	}
	if _, err := os.Stat("/proc/" + strings.TrimSpace(string(data))); err == nil {
		t.Errorf("process %s still exists", strings.TrimSpace(string(data)))
	}
}

func TestProbe_cancelled_context_stops_ffprobe(t *testing.T) {
	bin, pidFile := hangingTool(t)
	source := mediatest.Empty(t)
	if err := os.WriteFile(source, []byte("not empty"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := ffmpeg.NewProber(bin, time.Minute, ffmpeg.Limits{}).Probe(ctx, source)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var pe *ffmpeg.ProbeError
	if errors.As(err, &pe) {
		t.Errorf("cancellation is not the file's fault, got %v", pe)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Probe returned after %v", elapsed)
	}
	assertKilled(t, pidFile)
}

func TestProbe_timeout_stops_ffprobe(t *testing.T) {
	bin, pidFile := hangingTool(t)
	source := mediatest.Empty(t)
	if err := os.WriteFile(source, []byte("not empty"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := ffmpeg.NewProber(bin, 300*time.Millisecond, ffmpeg.Limits{}).Probe(context.Background(), source)
	assertCode(t, err, domain.FailureMediaTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a timeout should match context.DeadlineExceeded: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Probe returned after %v", elapsed)
	}
	assertKilled(t, pidFile)
}

func TestProbe_missing_blob_is_a_worker_error(t *testing.T) {
	_, err := newProber(t).Probe(context.Background(), filepath.Join(t.TempDir(), "gone"))
	var pe *ffmpeg.ProbeError
	if err == nil || errors.As(err, &pe) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a plain os.ErrNotExist (retryable, not the upload's fault)", err)
	}
}

func ffconcatList(t testing.TB) string {
	audio := mediatest.AudioM4A(t)
	list := filepath.Join(filepath.Dir(audio), "list.ffconcat")
	if err := os.WriteFile(list, []byte("ffconcat version 1.0\nfile audio.m4a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return list
}

func pngImage(t testing.TB) string {
	return mediatest.Generate(t, "image.png", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1")
}

func subtitlesOnly(t testing.TB) string {
	srt := filepath.Join(t.TempDir(), "subtitles.srt")
	if err := os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:01,000\nhello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return mediatest.Generate(t, "subtitles.mkv", "-i", srt)
}

// wavpackBesideH264 has an allowed H.264 stream and a WavPack one.
func wavpackBesideH264(t testing.TB) string {
	return mediatest.Generate(t, "wavpack.mkv", "-f", "lavfi", "-i", "testsrc2=size=64x36:duration=1",
		"-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-c:a", "wavpack")
}

func assertCode(t *testing.T, err error, code string) *ffmpeg.ProbeError {
	t.Helper()
	var pe *ffmpeg.ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v, want a *ProbeError with code %s", err, code)
	}
	if pe.Code != code {
		t.Fatalf("got code %s (%s), want %s", pe.Code, pe.Message, code)
	}
	return pe
}

// A few KB can declare pictures of any size; decoding one 16K frame takes
// hundreds of MiB. The decoder's pixel cap refuses the picture before it is
// allocated, so the probe fails fast with source_too_large naming the size,
// well within a memory cap that leaves ffprobe little beyond its libraries
// (about 265 MiB of address space on Debian).
func TestProbe_a_file_declaring_huge_pictures_is_refused_before_any_frame_is_decoded(t *testing.T) {
	tests := []struct {
		rule          string
		width, height int
	}{
		{"8k_is_refused", 7680, 4320},
		{"16k_is_refused", 16384, 8640},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			path := mediatest.DeclaredSize(t, tt.width, tt.height)
			prober := ffmpeg.NewProber(mediatest.FFprobe(t), 20*time.Second, ffmpeg.Limits{Memory: 400 << 20})
			_, err := prober.Probe(context.Background(), path)
			pe := assertCode(t, err, domain.FailureSourceTooLarge)
			want := fmt.Sprintf("the video's pictures are %d×%d, more than the 9437184 pixels a source may have", tt.width, tt.height)
			if pe.Message != want {
				t.Errorf("message %q, want %q", pe.Message, want)
			}
		})
	}
}

// The cap is on video streams: a large cover picture in an MP3 is not the
// media and still probes (as audio only).
func TestProbe_a_large_cover_picture_is_not_capped(t *testing.T) {
	t.Parallel()
	path := mediatest.Generate(t, "big_cover.mp3", "-f", "lavfi", "-i", "sine=duration=1",
		"-f", "lavfi", "-i", "color=gray:size=4096x4096:duration=1", "-map", "0:a", "-map", "1:v", "-frames:v", "1",
		"-c:a", "libmp3lame", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-disposition:v:0", "attached_pic", "-id3v2_version", "3")
	got, err := newProber(t).Probe(context.Background(), path)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if !got.HasAudio || got.HasVideo {
		t.Errorf("got %+v, want audio only", got)
	}
}

// Under a cap too small for ffprobe to load its libraries, the probe fails
// with source_too_large and names the cap; silence detection, which probes
// first under the same Limits, too.
func TestProbe_and_silence_detection_over_the_memory_cap_are_source_too_large(t *testing.T) {
	t.Parallel()
	path := mediatest.WithSilences(t)
	prober := ffmpeg.NewProber(mediatest.FFprobe(t), 20*time.Second, ffmpeg.Limits{Memory: 128 << 20})
	_, err := prober.Probe(context.Background(), path)
	pe := assertCode(t, err, domain.FailureSourceTooLarge)
	if pe.Message != "probing the file needed more than the 128 MiB memory limit" {
		t.Errorf("message %q", pe.Message)
	}
	_, _, err = ffmpeg.NewSilenceDetector(mediatest.FFmpeg(t), prober, 20*time.Second).DetectSilences(context.Background(), path,
		domain.SilenceRemoval{MinSilence: 500 * time.Millisecond, ThresholdDB: -35})
	assertCode(t, err, domain.FailureSourceTooLarge)
}
