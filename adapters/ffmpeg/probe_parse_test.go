package ffmpeg

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

const mp4 = "mov,mp4,m4a,3gp,3g2,mj2"

// The samples in testdata/ are ffprobe 5.1's output for real files (see
// TestRecordProbeSamples); the expectations were checked against the rules,
// not copied from the parser.
func TestParseProbe_recorded_samples(t *testing.T) {
	tests := []struct {
		rule   string
		sample string
		want   domain.MediaInfo
	}{
		{
			rule: "landscape_h264_aac_mp4_reads_every_field", sample: "landscape_1080p",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 1673316,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 1920, Height: 1080, FrameRate: "30/1",
				PixelFormat: "yuv420p", VideoBitrate: 6551340, AudioCodec: "aac", AudioBitrate: 127974,
				AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "portrait_encode_without_rotation_stays_portrait", sample: "vertical_1080x1920",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 1656334,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 1080, Height: 1920, FrameRate: "30/1",
				PixelFormat: "yuv420p", VideoBitrate: 6483412, AudioCodec: "aac", AudioBitrate: 127974,
				AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "display_matrix_rotation_90_swaps_width_and_height", sample: "rotated_90",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 1677455,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 1080, Height: 1920, Rotation: 90,
				FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrate: 6567896, AudioCodec: "aac",
				AudioBitrate: 127974, AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "phone_style_rotation_minus_90_normalises_to_270_and_swaps", sample: "rotated_minus_90",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 509787,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 360, Height: 640, Rotation: 270,
				FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrate: 1897240, AudioCodec: "aac",
				AudioBitrate: 127974, AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "rotation_180_keeps_width_and_height", sample: "rotated_180",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 509787,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 640, Height: 360, Rotation: 180,
				FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrate: 1897240, AudioCodec: "aac",
				AudioBitrate: 127974, AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "uhd_reads_its_size_and_bitrate", sample: "uhd_4k",
			want: domain.MediaInfo{Container: mp4, Duration: time.Second, SizeBytes: 2994334,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 3840, Height: 2160, FrameRate: "30/1",
				PixelFormat: "yuv420p", VideoBitrate: 23805976, AudioCodec: "aac", AudioBitrate: 127621,
				AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "low_bitrate_source_reports_its_stream_bitrates", sample: "low_bitrate_720p",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 112104,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 1280, Height: 720, FrameRate: "30/1",
				PixelFormat: "yuv420p", VideoBitrate: 371808, AudioCodec: "aac", AudioBitrate: 63356,
				AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "m4a_is_audio_only", sample: "audio_m4a",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 33522,
				HasAudio: true, AudioCodec: "aac", AudioBitrate: 127974, AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "mp3_is_audio_only", sample: "audio_mp3",
			want: domain.MediaInfo{Container: "mp3", Duration: 2037551 * time.Microsecond, SizeBytes: 33062,
				HasAudio: true, AudioCodec: "mp3", AudioBitrate: 128000, AudioChannels: 2, AudioSampleRate: 44100},
		},
		{
			rule: "cover_art_does_not_make_an_mp3_a_video", sample: "audio_mp3_cover",
			want: domain.MediaInfo{Container: "mp3", Duration: 2037551 * time.Microsecond, SizeBytes: 44801,
				HasAudio: true, AudioCodec: "mp3", AudioBitrate: 128000, AudioChannels: 2, AudioSampleRate: 44100},
		},
		{
			rule: "video_without_audio_has_no_audio_fields", sample: "video_no_audio",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 550196,
				HasVideo: true, VideoCodec: "h264", Width: 1280, Height: 720, FrameRate: "30/1",
				PixelFormat: "yuv420p", VideoBitrate: 2196404},
		},
		{
			rule: "ten_bit_pixel_format_is_reported", sample: "ten_bit",
			want: domain.MediaInfo{Container: mp4, Duration: 2 * time.Second, SizeBytes: 587711,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 1280, Height: 720, FrameRate: "30/1",
				PixelFormat: "yuv420p10le", VideoBitrate: 2208904, AudioCodec: "aac", AudioBitrate: 127974,
				AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "anamorphic_1440x1080_at_sar_4_3_displays_as_1920x1080", sample: "anamorphic",
			want: domain.MediaInfo{Container: mp4, Duration: time.Second, SizeBytes: 298858,
				HasVideo: true, VideoCodec: "h264", Width: 1920, Height: 1080, FrameRate: "30/1",
				PixelFormat: "yuv420p", VideoBitrate: 2383080},
		},
		{
			// No stream bit_rate or duration in an ffmpeg-written mkv:
			// duration from the container, video estimated as the whole
			// (508499 B · 8 / 2.021 s), audio unknown.
			rule: "matroska_without_stream_bitrates_estimates_video_from_size", sample: "matroska_h264_aac",
			want: domain.MediaInfo{Container: "matroska,webm", Duration: 2021 * time.Millisecond, SizeBytes: 508499,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 640, Height: 360, FrameRate: "30/1",
				PixelFormat: "yuv420p", VideoBitrate: 2012861, AudioCodec: "aac", AudioChannels: 2,
				AudioSampleRate: 48000},
		},
		{
			// 535612 B · 8 / 2.021333 s = 2119837 b/s, minus 130262 of audio.
			rule: "mpegts_estimates_video_as_total_minus_known_audio", sample: "mpegts_h264_aac",
			want: domain.MediaInfo{Container: "mpegts", Duration: 2021333 * time.Microsecond, SizeBytes: 535612,
				HasVideo: true, HasAudio: true, VideoCodec: "h264", Width: 640, Height: 360, FrameRate: "30/1",
				PixelFormat: "yuv420p", VideoBitrate: 1989575, AudioCodec: "aac", AudioBitrate: 130262,
				AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			// 20083 B · 8 / 2.008 s.
			rule: "audio_only_webm_estimates_audio_as_the_total", sample: "webm_opus_audio_only",
			want: domain.MediaInfo{Container: "matroska,webm", Duration: 2008 * time.Millisecond, SizeBytes: 20083,
				HasAudio: true, AudioCodec: "opus", AudioBitrate: 80012, AudioChannels: 2, AudioSampleRate: 48000},
		},
		{
			rule: "wav_pcm_is_audio", sample: "wav_pcm",
			want: domain.MediaInfo{Container: "wav", Duration: 2 * time.Second, SizeBytes: 384078,
				HasAudio: true, AudioCodec: "pcm_s16le", AudioBitrate: 1536000, AudioChannels: 2, AudioSampleRate: 48000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got, err := parseProbe(readSample(t, tt.sample))
			if err != nil {
				t.Fatalf("parseProbe: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseProbe(%s)\n got  %+v\n want %+v", tt.sample, got, tt.want)
			}
		})
	}
}

func TestParseProbe_recorded_samples_that_are_not_sources(t *testing.T) {
	tests := []struct {
		rule   string
		sample string
		code   string
	}{
		{"hls_playlist_is_not_an_allowed_container", "hls_playlist", domain.FailureContainerNotAllowed},
		{"ffconcat_list_is_not_an_allowed_container", "ffconcat_list", domain.FailureContainerNotAllowed},
		{"subtitles_only_file_has_no_media_streams", "subtitles_only_mkv", domain.FailureNoMediaStreams},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			_, err := parseProbe(readSample(t, tt.sample))
			assertCode(t, err, tt.code)
		})
	}
}

