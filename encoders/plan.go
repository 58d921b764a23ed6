package encoders

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/renderd/renderd/domain"
)

// Job is what an encode needs to know, as plain data.
type Job struct {
	Format domain.Format     // mp4, mov, m4a, mp3
	Plan   domain.RenderPlan // resolved against Source (domain.PlanOutput)
	Source domain.MediaInfo  // the probe of the input file
	Input  []string          // input options ending in "-i file:<path>" (Media.InputArgs)
	Output string            // output file path; the muxer is forced with -f
	// FilterScript is the path of the file the caller writes
	// Command.FilterGraph to before running a cut: graphs go to ffmpeg
	// through a file (-filter_complex_script), since a cut of 1000 segments
	// is a graph of some 150 KB, past the kernel's 128 KiB limit on one
	// argument (execve fails with E2BIG). Required when the plan has
	// segments.
	FilterScript string
	// Threads is the encoders' -threads: how many threads one render's
	// libx264 may run, so that the renders sharing a machine share its
	// cores. 0 leaves ffmpeg's own choice (1.5× the cores for libx264).
	Threads int
}

// Command is an ffmpeg invocation (arguments without the binary name). How
// long it may run is the Media's business (a stall rule and a cap), not the
// plan's: an encode's speed depends on the machine, not only on the media.
type Command struct {
	Args     []string
	FastPath bool // remux with -c copy, no re-encode
	// FilterGraph is the content of Job.FilterScript, "" when the command
	// reads no script.
	FilterGraph string
}

// ErrImpossibleJob is wrapped by every error of BuildCommand: the job
// contradicts itself or its source, so running it again cannot help.
var ErrImpossibleJob = errors.New("impossible encode job")

// muxers are the -f names of the output formats. ffmpeg calls its m4a
// muxer "ipod".
var muxers = map[domain.Format]string{
	domain.FormatMP4: "mp4",
	domain.FormatMOV: "mov",
	domain.FormatM4A: "ipod",
	domain.FormatMP3: "mp3",
}

// x264Preset trades size for speed. Measured (docs/renders.md): 30 s of
// 1080p30 → 720p on 2 cores: ultrafast 4.5 s, veryfast 6.6 s, faster 8.6 s, medium
// 20.8 s. ultrafast turns off CABAC and B-frames, so its stream is no
// longer the High profile we promise (and is larger at a given quality);
// veryfast keeps both and is three times faster than medium.
const x264Preset = "veryfast"

// Output audio is at most 48 kHz. A source rate at or under that is kept
// when the encoder takes it; otherwise the next rate up that it takes is
// set. Left alone, ffmpeg would pick one itself, and for 37800 Hz it picks
// 32000, dropping treble the source has.
const maxSampleRate = 48000

var (
	aacRates  = []int{7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}
	lameRates = []int{8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}
)

// BuildCommand builds the ffmpeg command line that turns j.Source into
// j.Plan. Arguments hold only fixed options, numbers from the plan, and the
// caller's Input and Output: no text from a user.
func BuildCommand(j Job) (Command, error) {
	if err := checkJob(j); err != nil {
		return Command{}, fmt.Errorf("%w: %w", ErrImpossibleJob, err)
	}
	// The runner reads key=value progress from stdout; stderr carries errors.
	args := []string{"-hide_banner", "-nostdin", "-y", "-v", "error", "-nostats", "-progress", "pipe:1"}
	args = append(args, j.Input...)

	fast := canRemux(j)
	var graph string
	if fast {
		args = append(args, remuxArgs(j)...)
	} else {
		var enc []string
		enc, graph = encodeArgs(j)
		args = append(args, enc...)
		if j.Threads > 0 {
			args = append(args, "-threads", strconv.Itoa(j.Threads))
		}
	}
	// Only the picture and the sound: no subtitles, data tracks, tags,
	// titles or chapters of an uploaded file reach a deliverable.
	args = append(args, "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1")
	if j.Format != domain.FormatMP3 {
		args = append(args, "-movflags", "+faststart") // playable while it downloads
	}
	// "file:" keeps a path from being read as a protocol or an option.
	args = append(args, "-f", muxers[j.Format], "file:"+j.Output)
	return Command{Args: args, FastPath: fast, FilterGraph: graph}, nil
}

