package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func media(w, h int, vbps, abps int64) domain.MediaInfo {
	return domain.MediaInfo{Duration: 10 * time.Second, HasVideo: true, HasAudio: abps >= 0, Width: w, Height: h,
		VideoBitrate: vbps, AudioBitrate: max(abps, 0)}
}

func TestPlanOutput(t *testing.T) {
	hd := media(1920, 1080, 8_000_000, 256_000)
	cases := []struct {
		name       string
		out        domain.OutputSpec
		src        domain.MediaInfo
		w, h       int
		vbps, abps int64
		field      string // a 422 on this field
	}{
		{"720p_of_1080p_landscape", domain.OutputSpec{Format: "mp4", Resolution: "720p"}, hd, 1280, 720, 5_000_000, 192_000, ""},
		{"720p_of_a_vertical_source_stays_vertical", domain.OutputSpec{Format: "mp4", Resolution: "720p"}, media(1080, 1920, 8_000_000, 128_000), 720, 1280, 5_000_000, 128_000, ""},
		{"720p_of_a_wide_film", domain.OutputSpec{Format: "mov", Resolution: "720p"}, media(1920, 800, 8_000_000, 128_000), 1728, 720, 5_000_000, 128_000, ""},
		{"1080p_of_a_wide_film_is_an_upscale", domain.OutputSpec{Format: "mp4", Resolution: "1080p"}, media(1920, 800, 8_000_000, 128_000), 0, 0, 0, 0, "output.resolution"},
		{"4k_of_1080p_is_refused", domain.OutputSpec{Format: "mp4", Resolution: "4k"}, hd, 0, 0, 0, 0, "output.resolution"},
		{"omitted_resolution_keeps_the_source_size_even", domain.OutputSpec{Format: "mp4"}, media(1281, 721, 0, 128_000), 1280, 720, 5_000_000, 128_000, ""},
		{"auto_video_bitrate_is_capped_to_a_low_source", domain.OutputSpec{Format: "mp4"}, media(1280, 720, 300_000, 64_000), 1280, 720, 300_000, 64_000, ""},
		{"auto_for_1080p_output_is_10_mbps_capped", domain.OutputSpec{Format: "mp4"}, hd, 1920, 1080, 8_000_000, 192_000, ""},
		{"explicit_video_bitrate_within_the_source", domain.OutputSpec{Format: "mp4", VideoBitrate: 5}, hd, 1920, 1080, 5_000_000, 192_000, ""},
		{"explicit_video_bitrate_just_above_is_capped", domain.OutputSpec{Format: "mp4", VideoBitrate: 5}, media(1920, 1080, 4_700_000, 128_000), 1920, 1080, 4_700_000, 128_000, ""},
		{"explicit_video_bitrate_far_above_is_refused", domain.OutputSpec{Format: "mp4", VideoBitrate: 10}, hd, 0, 0, 0, 0, "output.video_bitrate"},
		{"unknown_source_bitrate_keeps_the_explicit_one", domain.OutputSpec{Format: "mp4", VideoBitrate: 50}, media(3840, 2160, 0, 128_000), 3840, 2160, 50_000_000, 128_000, ""},
		{"explicit_audio_above_the_source_is_capped", domain.OutputSpec{Format: "m4a", AudioBitrate: 320}, hd, 0, 0, 0, 256_000, ""},
		{"audio_render_of_a_silent_video_has_no_audio_bitrate", domain.OutputSpec{Format: "mp4"}, media(1280, 720, 2_000_000, -1), 1280, 720, 2_000_000, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.out.Validate(); err != nil {
				t.Fatalf("invalid output: %v", err)
			}
			plan, err := domain.PlanOutput(c.out, c.src, nil, 0)
			var ve *domain.ValidationError
			if c.field != "" {
				if !errors.As(err, &ve) || ve.Field != c.field {
					t.Fatalf("err = %v, want a 422 on %s", err, c.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Width != c.w || plan.Height != c.h || plan.VideoBitrate != c.vbps || plan.AudioBitrate != c.abps {
				t.Errorf("plan %dx%d v%d a%d, want %dx%d v%d a%d", plan.Width, plan.Height, plan.VideoBitrate, plan.AudioBitrate, c.w, c.h, c.vbps, c.abps)
			}
		})
	}
}

func TestPlanOutput_clips_a_cut_made_against_longer_audio_to_the_source(t *testing.T) {
	src := media(1920, 1080, 8_000_000, 128_000) // 10 s
	segs := []domain.Segment{{Start: time.Second, End: 3 * time.Second}, {Start: 9 * time.Second, End: 10300 * time.Millisecond}}
	plan, err := domain.PlanOutput(domain.OutputSpec{Format: "mp4"}, src, segs, 3300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Segment{{Start: time.Second, End: 3 * time.Second}, {Start: 9 * time.Second, End: 10 * time.Second}}
	if len(plan.Segments) != 2 || plan.Segments[1] != want[1] || plan.Duration != 3*time.Second {
		t.Errorf("segments %v duration %s, want %v 3s", plan.Segments, plan.Duration, want)
	}
	// A segment that starts after the end is dropped; nothing left is a 422.
	plan, err = domain.PlanOutput(domain.OutputSpec{Format: "mp4"}, src, append(want, domain.Segment{Start: 10100 * time.Millisecond, End: 10300 * time.Millisecond}), 3200*time.Millisecond)
	if err != nil || len(plan.Segments) != 2 || plan.Duration != 3*time.Second {
		t.Errorf("plan %v %s, err %v", plan.Segments, plan.Duration, err)
	}
	_, err = domain.PlanOutput(domain.OutputSpec{Format: "mp4"}, src, []domain.Segment{{Start: 10100 * time.Millisecond, End: 10300 * time.Millisecond}}, 200*time.Millisecond)
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Field != "cut_id" {
		t.Errorf("a cut wholly after the source's end: err = %v, want a 422 on cut_id", err)
	}
}

func TestOutputSpec_validate(t *testing.T) {
	cases := map[string]struct {
		out   domain.OutputSpec
		field string
	}{
		"format_is_required":                 {domain.OutputSpec{}, "output.format"},
		"unknown_format":                     {domain.OutputSpec{Format: "avi"}, "output.format"},
		"tiers_are_case_sensitive":           {domain.OutputSpec{Format: "mp4", Resolution: "4K"}, "output.resolution"},
		"video_bitrate_off_the_ladder":       {domain.OutputSpec{Format: "mp4", VideoBitrate: 7}, "output.video_bitrate"},
		"audio_bitrate_off_the_ladder":       {domain.OutputSpec{Format: "mp3", AudioBitrate: 100}, "output.audio_bitrate"},
		"resolution_on_an_audio_format":      {domain.OutputSpec{Format: "m4a", Resolution: "720p"}, "output.resolution"},
		"video_bitrate_on_mp3":               {domain.OutputSpec{Format: "mp3", VideoBitrate: 5}, "output.video_bitrate"},
		"negative_bitrate_is_off_the_ladder": {domain.OutputSpec{Format: "mp4", VideoBitrate: -5}, "output.video_bitrate"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var ve *domain.ValidationError
			if err := c.out.Validate(); !errors.As(err, &ve) || ve.Field != c.field {
				t.Errorf("err = %v, want a 422 on %s", err, c.field)
			}
		})
	}
}
