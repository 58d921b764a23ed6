package encoders_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// The commands BuildCommand makes, run by the real ffmpeg on the mediatest
// fixtures: the output must be the plan. Cases run one after another; two
// encodes at once on 2 cores gain almost nothing (docs/renders.md).
func TestBuildCommand_ffmpeg_output_is_the_plan(t *testing.T) {
	mediatest.FFmpeg(t) // skips without ffmpeg
	mediatest.FFprobe(t)

	// Each fixture is generated once (mediatest caches nothing) and only
	// read by the cases.
	files := map[string]string{
		"landscape": mediatest.Landscape1080p(t),
		"vertical":  mediatest.Vertical1080x1920(t),
		"rotated":   mediatest.Rotated90(t),
		"uhd":       mediatest.UHD4K(t),
		"low":       mediatest.LowBitrate(t),
		"m4a":       mediatest.AudioM4A(t),
		"mp3":       mediatest.AudioMP3(t),
		"silent":    mediatest.VideoNoAudio(t),
	}
	threeCuts := segments(0.2, 0.6, 0.9, 1.3, 1.5, 1.9)

	cases := []struct {
		name     string
		file     string
		format   domain.Format
		res      domain.Resolution
		segments []domain.Segment
		threads  int
		fast     bool // the plan equals the source
	}{
		// The plan of Landscape1080p with nothing asked is the source: Auto
		// video (10 Mbps) is capped to its ~6.6 Mbps, Auto audio (192 kbps)
		// to its ~128 kbps, and the size is its own.
		{name: "mp4_of_landscape_as_is_remuxes", file: "landscape", format: domain.FormatMP4, fast: true},
		{name: "mp4_of_vertical_at_720p", file: "vertical", format: domain.FormatMP4, res: domain.Resolution720p},
		{name: "mp4_of_rotated_at_720p_is_upright_720x1280", file: "rotated", format: domain.FormatMP4, res: domain.Resolution720p},
		{name: "mp4_of_uhd_at_720p", file: "uhd", format: domain.FormatMP4, res: domain.Resolution720p},
		{name: "mp4_of_low_bitrate_auto_capped_remuxes", file: "low", format: domain.FormatMP4, fast: true},
		// VideoNoAudio is 1280×720 at ~2 Mbps: every plan PlanOutput allows
		// for it is the source, so only a cut re-encodes it.
		{name: "mp4_of_video_without_audio_cut_in_three", file: "silent", format: domain.FormatMP4, res: domain.Resolution720p, segments: threeCuts},
		{name: "mp4_of_landscape_cut_in_three_at_720p", file: "landscape", format: domain.FormatMP4, res: domain.Resolution720p, segments: threeCuts},
		{name: "mp4_of_vertical_at_720p_on_one_encoder_thread", file: "vertical", format: domain.FormatMP4, res: domain.Resolution720p, threads: 1},

		{name: "mov_of_landscape_at_720p", file: "landscape", format: domain.FormatMOV, res: domain.Resolution720p},
		{name: "mov_of_vertical_as_is_remuxes", file: "vertical", format: domain.FormatMOV, fast: true},
		{name: "mov_of_rotated_as_is_remuxes_with_its_rotation", file: "rotated", format: domain.FormatMOV, fast: true},
		// Auto for a 2160p output is 20 Mbps, below the source's 21–27.
		{name: "mov_of_uhd_as_is_reencodes_at_20_mbps", file: "uhd", format: domain.FormatMOV},
		{name: "mov_of_low_bitrate_at_720p_remuxes", file: "low", format: domain.FormatMOV, res: domain.Resolution720p, fast: true},
		{name: "mov_of_video_without_audio_as_is_remuxes", file: "silent", format: domain.FormatMOV, fast: true},
		{name: "mov_of_landscape_cut_in_three", file: "landscape", format: domain.FormatMOV, segments: threeCuts},
		{name: "mov_of_rotated_cut_in_three_is_one_encode", file: "rotated", format: domain.FormatMOV, segments: threeCuts},

		// Every AAC fixture is stereo 48 kHz at ~128 kbps: Auto audio is the
		// source's, so an m4a of it is a remux.
		{name: "m4a_of_landscape_remuxes", file: "landscape", format: domain.FormatM4A, fast: true},
		{name: "m4a_of_vertical_remuxes", file: "vertical", format: domain.FormatM4A, fast: true},
		{name: "m4a_of_rotated_remuxes", file: "rotated", format: domain.FormatM4A, fast: true},
		{name: "m4a_of_uhd_remuxes", file: "uhd", format: domain.FormatM4A, fast: true},
		{name: "m4a_of_low_bitrate_remuxes", file: "low", format: domain.FormatM4A, fast: true},
		{name: "m4a_of_m4a_remuxes", file: "m4a", format: domain.FormatM4A, fast: true},
		{name: "m4a_of_mp3_encodes_aac", file: "mp3", format: domain.FormatM4A},
		{name: "m4a_of_landscape_cut_in_three", file: "landscape", format: domain.FormatM4A, segments: threeCuts},

		{name: "mp3_of_landscape", file: "landscape", format: domain.FormatMP3},
		{name: "mp3_of_vertical", file: "vertical", format: domain.FormatMP3},
		{name: "mp3_of_rotated", file: "rotated", format: domain.FormatMP3},
		{name: "mp3_of_uhd", file: "uhd", format: domain.FormatMP3},
		{name: "mp3_of_low_bitrate", file: "low", format: domain.FormatMP3},
		{name: "mp3_of_m4a", file: "m4a", format: domain.FormatMP3},
		{name: "mp3_of_mp3_remuxes", file: "mp3", format: domain.FormatMP3, fast: true},
		{name: "mp3_of_landscape_cut_in_three", file: "landscape", format: domain.FormatMP3, segments: threeCuts},
	}
	prober := ffmpeg.NewProber("", 30*time.Second, ffmpeg.Limits{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			src := files[c.file]
			media, err := prober.Probe(ctx, src)
			if err != nil {
				t.Fatalf("probe source: %v", err)
			}
			var cutDuration time.Duration
			for _, s := range c.segments {
				cutDuration += s.End - s.Start
			}
			p, err := domain.PlanOutput(domain.OutputSpec{Format: c.format, Resolution: c.res}, media, c.segments, cutDuration)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			input, err := prober.InputArgs(src, media.Container)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "render.part") // no extension: the muxer comes from -f
			script := filepath.Join(t.TempDir(), "filter")
			cmd, err := encoders.BuildCommand(encoders.Job{Format: c.format, Plan: p, Source: media, Input: input, Output: out,
				FilterScript: script, Threads: c.threads})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(script, []byte(cmd.FilterGraph), 0o600); err != nil {
				t.Fatal(err)
			}
			if cmd.FastPath != c.fast {
				t.Errorf("FastPath = %v, want %v (plan %+v, source %+v)", cmd.FastPath, c.fast, p, media)
			}
			if copies := containsRun(cmd.Args, []string{"-c", "copy"}) || containsRun(cmd.Args, []string{"-c:a", "copy"}); copies != c.fast {
				t.Errorf("stream copy = %v, want %v: %q", copies, c.fast, cmd.Args)
			}
			progress := runFFmpeg(t, cmd)
			if !strings.Contains(progress, "progress=end") {
				t.Errorf("no final progress report on stdout:\n%s", progress)
			}

			got, err := prober.Probe(ctx, out)
			if err != nil {
				t.Fatalf("probe output: %v", err)
			}
			details := probeDetails(t, out)
			checkOutput(t, c.format, p, media, got, details, cmd.FastPath)
			if len(c.segments) > 0 && c.format.IsVideo() {
				video, _ := details.stream("video")
				if want := framesKept(t, c.segments, media.FrameRate); video.NbFrames != strconv.Itoa(want) {
					t.Errorf("%s frames, want %d: the cut is not frame-accurate", video.NbFrames, want)
				}
			}
		})
	}
}