// checkJob refuses a job that cannot produce its plan. Messages name no
// paths: they may reach the render's failure.
func checkJob(j Job) error {
	p, s := j.Plan, j.Source
	if _, ok := muxers[j.Format]; !ok {
		return fmt.Errorf("unknown format %q", j.Format)
	}
	if n := len(j.Input); n < 2 || j.Input[n-2] != "-i" || !strings.HasPrefix(j.Input[n-1], "file:") {
		return errors.New(`the input options must end with "-i file:<path>"`)
	}
	if j.Output == "" {
		return errors.New("no output path")
	}
	if len(p.Segments) > 0 && j.FilterScript == "" {
		return errors.New("a cut needs a filter script path")
	}
	if p.Duration <= 0 {
		return errors.New("the plan has no duration")
	}
	if j.Format.IsVideo() {
		if !s.HasVideo {
			return fmt.Errorf("%s needs a source with video", j.Format)
		}
		if p.Width <= 0 || p.Height <= 0 || p.Width%2 != 0 || p.Height%2 != 0 {
			return fmt.Errorf("%s needs an even picture size, the plan has %d×%d", j.Format, p.Width, p.Height)
		}
		if p.VideoBitrate <= 0 {
			return fmt.Errorf("%s needs a video bitrate, the plan has %d", j.Format, p.VideoBitrate)
		}
	} else if !s.HasAudio {
		return fmt.Errorf("%s needs a source with audio", j.Format)
	}
	if s.HasAudio && p.AudioBitrate <= 0 {
		return fmt.Errorf("%s needs an audio bitrate, the plan has %d", j.Format, p.AudioBitrate)
	}
	for i, seg := range p.Segments {
		switch {
		case seg.Start < 0:
			return fmt.Errorf("segment %d starts before the source", i)
		case seg.End <= seg.Start:
			return fmt.Errorf("segment %d ends at or before its start", i)
		case i > 0 && seg.Start < p.Segments[i-1].End:
			return fmt.Errorf("segment %d overlaps or precedes segment %d", i, i-1)
		}
	}
	return nil
}

// canRemux reports whether the source already is the plan, so that copying
// its streams into the new container is the whole job. A cut always
// re-encodes: copying cuts at keyframes, not at the asked frames. A rotated
// source may remux: its display matrix is copied, and the plan is in
// displayed size like Source.Width/Height.
func canRemux(j Job) bool {
	p, s := j.Plan, j.Source
	if len(p.Segments) > 0 {
		return false
	}
	audioIs := func(codec string) bool {
		return s.HasAudio && s.AudioCodec == codec && s.AudioBitrate == p.AudioBitrate &&
			s.AudioChannels > 0 && s.AudioChannels <= 2 && s.AudioSampleRate > 0 && s.AudioSampleRate <= maxSampleRate
	}
	switch j.Format {
	case domain.FormatMP4, domain.FormatMOV:
		return s.VideoCodec == "h264" && s.PixelFormat == "yuv420p" &&
			s.Width == p.Width && s.Height == p.Height && s.VideoBitrate == p.VideoBitrate &&
			(!s.HasAudio || audioIs("aac"))
	case domain.FormatM4A:
		return audioIs("aac")
	case domain.FormatMP3:
		return audioIs("mp3")
	}
	return false
}

// Streams: the first video stream that is a picture sequence (V skips cover
// art and thumbnails, as the probe does) and the first audio stream.
const (
	videoIn = "0:V:0"
	audioIn = "0:a:0"
)

func remuxArgs(j Job) []string {
	if !j.Format.IsVideo() {
		return []string{"-map", audioIn, "-vn", "-c:a", "copy"}
	}
	args := []string{"-map", videoIn}
	if j.Source.HasAudio {
		args = append(args, "-map", audioIn)
	}
	return append(args, "-c", "copy")
}

