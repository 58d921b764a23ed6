package encoders_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

var testInput = []string{"-protocol_whitelist", "file", "-format_whitelist", "mov,matroska", "-f", "mov", "-i", "file:/blobs/assets/src"}

const testOutput = "/blobs/tmp/render.part"

// source1080p is an H.264/AAC phone-like source; the cases edit a copy.
func source1080p() domain.MediaInfo {
	return domain.MediaInfo{
		Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 10 * time.Second, HasVideo: true, HasAudio: true,
		VideoCodec: "h264", Width: 1920, Height: 1080, FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrate: 8_000_000,
		AudioCodec: "aac", AudioBitrate: 128_000, AudioChannels: 2, AudioSampleRate: 48000,
	}
}

func audioSource(codec string, rate int) domain.MediaInfo {
	return domain.MediaInfo{Container: "mp3", Duration: 10 * time.Second, HasAudio: true,
		AudioCodec: codec, AudioBitrate: 128_000, AudioChannels: 2, AudioSampleRate: rate}
}

// plan is the plan domain.PlanOutput gives src with nothing asked but size.
func plan(w, h int, src domain.MediaInfo) domain.RenderPlan {
	return domain.RenderPlan{Width: w, Height: h, VideoBitrate: src.VideoBitrate, AudioBitrate: src.AudioBitrate, Duration: src.Duration}
}

const testScript = "/scratch/render-1/filter"

func job(f domain.Format, p domain.RenderPlan, src domain.MediaInfo) encoders.Job {
	return encoders.Job{Format: f, Plan: p, Source: src, Input: testInput, Output: testOutput, FilterScript: testScript}
}

// inlined is cmd's arguments with the filter script read back in place
// ("-filter_complex_script <path>" → "-filter_complex <graph>"), so the
// cases read the graph where ffmpeg applies it.
func inlined(t *testing.T, cmd encoders.Command) []string {
	t.Helper()
	args := slices.Clone(cmd.Args)
	i := slices.Index(args, "-filter_complex_script")
	if (i >= 0) != (cmd.FilterGraph != "") {
		t.Fatalf("filter script argument at %d, graph %q", i, cmd.FilterGraph)
	}
	if i >= 0 {
		if args[i+1] != testScript {
			t.Fatalf("filter script %q, want the job's %q", args[i+1], testScript)
		}
		args[i], args[i+1] = "-filter_complex", cmd.FilterGraph
	}
	return args
}

func withThreads(j encoders.Job, n int) encoders.Job {
	j.Threads = n
	return j
}