// Cases no current ffmpeg writes, in the shape ffprobe prints them.
func TestParseProbe_edge_cases(t *testing.T) {
	tests := []struct {
		rule string
		json string
		want domain.MediaInfo
	}{
		{
			// ffprobe 4.x and some tools: only the clockwise "rotate" tag.
			rule: "legacy_rotate_tag_90_is_a_clockwise_turn_and_swaps",
			json: `{"streams":[{"codec_name":"h264","codec_type":"video","width":1920,"height":1080,
				"avg_frame_rate":"30/1","pix_fmt":"yuv420p","bit_rate":"8000000","tags":{"rotate":"90"}}],
				"format":{"format_name":"` + mp4 + `","duration":"3.5","size":"3500000"}}`,
			want: domain.MediaInfo{Container: mp4, Duration: 3500 * time.Millisecond, SizeBytes: 3500000,
				HasVideo: true, VideoCodec: "h264", Width: 1080, Height: 1920, Rotation: 270,
				FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrate: 8000000},
		},
		{
			rule: "display_matrix_wins_over_legacy_tag",
			json: `{"streams":[{"codec_name":"h264","codec_type":"video","width":1920,"height":1080,
				"avg_frame_rate":"30/1","bit_rate":"1","tags":{"rotate":"90"},
				"side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],
				"format":{"format_name":"` + mp4 + `","duration":"1"}}`,
			want: domain.MediaInfo{Container: mp4, Duration: time.Second, HasVideo: true, VideoCodec: "h264",
				Width: 1080, Height: 1920, Rotation: 270, FrameRate: "30/1", VideoBitrate: 1},
		},
		{
			// 720·16/15 = 768; the rotation then swaps the displayed edges.
			rule: "sample_aspect_ratio_applies_before_rotation",
			json: `{"streams":[{"codec_name":"mpeg2video","codec_type":"video","width":720,"height":576,
				"sample_aspect_ratio":"16:15","avg_frame_rate":"0/0","r_frame_rate":"25/1","bit_rate":"1",
				"side_data_list":[{"side_data_type":"Display Matrix","rotation":90}]}],
				"format":{"format_name":"mpegts","duration":"1"}}`,
			want: domain.MediaInfo{Container: "mpegts", Duration: time.Second, HasVideo: true,
				VideoCodec: "mpeg2video", Width: 576, Height: 768, Rotation: 90, FrameRate: "25/1", VideoBitrate: 1},
		},
		{
			// 720·10/11 = 654.5, to the even 654; "0:1" means unknown, square.
			rule: "stretched_width_rounds_to_even_and_unknown_sar_is_square",
			json: `{"streams":[{"codec_name":"h264","codec_type":"video","width":720,"height":480,
				"sample_aspect_ratio":"10:11","avg_frame_rate":"30000/1001","bit_rate":"1"},
				{"codec_name":"h264","codec_type":"video","width":99,"height":99,"sample_aspect_ratio":"0:1"}],
				"format":{"format_name":"` + mp4 + `","duration":"1"}}`,
			want: domain.MediaInfo{Container: mp4, Duration: time.Second, HasVideo: true, VideoCodec: "h264",
				Width: 654, Height: 480, FrameRate: "30000/1001", VideoBitrate: 1},
		},
		{
			rule: "missing_container_duration_falls_back_to_longest_stream",
			json: `{"streams":[{"codec_name":"aac","codec_type":"audio","channels":1,"sample_rate":"44100",
				"duration":"1.5","bit_rate":"64000"},
				{"codec_name":"opus","codec_type":"audio","tags":{"DURATION":"00:01:02.250000000"}}],
				"format":{"format_name":"matroska,webm","size":"10"}}`,
			want: domain.MediaInfo{Container: "matroska,webm", Duration: 62250 * time.Millisecond, SizeBytes: 10,
				HasAudio: true, AudioCodec: "aac", AudioBitrate: 64000, AudioChannels: 1, AudioSampleRate: 44100},
		},
		{
			rule: "mkvmerge_bps_tag_is_a_stated_bitrate",
			json: `{"streams":[{"codec_name":"hevc","codec_type":"video","width":3840,"height":2160,
				"avg_frame_rate":"24000/1001","pix_fmt":"yuv420p10le","tags":{"BPS":"41000000"}},
				{"codec_name":"eac3","codec_type":"audio","channels":6,"sample_rate":"48000","tags":{"BPS-eng":"640000"}}],
				"format":{"format_name":"matroska,webm","duration":"10","size":"52000000"}}`,
			want: domain.MediaInfo{Container: "matroska,webm", Duration: 10 * time.Second, SizeBytes: 52000000,
				HasVideo: true, HasAudio: true, VideoCodec: "hevc", Width: 3840, Height: 2160,
				FrameRate: "24000/1001", PixelFormat: "yuv420p10le", VideoBitrate: 41000000,
				AudioCodec: "eac3", AudioBitrate: 640000, AudioChannels: 6, AudioSampleRate: 48000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got, err := parseProbe([]byte(tt.json))
			if err != nil {
				t.Fatalf("parseProbe: %v", err)
			}
			if got != tt.want {
				t.Errorf("\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}

func TestParseProbe_rejections(t *testing.T) {
	tests := []struct {
		rule string
		json string
		code string
	}{
		{
			rule: "cover_art_alone_is_no_media",
			json: `{"streams":[{"codec_name":"mjpeg","codec_type":"video","width":300,"height":300,
				"disposition":{"attached_pic":1}}],"format":{"format_name":"mp3","duration":"1"}}`,
			code: domain.FailureNoMediaStreams,
		},
		{
			rule: "no_streams_at_all_is_no_media",
			json: `{"streams":[],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"1"}}`,
			code: domain.FailureNoMediaStreams,
		},
		{
			rule: "streams_with_unknown_codecs_are_unreadable",
			json: `{"streams":[{"codec_type":"video","width":0,"height":0},{"codec_type":"audio"}],
				"format":{"format_name":"avi","duration":"1"}}`,
			code: domain.FailureSourceUnreadable,
		},
		{
			rule: "media_without_duration_is_unreadable",
			json: `{"streams":[{"codec_name":"aac","codec_type":"audio","sample_rate":"48000","channels":2}],
				"format":{"format_name":"aac"}}`,
			code: domain.FailureSourceUnreadable,
		},
		{
			rule: "image_demuxer_is_not_an_allowed_container",
			json: `{"streams":[{"codec_name":"png","codec_type":"video","width":10,"height":10}],
				"format":{"format_name":"png_pipe","duration":"1"}}`,
			code: domain.FailureContainerNotAllowed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			_, err := parseProbe([]byte(tt.json))
			assertCode(t, err, tt.code)
		})
	}
}

func TestParseProbe_output_that_is_not_ffprobe_json_is_a_worker_error(t *testing.T) {
	_, err := parseProbe([]byte("Segmentation fault"))
	var pe *ProbeError
	if err == nil || errors.As(err, &pe) {
		t.Fatalf("got %v, want a plain error (the file is not at fault)", err)
	}
}

func TestStderrSummary_drops_paths_and_log_contexts(t *testing.T) {
	stderr := "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55da9ab9e280] moov atom not found\n" +
		"file:/var/lib/renderd/blobs/ab/cd: Invalid data found when processing input\n"
	got := stderrSummary(stderr, "/var/lib/renderd/blobs/ab/cd", nil)
	want := "moov atom not found; Invalid data found when processing input"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBlockedDemuxer_names_the_refused_demuxer(t *testing.T) {
	name, ok := blockedDemuxer("[hls @ 0x556b61ed2280] Format not on whitelist 'mov,matroska'\nfile:/x: Invalid argument\n")
	if !ok || name != "hls" {
		t.Errorf("got %q %v, want hls true", name, ok)
	}
}

func TestInputArgs_pin_the_probed_demuxer_allow_the_accepted_codecs_and_cap_the_picture_size(t *testing.T) {
	got, err := NewProber("", 0, Limits{}).InputArgs("/blobs/a b", mp4)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-protocol_whitelist", "file", "-format_whitelist", allowedDemuxers, "-codec_whitelist", allowedDecoders,
		"-max_pixels:V", "9437184", "-f", "mov", "-i", "file:/blobs/a b"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if got, _ := NewProber("", 0, Limits{MaxPixels: 1920 * 1080}).InputArgs("/x", mp4); !slices.Contains(got, "2073600") {
		t.Errorf("a configured cap: got %q, want -max_pixels:V 2073600", got)
	}
	_, err = NewProber("", 0, Limits{}).InputArgs("/blobs/x", "hls")
	assertCode(t, err, domain.FailureContainerNotAllowed)
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	var pe *ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v, want a *ProbeError with code %s", err, code)
	}
	if pe.Code != code {
		t.Fatalf("got code %s (%s), want %s", pe.Code, pe.Message, code)
	}
}