// encodeArgs returns the re-encode's arguments and, for a cut, the filter
// graph they read from j.FilterScript.
func encodeArgs(j Job) (args []string, graph string) {
	video, audio := j.Format.IsVideo(), j.Source.HasAudio
	// Autorotate stays on (ffmpeg's default): frames reach the filters
	// upright and the output carries no rotation, so the scale is to the
	// plan's displayed size. setsar=1 makes pixels square, which also
	// resolves anamorphic sources.
	scale := fmt.Sprintf("scale=%d:%d,setsar=1", j.Plan.Width, j.Plan.Height)

	switch {
	case len(j.Plan.Segments) > 0:
		graph = cutGraph(j.Plan.Segments, video, audio, scale)
		args = append(args, "-filter_complex_script", j.FilterScript)
		if video {
			args = append(args, "-map", "[v]")
		}
		if audio {
			args = append(args, "-map", "[a]")
		}
	default:
		if video {
			args = append(args, "-map", videoIn, "-vf", scale)
		}
		if audio {
			args = append(args, "-map", audioIn)
		}
	}

	if video {
		rate := strconv.FormatInt(j.Plan.VideoBitrate, 10)
		args = append(args, "-c:v", "libx264", "-preset", x264Preset, "-profile:v", "high", "-pix_fmt", "yuv420p",
			// Capped VBR: libx264 ignores -maxrate without -bufsize.
			"-b:v", rate, "-maxrate", rate, "-bufsize", strconv.FormatInt(2*j.Plan.VideoBitrate, 10),
			// mp4/mov default to constant frame rate, which duplicates or
			// drops frames of a variable-rate phone clip; vfr keeps the
			// source's timestamps, hence its frame rate.
			"-fps_mode", "vfr")
	} else {
		args = append(args, "-vn")
	}

	if audio {
		codec, rates := "aac", aacRates
		if j.Format == domain.FormatMP3 {
			codec, rates = "libmp3lame", lameRates
		}
		args = append(args, "-c:a", codec, "-b:a", strconv.FormatInt(j.Plan.AudioBitrate, 10))
		// Mono stays mono; an unknown layout is made stereo to be sure.
		if ch := j.Source.AudioChannels; ch <= 0 || ch > 2 {
			args = append(args, "-ac", "2")
		}
		if rate, change := sampleRate(j.Source.AudioSampleRate, rates); change {
			args = append(args, "-ar", strconv.Itoa(rate))
		}
	}
	return args, graph
}

// sampleRate returns the output rate for a source rate and whether it must
// be set. accepted is ascending and ends at maxSampleRate.
func sampleRate(source int, accepted []int) (int, bool) {
	switch {
	case source <= 0 || source > maxSampleRate:
		return maxSampleRate, true // unknown: pin a rate every encoder takes
	case slices.Contains(accepted, source):
		return source, false
	}
	i, _ := slices.BinarySearch(accepted, source)
	return accepted[i], true
}

// cutGraph keeps the segments in one pass: each stream is split once per
// segment, each copy trimmed to its segment (trim and atrim are frame- and
// sample-exact) and restarted at 0, and concat joins them in order, segment
// by segment, so audio and video stay in step. ffmpeg stops reading once
// every trim has passed its end.
func cutGraph(segments []domain.Segment, video, audio bool, scale string) string {
	n := len(segments)
	var chains, vIn, aIn []string
	if video {
		vIn = fanOut(&chains, videoIn, "split", "vs", n)
	}
	if audio {
		aIn = fanOut(&chains, audioIn, "asplit", "as", n)
	}
	var joined strings.Builder
	for i, s := range segments {
		span := "start=" + seconds(s.Start) + ":end=" + seconds(s.End)
		if video {
			chains = append(chains, fmt.Sprintf("%strim=%s,setpts=PTS-STARTPTS[v%d]", vIn[i], span, i))
			fmt.Fprintf(&joined, "[v%d]", i)
		}
		if audio {
			chains = append(chains, fmt.Sprintf("%satrim=%s,asetpts=PTS-STARTPTS[a%d]", aIn[i], span, i))
			fmt.Fprintf(&joined, "[a%d]", i)
		}
	}
	v, a := 0, 0
	var outs string
	if video {
		v, outs = 1, "[vcat]"
	}
	if audio {
		a, outs = 1, outs+"[a]"
	}
	chains = append(chains, fmt.Sprintf("%sconcat=n=%d:v=%d:a=%d%s", joined.String(), n, v, a, outs))
	if video {
		chains = append(chains, "[vcat]"+scale+"[v]")
	}
	return strings.Join(chains, ";")
}

// fanOut returns n input labels for stream: the stream itself when n is 1,
// else the outputs of a split added to chains.
func fanOut(chains *[]string, stream, split, prefix string, n int) []string {
	if n == 1 {
		return []string{"[" + stream + "]"}
	}
	labels := make([]string, n)
	for i := range labels {
		labels[i] = fmt.Sprintf("[%s%d]", prefix, i)
	}
	*chains = append(*chains, fmt.Sprintf("[%s]%s=%d%s", stream, split, n, strings.Join(labels, "")))
	return labels
}

// seconds formats d exactly to the microsecond, as filter options take it.
func seconds(d time.Duration) string {
	us := d.Microseconds()
	return fmt.Sprintf("%d.%06d", us/1_000_000, us%1_000_000)
}
