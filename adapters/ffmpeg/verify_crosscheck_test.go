package ffmpeg

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// crossCheckTolerance is how far the Go reader's durations may be from
// ffprobe's: both print microseconds, so any difference is a rule the
// reader does not follow.
const crossCheckTolerance = time.Millisecond

// TestVerify_go_reader_matches_ffprobe_on_real_renders renders every output
// of the real-ffmpeg matrix (encoders/plan_ffmpeg_test.go: each format of
// each mediatest fixture, as is, at 720p and cut in three, through
// encoders.BuildCommand as the worker runs it) and a few encoder settings
// the matrix does not reach (MP3 at 8 and 22.05 kHz, without its Xing
// header, AAC at 44.1 kHz), and requires the Go reader to say what ffprobe
// says: the same container, codecs, displayed size, rotation, audio
// channels and rate, size and bitrates, durations within 1 ms, and the same
// verdict of Verify and of the former ffprobe check.
func TestVerify_go_reader_matches_ffprobe_on_real_renders(t *testing.T) {
	if testing.Short() {
		t.Skip("renders some forty files with ffmpeg")
	}
	ffmpegBin := mediatest.FFmpeg(t)
	prober := NewProber(mediatest.FFprobe(t), 30*time.Second, Limits{})
	encoder := NewEncoder(ffmpegBin, 0, EncodeLimits{}, prober)
	cut := []domain.Segment{{Start: 200 * time.Millisecond, End: 600 * time.Millisecond},
		{Start: 900 * time.Millisecond, End: 1300 * time.Millisecond}, {Start: 1500 * time.Millisecond, End: 1900 * time.Millisecond}}

	// Each fixture's renders as "format[@resolution][/cut]": those of
	// encoders/plan_ffmpeg_test.go, and the audio formats of every video.
	fixtures := []struct {
		name     string
		generate func(testing.TB) string
		renders  []string
	}{
		{"landscape", mediatest.Landscape1080p, []string{"mp4", "mp4@720p/cut", "mov@720p", "mov/cut", "m4a", "m4a/cut", "mp3", "mp3/cut"}},
		{"vertical", mediatest.Vertical1080x1920, []string{"mp4@720p", "mov", "m4a", "mp3"}},
		{"rotated", mediatest.Rotated90, []string{"mp4@720p", "mov", "mov/cut", "m4a", "mp3"}},
		{"uhd", mediatest.UHD4K, []string{"mp4@720p", "mov", "m4a", "mp3"}},
		{"low", mediatest.LowBitrate, []string{"mp4", "mov@720p", "m4a", "mp3"}},
		{"silent", mediatest.VideoNoAudio, []string{"mp4@720p/cut", "mov"}},
		{"m4a", mediatest.AudioM4A, []string{"m4a", "mp3"}},
		{"mp3", mediatest.AudioMP3, []string{"m4a", "mp3"}},
	}
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			src := fx.generate(t)
			media, err := prober.Probe(t.Context(), src)
			if err != nil {
				t.Fatalf("probe source: %v", err)
			}
			for _, r := range fx.renders {
				t.Run(strings.NewReplacer("@", "_at_", "/", "_").Replace(r), func(t *testing.T) {
					out, want := render(t, ffmpegBin, prober, src, media, r, cut)
					crossCheck(t, encoder, prober, out, want)
				})
			}
		})
	}

	// Encoder settings of renders the fixtures do not reach.
	others := []struct {
		name string
		args []string
		want encoders.Expect
	}{
		{"mp3_8khz_mono", []string{"-f", "lavfi", "-i", "sine=sample_rate=8000:duration=2", "-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3"},
			encoders.Expect{Container: "mp3", AudioCodec: "mp3", Duration: 2 * time.Second}},
		{"mp3_22khz_stereo_cut_length", []string{"-f", "lavfi", "-i", "sine=sample_rate=22050:duration=2.404567", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"},
			encoders.Expect{Container: "mp3", AudioCodec: "mp3", Duration: 2404567 * time.Microsecond}},
		{"mp3_without_xing_header", []string{"-f", "lavfi", "-i", "sine=sample_rate=44100:duration=3", "-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0", "-f", "mp3"},
			encoders.Expect{Container: "mp3", AudioCodec: "mp3", Duration: 3 * time.Second}},
		{"m4a_44khz_mono", []string{"-f", "lavfi", "-i", "sine=sample_rate=44100:duration=2.01", "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", "-f", "ipod"},
			encoders.Expect{Container: "mp4", AudioCodec: "aac", Duration: 2010 * time.Millisecond, Faststart: true}},
	}
	for _, o := range others {
		t.Run(o.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "render.part")
			runFFmpegTest(t, ffmpegBin, append([]string{"-hide_banner", "-nostdin", "-y", "-v", "error"}, append(o.args, "file:"+out)...))
			crossCheck(t, encoder, prober, out, o.want)
		})
	}
}