// edit returns src changed by fn, so a case reads as "the usual, but …".
func edit(src domain.MediaInfo, fn func(*domain.MediaInfo)) domain.MediaInfo {
	fn(&src)
	return src
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func segments(bounds ...float64) []domain.Segment {
	var segs []domain.Segment
	for i := 0; i+1 < len(bounds); i += 2 {
		segs = append(segs, domain.Segment{Start: sec(bounds[i]), End: sec(bounds[i+1])})
	}
	return segs
}

func cutPlan(p domain.RenderPlan, segs []domain.Segment) domain.RenderPlan {
	p.Segments = segs
	p.Duration = 0
	for _, s := range segs {
		p.Duration += s.End - s.Start
	}
	return p
}

func TestBuildCommand(t *testing.T) {
	hd := source1080p()
	same := plan(1920, 1080, hd)
	p720 := domain.RenderPlan{Width: 1280, Height: 720, VideoBitrate: 5_000_000, AudioBitrate: 128_000, Duration: 10 * time.Second}
	rotated := edit(hd, func(m *domain.MediaInfo) { m.Width, m.Height, m.Rotation = 1080, 1920, 90 })
	noAudio := edit(hd, func(m *domain.MediaInfo) {
		m.HasAudio, m.AudioCodec, m.AudioBitrate, m.AudioChannels, m.AudioSampleRate = false, "", 0, 0, 0
	})
	audioPlan := domain.RenderPlan{AudioBitrate: 128_000, Duration: 10 * time.Second}
	audio96k := domain.RenderPlan{AudioBitrate: 96_000, Duration: 10 * time.Second}
	m4a := audioSource("aac", 48000)
	mp3 := audioSource("mp3", 44100)

	cases := []struct {
		name string
		job  encoders.Job
		fast bool
		want [][]string // runs of arguments that must appear in this order
		not  []string   // arguments that must not appear
	}{
		{name: "mp4_is_forced_with_the_mp4_muxer", job: job(domain.FormatMP4, p720, hd),
			want: [][]string{{"-f", "mp4", "file:" + testOutput}}},
		{name: "mov_is_forced_with_the_mov_muxer", job: job(domain.FormatMOV, p720, hd),
			want: [][]string{{"-f", "mov", "file:" + testOutput}}},
		{name: "m4a_is_forced_with_the_ipod_muxer", job: job(domain.FormatM4A, audioPlan, edit(hd, func(m *domain.MediaInfo) { m.AudioBitrate = 256_000 })),
			want: [][]string{{"-f", "ipod", "file:" + testOutput}}},
		{name: "mp3_is_forced_with_the_mp3_muxer", job: job(domain.FormatMP3, audioPlan, hd),
			want: [][]string{{"-f", "mp3", "file:" + testOutput}}},

		{name: "landscape_1080p_to_720p_scales_to_exactly_the_plan", job: job(domain.FormatMP4, p720, hd),
			want: [][]string{{"-map", "0:V:0", "-vf", "scale=1280:720,setsar=1"}}},
		{name: "rotated_source_is_autorotated_and_scaled_to_the_displayed_plan",
			job:  job(domain.FormatMP4, domain.RenderPlan{Width: 720, Height: 1280, VideoBitrate: 5_000_000, AudioBitrate: 128_000, Duration: 10 * time.Second}, rotated),
			want: [][]string{{"-vf", "scale=720:1280,setsar=1"}}, not: []string{"-autorotate", "-noautorotate", "-display_rotation"}},
		{name: "video_is_h264_high_veryfast_capped_vbr_with_double_bufsize", job: job(domain.FormatMOV, p720, hd),
			want: [][]string{{"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
				"-b:v", "5000000", "-maxrate", "5000000", "-bufsize", "10000000"}}},
		{name: "video_formats_carry_aac_at_the_plan_bitrate", job: job(domain.FormatMP4, p720, hd),
			want: [][]string{{"-c:a", "aac", "-b:a", "128000"}}, not: []string{"-ac", "-ar"}},
		{name: "ten_bit_source_becomes_8_bit_yuv420p", job: job(domain.FormatMP4, same, edit(hd, func(m *domain.MediaInfo) { m.PixelFormat = "yuv420p10le" })),
			want: [][]string{{"-pix_fmt", "yuv420p"}}},
		{name: "source_frame_rate_is_kept", job: job(domain.FormatMP4, p720, hd),
			want: [][]string{{"-fps_mode", "vfr"}}, not: []string{"-r", "fps", "-vsync"}},
		{name: "only_the_first_video_and_first_audio_stream_are_mapped", job: job(domain.FormatMP4, p720, hd),
			want: [][]string{{"-map", "0:V:0"}, {"-map", "0:a:0"}}, not: []string{"0:v", "0:a", "0", "0:s"}},
		{name: "subtitles_data_metadata_and_chapters_are_dropped", job: job(domain.FormatMP4, p720, hd),
			want: [][]string{{"-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"}}},
		{name: "mp4_is_faststart", job: job(domain.FormatMP4, p720, hd), want: [][]string{{"-movflags", "+faststart"}}},
		{name: "mov_is_faststart", job: job(domain.FormatMOV, p720, hd), want: [][]string{{"-movflags", "+faststart"}}},
		{name: "m4a_is_faststart", job: job(domain.FormatM4A, audio96k, hd), want: [][]string{{"-movflags", "+faststart"}}},
		{name: "mp3_has_no_movflags", job: job(domain.FormatMP3, audioPlan, hd), not: []string{"-movflags"}},
		{name: "encoder_threads_are_set_when_configured", job: withThreads(job(domain.FormatMP4, p720, hd), 2),
			want: [][]string{{"-c:v", "libx264"}, {"-threads", "2"}, {"-f", "mp4", "file:" + testOutput}}},
		{name: "encoder_threads_are_ffmpegs_choice_by_default", job: job(domain.FormatMP4, p720, hd), not: []string{"-threads"}},
		{name: "video_without_audio_renders_video_only", job: job(domain.FormatMP4, domain.RenderPlan{Width: 1280, Height: 720, VideoBitrate: 2_000_000, Duration: 10 * time.Second}, noAudio),
			want: [][]string{{"-map", "0:V:0", "-vf"}}, not: []string{"0:a:0", "-c:a", "-b:a", "-ac", "-ar", "-an"}},

		{name: "m4a_is_aac_without_video", job: job(domain.FormatM4A, audio96k, hd),
			want: [][]string{{"-map", "0:a:0"}, {"-vn", "-c:a", "aac", "-b:a", "96000"}}, not: []string{"0:V:0", "-c:v", "-vf"}},
		{name: "mp3_is_libmp3lame_without_video", job: job(domain.FormatMP3, audioPlan, hd),
			want: [][]string{{"-map", "0:a:0"}, {"-vn", "-c:a", "libmp3lame", "-b:a", "128000"}}, not: []string{"0:V:0", "-c:v"}},
		{name: "surround_source_is_downmixed_to_stereo", job: job(domain.FormatMP4, p720, edit(hd, func(m *domain.MediaInfo) { m.AudioChannels = 6 })),
			want: [][]string{{"-ac", "2"}}},
		{name: "unknown_channel_count_is_made_stereo", job: job(domain.FormatM4A, audioPlan, edit(m4a, func(m *domain.MediaInfo) { m.AudioChannels = 0 })),
			want: [][]string{{"-ac", "2"}}},
		{name: "mono_source_stays_mono", job: job(domain.FormatMP3, audioPlan, edit(hd, func(m *domain.MediaInfo) { m.AudioChannels = 1 })),
			not: []string{"-ac"}},
		{name: "96khz_source_is_resampled_to_48khz", job: job(domain.FormatMP4, p720, edit(hd, func(m *domain.MediaInfo) { m.AudioSampleRate = 96000 })),
			want: [][]string{{"-ar", "48000"}}},
		{name: "96khz_source_is_resampled_to_48khz_for_mp3", job: job(domain.FormatMP3, audioPlan, edit(hd, func(m *domain.MediaInfo) { m.AudioSampleRate = 96000 })),
			want: [][]string{{"-ar", "48000"}}},
		{name: "unknown_sample_rate_is_pinned_to_48khz", job: job(domain.FormatM4A, audioPlan, edit(hd, func(m *domain.MediaInfo) { m.AudioSampleRate = 0 })),
			want: [][]string{{"-ar", "48000"}}},
		{name: "mp3_keeps_a_source_rate_lame_takes", job: job(domain.FormatMP3, audioPlan, edit(hd, func(m *domain.MediaInfo) { m.AudioSampleRate = 22050 })),
			not: []string{"-ar"}},
		{name: "mp3_of_a_rate_lame_refuses_takes_the_next_rate_up", job: job(domain.FormatMP3, audioPlan, edit(hd, func(m *domain.MediaInfo) { m.AudioSampleRate = 37800 })),
			want: [][]string{{"-ar", "44100"}}},
		{name: "aac_keeps_a_rate_it_takes_that_lame_refuses", job: job(domain.FormatM4A, audio96k, edit(hd, func(m *domain.MediaInfo) { m.AudioSampleRate = 7350 })),
			not: []string{"-ar"}},

		{name: "three_segment_cut_is_one_filter_complex_with_concat_of_3", job: job(domain.FormatMP4, cutPlan(p720, segments(0.2, 0.6, 0.9, 1.3, 1.5, 1.9)), hd),
			want: [][]string{{"-filter_complex", "[0:V:0]split=3[vs0][vs1][vs2];[0:a:0]asplit=3[as0][as1][as2];" +
				"[vs0]trim=start=0.200000:end=0.600000,setpts=PTS-STARTPTS[v0];[as0]atrim=start=0.200000:end=0.600000,asetpts=PTS-STARTPTS[a0];" +
				"[vs1]trim=start=0.900000:end=1.300000,setpts=PTS-STARTPTS[v1];[as1]atrim=start=0.900000:end=1.300000,asetpts=PTS-STARTPTS[a1];" +
				"[vs2]trim=start=1.500000:end=1.900000,setpts=PTS-STARTPTS[v2];[as2]atrim=start=1.500000:end=1.900000,asetpts=PTS-STARTPTS[a2];" +
				"[v0][a0][v1][a1][v2][a2]concat=n=3:v=1:a=1[vcat][a];[vcat]scale=1280:720,setsar=1[v]",
				"-map", "[v]", "-map", "[a]", "-c:v", "libx264"}},
			not: []string{"-vf", "0:V:0", "0:a:0", "-ss", "-t", "-to"}},
		{name: "cut_of_video_without_audio_concats_video_only", job: job(domain.FormatMOV, cutPlan(plan(1920, 1080, noAudio), segments(1, 2, 3, 4)), noAudio),
			want: [][]string{{"-filter_complex", "[0:V:0]split=2[vs0][vs1];[vs0]trim=start=1.000000:end=2.000000,setpts=PTS-STARTPTS[v0];" +
				"[vs1]trim=start=3.000000:end=4.000000,setpts=PTS-STARTPTS[v1];[v0][v1]concat=n=2:v=1:a=0[vcat];[vcat]scale=1920:1080,setsar=1[v]",
				"-map", "[v]", "-c:v"}},
			not: []string{"[a]", "-c:a"}},
		{name: "cut_of_an_audio_format_concats_audio_only", job: job(domain.FormatMP3, cutPlan(audioPlan, segments(0, 1.5, 2.25, 3)), mp3),
			want: [][]string{{"-filter_complex", "[0:a:0]asplit=2[as0][as1];[as0]atrim=start=0.000000:end=1.500000,asetpts=PTS-STARTPTS[a0];" +
				"[as1]atrim=start=2.250000:end=3.000000,asetpts=PTS-STARTPTS[a1];[a0][a1]concat=n=2:v=0:a=1[a]",
				"-map", "[a]", "-vn", "-c:a", "libmp3lame"}},
			not: []string{"[v]", "-c:v", "copy"}},
		{name: "single_segment_cut_needs_no_split", job: job(domain.FormatMP4, cutPlan(same, segments(2, 5)), hd),
			want: [][]string{{"-filter_complex", "[0:V:0]trim=start=2.000000:end=5.000000,setpts=PTS-STARTPTS[v0];" +
				"[0:a:0]atrim=start=2.000000:end=5.000000,asetpts=PTS-STARTPTS[a0];[v0][a0]concat=n=1:v=1:a=1[vcat][a];[vcat]scale=1920:1080,setsar=1[v]"}}},
		{name: "segment_times_are_exact_to_the_microsecond", job: job(domain.FormatM4A,
			cutPlan(audioPlan, []domain.Segment{{Start: time.Second + time.Microsecond, End: 2*time.Second + 333_333*time.Microsecond}}), m4a),
			want: [][]string{{"-filter_complex", "[0:a:0]atrim=start=1.000001:end=2.333333,asetpts=PTS-STARTPTS[a0];[a0]concat=n=1:v=0:a=1[a]"}}},

		{name: "plan_equal_to_the_source_remuxes", job: job(domain.FormatMP4, same, hd), fast: true,
			want: [][]string{{"-map", "0:V:0", "-map", "0:a:0", "-c", "copy", "-sn", "-dn"}, {"-movflags", "+faststart"}},
			not:  []string{"libx264", "aac", "-vf", "-b:v", "-fps_mode"}},
		{name: "mov_of_an_equal_plan_remuxes", job: job(domain.FormatMOV, same, hd), fast: true, want: [][]string{{"-c", "copy"}}},
		{name: "a_remux_runs_no_encoder_to_give_threads", job: withThreads(job(domain.FormatMOV, same, hd), 2), fast: true, not: []string{"-threads"}},
		{name: "rotated_source_equal_to_the_plan_remuxes_with_its_rotation", job: job(domain.FormatMP4, plan(1080, 1920, rotated), rotated), fast: true,
			want: [][]string{{"-c", "copy"}}, not: []string{"-vf"}},
		{name: "video_without_audio_equal_to_the_plan_remuxes", job: job(domain.FormatMP4, plan(1920, 1080, noAudio), noAudio), fast: true,
			want: [][]string{{"-map", "0:V:0", "-c", "copy"}}, not: []string{"0:a:0"}},
		{name: "m4a_of_equal_aac_remuxes", job: job(domain.FormatM4A, audioPlan, m4a), fast: true,
			want: [][]string{{"-map", "0:a:0", "-vn", "-c:a", "copy"}, {"-movflags", "+faststart"}}, not: []string{"aac"}},
		{name: "m4a_of_a_video_source_with_equal_aac_remuxes_its_audio", job: job(domain.FormatM4A, audioPlan, hd), fast: true,
			want: [][]string{{"-map", "0:a:0", "-vn", "-c:a", "copy"}}, not: []string{"0:V:0"}},
		{name: "mp3_of_equal_mp3_remuxes", job: job(domain.FormatMP3, audioPlan, mp3), fast: true,
			want: [][]string{{"-map", "0:a:0", "-vn", "-c:a", "copy"}}, not: []string{"libmp3lame"}},

		{name: "no_remux_for_a_cut_even_of_an_equal_rotated_source", job: job(domain.FormatMP4, cutPlan(plan(1080, 1920, rotated), segments(0, 1, 2, 3)), rotated),
			want: [][]string{{"-filter_complex"}, {"-c:v", "libx264"}}, not: []string{"copy"}},
		{name: "no_remux_of_another_video_codec", job: job(domain.FormatMP4, same, edit(hd, func(m *domain.MediaInfo) { m.VideoCodec = "hevc" })),
			want: [][]string{{"-c:v", "libx264"}}},
		{name: "no_remux_of_another_pixel_format", job: job(domain.FormatMP4, same, edit(hd, func(m *domain.MediaInfo) { m.PixelFormat = "yuvj420p" })),
			want: [][]string{{"-c:v", "libx264"}}},
		{name: "no_remux_of_another_size", job: job(domain.FormatMP4, plan(1280, 720, hd), hd), want: [][]string{{"-c:v", "libx264"}}},
		{name: "no_remux_of_another_video_bitrate", job: job(domain.FormatMP4,
			domain.RenderPlan{Width: 1920, Height: 1080, VideoBitrate: 5_000_000, AudioBitrate: 128_000, Duration: 10 * time.Second}, hd),
			want: [][]string{{"-c:v", "libx264"}}},
		{name: "no_remux_of_another_audio_codec", job: job(domain.FormatMP4, same, edit(hd, func(m *domain.MediaInfo) { m.AudioCodec = "mp3" })),
			want: [][]string{{"-c:v", "libx264"}, {"-c:a", "aac"}}},
		{name: "no_remux_of_another_audio_bitrate", job: job(domain.FormatMP4, editPlan(same, func(p *domain.RenderPlan) { p.AudioBitrate = 96_000 }), hd),
			want: [][]string{{"-c:a", "aac", "-b:a", "96000"}}},
		{name: "no_remux_of_surround_audio", job: job(domain.FormatMP4, same, edit(hd, func(m *domain.MediaInfo) { m.AudioChannels = 6 })),
			want: [][]string{{"-c:v", "libx264"}, {"-ac", "2"}}},
		{name: "no_remux_of_audio_above_48khz", job: job(domain.FormatM4A, audioPlan, edit(m4a, func(m *domain.MediaInfo) { m.AudioSampleRate = 96000 })),
			want: [][]string{{"-c:a", "aac"}, {"-ar", "48000"}}},
		{name: "no_remux_of_unknown_channels", job: job(domain.FormatM4A, audioPlan, edit(m4a, func(m *domain.MediaInfo) { m.AudioChannels = 0 })),
			want: [][]string{{"-c:a", "aac"}}},
		{name: "no_remux_of_mp3_into_m4a", job: job(domain.FormatM4A, audioPlan, mp3), want: [][]string{{"-c:a", "aac"}}},
		{name: "no_remux_of_aac_into_mp3", job: job(domain.FormatMP3, audioPlan, m4a), want: [][]string{{"-c:a", "libmp3lame"}}},
		{name: "no_remux_of_mp3_at_another_bitrate", job: job(domain.FormatMP3, audio96k, mp3),
			want: [][]string{{"-c:a", "libmp3lame", "-b:a", "96000"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, err := encoders.BuildCommand(c.job)
			if err != nil {
				t.Fatal(err)
			}
			if cmd.FastPath != c.fast {
				t.Errorf("FastPath = %v, want %v", cmd.FastPath, c.fast)
			}
			args := inlined(t, cmd)
			for _, run := range c.want {
				if !containsRun(args, run) {
					t.Errorf("missing %q in\n%q", run, args)
				}
			}
			for _, arg := range c.not {
				if slices.Contains(args, arg) {
					t.Errorf("unexpected %q in\n%q", arg, args)
				}
			}
			checkShape(t, cmd.Args, c.job)
		})
	}
}

// checkShape holds for every command: global options, then the caller's
// input untouched, then output options, then the forced muxer and the
// output as the last two arguments.
func checkShape(t *testing.T, args []string, j encoders.Job) {
	t.Helper()
	global := []string{"-hide_banner", "-nostdin", "-y", "-v", "error", "-nostats", "-progress", "pipe:1"}
	if !slices.Equal(args[:len(global)], global) {
		t.Errorf("arguments start %q, want %q", args[:len(global)], global)
	}
	if rest := args[len(global):]; !slices.Equal(rest[:len(j.Input)], j.Input) {
		t.Errorf("the input options do not follow the global options unchanged: %q", rest)
	}
	if n := len(args); args[n-3] != "-f" || args[n-1] != "file:"+j.Output {
		t.Errorf("arguments end %q, want -f <muxer> file:%s", args[n-3:], j.Output)
	}
	if strings.Count(strings.Join(args, "\x00"), "\x00-i\x00") != 1 {
		t.Errorf("want exactly one input: %q", args)
	}
}

func editPlan(p domain.RenderPlan, fn func(*domain.RenderPlan)) domain.RenderPlan {
	fn(&p)
	return p
}

func containsRun(args, run []string) bool {
	for i := 0; i+len(run) <= len(args); i++ {
		if slices.Equal(args[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

func TestBuildCommand_untrusted_text_never_reaches_the_arguments(t *testing.T) {
	evil := "evil;rm -rf / $(id) -i http://x"
	src := source1080p()
	src.Container, src.FrameRate, src.AudioCodec = evil, evil, evil
	out := "-" + evil + " out.mp4"
	for _, f := range []domain.Format{domain.FormatMP4, domain.FormatM4A, domain.FormatMP3} {
		p := plan(1280, 720, src)
		if !f.IsVideo() {
			p = domain.RenderPlan{AudioBitrate: 128_000, Duration: src.Duration}
		}
		j := job(f, p, src)
		j.Output = out
		cmd, err := encoders.BuildCommand(j)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range cmd.Args[:len(cmd.Args)-1] {
			if strings.Contains(a, "evil") {
				t.Errorf("%s: probe text in argument %q", f, a)
			}
		}
		// The output is one argument, behind the file protocol, so a name
		// starting with "-" or naming a protocol is still a plain file.
		if last := cmd.Args[len(cmd.Args)-1]; last != "file:"+out {
			t.Errorf("%s: output argument %q", f, last)
		}
	}
}

func TestBuildCommand_impossible_jobs_are_errors(t *testing.T) {
	hd := source1080p()
	p720 := domain.RenderPlan{Width: 1280, Height: 720, VideoBitrate: 5_000_000, AudioBitrate: 128_000, Duration: 10 * time.Second}
	audioPlan := domain.RenderPlan{AudioBitrate: 128_000, Duration: 10 * time.Second}
	videoOnly := edit(hd, func(m *domain.MediaInfo) { m.HasAudio = false })
	audioOnly := audioSource("aac", 48000)
	withPlan := func(fn func(*domain.RenderPlan)) encoders.Job { return job(domain.FormatMP4, editPlan(p720, fn), hd) }
	withJob := func(fn func(*encoders.Job)) encoders.Job {
		j := job(domain.FormatMP4, p720, hd)
		fn(&j)
		return j
	}
	cases := []struct {
		name string
		job  encoders.Job
	}{
		{"unknown_format", job("webm", p720, hd)},
		{"empty_format", job("", p720, hd)},
		{"video_format_with_zero_width", withPlan(func(p *domain.RenderPlan) { p.Width = 0 })},
		{"video_format_with_zero_height", withPlan(func(p *domain.RenderPlan) { p.Height = 0 })},
		{"video_format_with_odd_width", withPlan(func(p *domain.RenderPlan) { p.Width = 1279 })},
		{"video_format_with_odd_height", withPlan(func(p *domain.RenderPlan) { p.Height = 721 })},
		{"video_format_of_a_source_without_video", job(domain.FormatMOV, p720, audioOnly)},
		{"audio_format_of_a_source_without_audio", job(domain.FormatM4A, audioPlan, videoOnly)},
		{"mp3_of_a_source_without_audio", job(domain.FormatMP3, audioPlan, videoOnly)},
		{"zero_video_bitrate", withPlan(func(p *domain.RenderPlan) { p.VideoBitrate = 0 })},
		{"negative_video_bitrate", withPlan(func(p *domain.RenderPlan) { p.VideoBitrate = -1 })},
		{"zero_audio_bitrate_for_a_source_with_audio", withPlan(func(p *domain.RenderPlan) { p.AudioBitrate = 0 })},
		{"zero_audio_bitrate_for_mp3", job(domain.FormatMP3, domain.RenderPlan{Duration: time.Second}, audioOnly)},
		{"zero_duration", withPlan(func(p *domain.RenderPlan) { p.Duration = 0 })},
		{"empty_input", withJob(func(j *encoders.Job) { j.Input = nil })},
		{"input_not_ending_in_a_file_input", withJob(func(j *encoders.Job) { j.Input = []string{"-i", "http://example.com/x"} })},
		{"empty_output", withJob(func(j *encoders.Job) { j.Output = "" })},
		{"segment_ending_at_its_start", withPlan(func(p *domain.RenderPlan) { p.Segments = segments(1, 1) })},
		{"segment_ending_before_its_start", withPlan(func(p *domain.RenderPlan) { p.Segments = segments(2, 1) })},
		{"segment_starting_before_the_source", withPlan(func(p *domain.RenderPlan) { p.Segments = segments(-1, 1) })},
		{"overlapping_segments", withPlan(func(p *domain.RenderPlan) { p.Segments = segments(0, 2, 1, 3) })},
		{"unsorted_segments", withPlan(func(p *domain.RenderPlan) { p.Segments = segments(4, 5, 1, 2) })},
		{"cut_without_a_filter_script", withJob(func(j *encoders.Job) {
			j.Plan.Segments, j.FilterScript = segments(1, 2), ""
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, err := encoders.BuildCommand(c.job)
			if !errors.Is(err, encoders.ErrImpossibleJob) {
				t.Fatalf("err = %v, want ErrImpossibleJob (command %q)", err, cmd.Args)
			}
			if strings.Contains(err.Error(), "/blobs/") {
				t.Errorf("the error names a path: %v", err)
			}
		})
	}
}