func runFFmpeg(t *testing.T, cmd encoders.Command) string {
	t.Helper()
	run := exec.CommandContext(t.Context(), "ffmpeg", cmd.Args...)
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("ffmpeg %q: %v\n%s", cmd.Args, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffmpeg wrote to stderr at -v error:\n%s", stderr.String())
	}
	return stdout.String()
}

// details is what MediaInfo does not hold: the brand that tells mp4, mov
// and m4a apart, and per-stream profile, pixel format, duration and frames.
type details struct {
	Format struct {
		Tags map[string]string `json:"tags"`
	} `json:"format"`
	Streams []streamDetails `json:"streams"`
}

type streamDetails struct {
	CodecType string `json:"codec_type"`
	Profile   string `json:"profile"`
	PixFmt    string `json:"pix_fmt"`
	Duration  string `json:"duration"`
	NbFrames  string `json:"nb_frames"`
}

func (d details) stream(kind string) (streamDetails, bool) {
	for _, s := range d.Streams {
		if s.CodecType == kind {
			return s, true
		}
	}
	return streamDetails{}, false
}

func (s streamDetails) duration() time.Duration {
	f, _ := strconv.ParseFloat(s.Duration, 64)
	return time.Duration(f * float64(time.Second))
}

func probeDetails(t *testing.T, path string) details {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), mediatest.FFprobe(t), "-v", "error", "-print_format", "json",
		"-show_entries", "format_tags=major_brand:stream=codec_type,profile,pix_fmt,duration,nb_frames", "file:"+path).Output()
	if err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	var d details
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func checkOutput(t *testing.T, f domain.Format, p domain.RenderPlan, src, got domain.MediaInfo, d details, fast bool) {
	t.Helper()
	brands := map[domain.Format]string{domain.FormatMP4: "isom", domain.FormatMOV: "qt  ", domain.FormatM4A: "M4A "}
	switch f {
	case domain.FormatMP3:
		if got.Container != "mp3" {
			t.Errorf("container %q, want mp3", got.Container)
		}
	default:
		if brand := d.Format.Tags["major_brand"]; got.Container != "mov,mp4,m4a,3gp,3g2,mj2" || brand != brands[f] {
			t.Errorf("container %q brand %q, want the mov family with brand %q", got.Container, brand, brands[f])
		}
	}

	frame := time.Duration(0)
	if f.IsVideo() {
		if !got.HasVideo || got.VideoCodec != "h264" {
			t.Errorf("video %v %q, want h264", got.HasVideo, got.VideoCodec)
		}
		if got.Width != p.Width || got.Height != p.Height {
			t.Errorf("displayed %d×%d, want the plan's %d×%d", got.Width, got.Height, p.Width, p.Height)
		}
		if got.FrameRate != src.FrameRate {
			t.Errorf("frame rate %s, want the source's %s", got.FrameRate, src.FrameRate)
		}
		wantRotation := 0 // an encode is upright
		if fast {
			wantRotation = src.Rotation // a remux keeps the display matrix
		}
		if got.Rotation != wantRotation {
			t.Errorf("rotation %d, want %d", got.Rotation, wantRotation)
		}
		if v, _ := d.stream("video"); !fast && (v.Profile != "High" || v.PixFmt != "yuv420p") {
			t.Errorf("video %s %s, want High yuv420p", v.Profile, v.PixFmt)
		}
		frame = frameDuration(t, src.FrameRate)
	} else if got.HasVideo {
		t.Errorf("an audio format has video (%s)", got.VideoCodec)
	}

	wantAudio := map[domain.Format]string{domain.FormatMP4: "aac", domain.FormatMOV: "aac", domain.FormatM4A: "aac", domain.FormatMP3: "mp3"}[f]
	if !src.HasAudio {
		wantAudio = ""
	}
	if got.AudioCodec != wantAudio {
		t.Errorf("audio %q, want %q", got.AudioCodec, wantAudio)
	}
	if src.HasAudio && (got.AudioChannels > 2 || got.AudioSampleRate > 48000) {
		t.Errorf("audio %d ch %d Hz, want stereo at most, 48 kHz at most", got.AudioChannels, got.AudioSampleRate)
	}

	// One frame of the source, or 50 ms for encoder priming and padding,
	// whichever is larger.
	tolerance := max(frame, 50*time.Millisecond)
	if diff := (got.Duration - p.Duration).Abs(); diff > tolerance {
		t.Errorf("duration %v, want the plan's %v within %v", got.Duration, p.Duration, tolerance)
	}
	v, hasV := d.stream("video")
	a, hasA := d.stream("audio")
	t.Logf("duration %v (plan %v), video %v, audio %v", got.Duration, p.Duration, v.duration(), a.duration())
	if hasV && hasA {
		vDur, aDur := v.duration(), a.duration()
		// AAC codes 1024 samples per frame.
		audioFrame := time.Duration(1024 * float64(time.Second) / float64(max(got.AudioSampleRate, 1)))
		if diff := (vDur - aDur).Abs(); diff > 50*time.Millisecond+audioFrame {
			t.Errorf("video %v and audio %v differ by %v: out of sync", vDur, aDur, diff)
		}
	}
	if fast && f.IsVideo() {
		// A remux carries the source's bitstream.
		if r := float64(got.VideoBitrate) / float64(src.VideoBitrate); r < 0.98 || r > 1.02 {
			t.Errorf("remuxed video at %d b/s, the source has %d", got.VideoBitrate, src.VideoBitrate)
		}
	}
}

func frameDuration(t *testing.T, rate string) time.Duration {
	t.Helper()
	num, den := parseRate(t, rate)
	return time.Duration(den * int64(time.Second) / num)
}

// framesKept counts the source frames (at a constant rate, from 0) whose
// time lies in a kept segment [start, end).
func framesKept(t *testing.T, segs []domain.Segment, rate string) int {
	t.Helper()
	num, den := parseRate(t, rate)
	n := 0
	for k := int64(0); ; k++ {
		at := time.Duration(k * den * int64(time.Second) / num)
		if at >= segs[len(segs)-1].End {
			return n
		}
		if slices.ContainsFunc(segs, func(s domain.Segment) bool { return at >= s.Start && at < s.End }) {
			n++
		}
	}
}

func parseRate(t *testing.T, rate string) (num, den int64) {
	t.Helper()
	a, b, _ := strings.Cut(rate, "/")
	num, errA := strconv.ParseInt(a, 10, 64)
	den, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil || num <= 0 || den <= 0 {
		t.Fatalf("frame rate %q", rate)
	}
	return num, den
}