// render runs the worker's command for spec ("mp4@720p/cut") of src and
// returns the output and what the worker would expect of it.
func render(t testing.TB, ffmpegBin string, prober *Prober, src string, media domain.MediaInfo, spec string,
	cut []domain.Segment) (string, encoders.Expect) {
	t.Helper()
	spec, isCut := strings.CutSuffix(spec, "/cut")
	format, res, _ := strings.Cut(spec, "@")
	var segments []domain.Segment
	var cutDuration time.Duration
	if isCut {
		segments = cut
		for _, s := range cut {
			cutDuration += s.End - s.Start
		}
	}
	f := domain.Format(format)
	plan, err := domain.PlanOutput(domain.OutputSpec{Format: f, Resolution: domain.Resolution(res)}, media, segments, cutDuration)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	input, err := prober.InputArgs(src, media.Container)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, script := filepath.Join(dir, "render.part"), filepath.Join(dir, "filter")
	cmd, err := encoders.BuildCommand(encoders.Job{Format: f, Plan: plan, Source: media, Input: input, Output: out, FilterScript: script})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(cmd.FilterGraph), 0o600); err != nil {
		t.Fatal(err)
	}
	runFFmpegTest(t, ffmpegBin, cmd.Args)
	return out, encoders.ExpectFor(f, plan, media)
}

func runFFmpegTest(t testing.TB, bin string, args []string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %q: %v\n%s", args, err, stderr.String())
	}
}

// crossCheck compares the Go reader's view of out with ffprobe's, and the
// verdicts of both checks against want.
func crossCheck(t *testing.T, encoder *Encoder, prober *Prober, out string, want encoders.Expect) {
	t.Helper()
	ctx := context.Background()
	goRead, err := readOutput(out)
	if err != nil {
		t.Fatalf("Go reader: %v", err)
	}
	probed, err := ffprobeOutput(ctx, prober, out)
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	g, p := goRead.info, probed.info
	// What MediaInfo holds that the Go reader leaves out (outputMedia).
	p.FrameRate, p.PixelFormat = "", ""
	gd, pd := g, p
	gd.Duration, pd.Duration = 0, 0
	if gd != pd {
		t.Errorf("MediaInfo differs:\n Go      %+v\n ffprobe %+v", gd, pd)
	}
	for _, d := range []struct {
		what        string
		got, probed time.Duration
	}{
		{"duration", g.Duration, p.Duration},
		{"video stream duration", goRead.videoDuration, probed.videoDuration},
		{"audio stream duration", goRead.audioDuration, probed.audioDuration},
	} {
		if diff := (d.got - d.probed).Abs(); diff > crossCheckTolerance {
			t.Errorf("%s: Go %v, ffprobe %v", d.what, d.got, d.probed)
		} else if diff > 0 {
			t.Logf("%s: Go %v, ffprobe %v", d.what, d.got, d.probed)
		}
	}
	if want.Faststart && goRead.moovAfterMdat {
		t.Errorf("the render is not faststart")
	}
	if g.Container == "mp3" {
		checkLAMETag(t, out, want.Duration)
	}
	_, goErr := encoder.Verify(ctx, out, want)
	_, probeErr := ffprobeVerify(ctx, prober, out, want)
	if (goErr == nil) != (probeErr == nil) {
		t.Errorf("verdicts differ: Go %v, ffprobe %v", goErr, probeErr)
	}
	if goErr != nil {
		t.Errorf("the render fails Verify: %v", goErr)
	}
	t.Logf("%s %v: video %v, audio %v, %d×%d rot %d, %d+%d b/s", g.Container, g.Duration, goRead.videoDuration,
		goRead.audioDuration, g.Width, g.Height, g.Rotation, g.VideoBitrate, g.AudioBitrate)
}

// checkLAMETag checks the LAME tag of an MP3 render: its frame count's
// samples less the encoder delay and padding it states are the plan's
// duration within the check's tolerance (the frames hold what the encoder
// was given: an AAC source's decode may keep its last frame's padding, up
// to 5.3 ms more), and the delay and padding are within the priming the
// check's MP3 tolerance allows for. A remuxed MP3 keeps its source's
// priming in its plan's duration, which is then the frames' whole length.
func checkLAMETag(t *testing.T, out string, want time.Duration) {
	t.Helper()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := readMP3(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if !m.xing || !m.lame || m.frames == 0 {
		t.Logf("no Xing frame count or LAME tag (%+v)", m)
		return
	}
	whole := int64(m.frames) * int64(m.samplesPerFrame)
	content := samples64(whole-int64(m.delay)-int64(m.padding), m.sampleRate)
	if d := min((content - want).Abs(), (samples64(whole, m.sampleRate) - want).Abs()); d > minDurationTolerance {
		t.Errorf("LAME tag: %d frames less %d+%d samples is %v, want %v", m.frames, m.delay, m.padding, content, want)
	} else if d > 0 {
		t.Logf("LAME tag: %d frames less %d+%d samples is %v, the plan %v", m.frames, m.delay, m.padding, content, want)
	}
	if limit := lamePriming(m.sampleRate); samples(m.delay+m.padding, m.sampleRate) > limit {
		t.Errorf("LAME tag: delay %d and padding %d are beyond the tolerated priming %v", m.delay, m.padding, limit)
	}
}
