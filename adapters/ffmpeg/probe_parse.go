package ffmpeg

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/renderd/renderd/domain"
)

// probeOutput is the part of `ffprobe -print_format json -show_format
// -show_streams` this package reads.
type probeOutput struct {
	Streams []probeStream `json:"streams"`
	Format  probeFormat   `json:"format"`
}

type probeFormat struct {
	FormatName string `json:"format_name"`
	Duration   string `json:"duration"`
	Size       string `json:"size"`
	BitRate    string `json:"bit_rate"`
}

type probeStream struct {
	Index             int               `json:"index"`
	CodecName         string            `json:"codec_name"`
	CodecType         string            `json:"codec_type"`
	Width             int               `json:"width"`
	Height            int               `json:"height"`
	SampleAspectRatio string            `json:"sample_aspect_ratio"`
	PixFmt            string            `json:"pix_fmt"`
	RFrameRate        string            `json:"r_frame_rate"`
	AvgFrameRate      string            `json:"avg_frame_rate"`
	SampleRate        string            `json:"sample_rate"`
	Channels          int               `json:"channels"`
	Duration          string            `json:"duration"`
	BitRate           string            `json:"bit_rate"`
	Disposition       map[string]int    `json:"disposition"`
	Tags              map[string]string `json:"tags"`
	SideDataList      []probeSideData   `json:"side_data_list"`
}

type probeSideData struct {
	SideDataType string   `json:"side_data_type"`
	Rotation     *float64 `json:"rotation"`
}

// parseProbe turns ffprobe's JSON into MediaInfo. It is pure so the rules
// (displayed size, cover art, bitrate estimates) are tested on recorded
// output. Media that cannot be a source yields a *ProbeError; JSON that is
// not ffprobe's yields a plain error, since that is the worker's fault.
func parseProbe(data []byte) (domain.MediaInfo, error) {
	var out probeOutput
	if err := json.Unmarshal(data, &out); err != nil {
		return domain.MediaInfo{}, fmt.Errorf("ffprobe output: %w", err)
	}
	if _, ok := demuxerFor(out.Format.FormatName); !ok {
		// format_whitelist already stops these; this guards the rule if an
		// ffprobe ever ignored the option.
		return domain.MediaInfo{}, &ProbeError{Code: domain.FailureContainerNotAllowed,
			Message: fmt.Sprintf("container %q is not allowed", out.Format.FormatName)}
	}

	info := domain.MediaInfo{Container: out.Format.FormatName}
	info.SizeBytes, _ = strconv.ParseInt(out.Format.Size, 10, 64)

	video, audio, undecodable := pickStreams(out.Streams)
	if video == nil && audio == nil {
		if undecodable {
			return domain.MediaInfo{}, &ProbeError{Code: domain.FailureSourceUnreadable, Message: "no decodable audio or video stream"}
		}
		return domain.MediaInfo{}, &ProbeError{Code: domain.FailureNoMediaStreams, Message: "the file has no audio or video stream"}
	}

	info.Duration = seconds(out.Format.Duration)
	if info.Duration <= 0 {
		// Some muxers leave the container duration out; the longest stream
		// is what a player would play.
		for _, s := range out.Streams {
			info.Duration = max(info.Duration, streamDuration(s))
		}
	}
	if info.Duration <= 0 {
		return domain.MediaInfo{}, &ProbeError{Code: domain.FailureSourceUnreadable, Message: "the media has no measurable duration"}
	}

	if video != nil {
		info.HasVideo = true
		info.VideoCodec = video.CodecName
		info.PixelFormat = video.PixFmt
		info.FrameRate = frameRate(video.AvgFrameRate)
		if info.FrameRate == "" {
			info.FrameRate = frameRate(video.RFrameRate)
		}
		info.Rotation = rotation(*video)
		info.Width, info.Height = displayedSize(video.Width, video.Height, video.SampleAspectRatio, info.Rotation)
		info.VideoBitrate = streamBitrate(*video)
	}
	if audio != nil {
		info.HasAudio = true
		info.AudioCodec = audio.CodecName
		info.AudioChannels = audio.Channels
		info.AudioSampleRate, _ = strconv.Atoi(audio.SampleRate)
		info.AudioBitrate = streamBitrate(*audio)
	}
	estimateBitrates(&info, out.Format.BitRate)
	return info, nil
}

// pickStreams returns the first real video stream and the first audio
// stream, the ones ffmpeg's -map 0:v:0 / 0:a:0 would mostly take. Cover art
// (attached_pic) and timed thumbnails are pictures, not video. undecodable
// reports audio or video streams skipped because ffprobe knows no codec or
// no picture size for them.
func pickStreams(streams []probeStream) (video, audio *probeStream, undecodable bool) {
	for i := range streams {
		s := &streams[i]
		known := s.CodecName != "" && s.CodecName != "unknown" && s.CodecName != "none"
		switch s.CodecType {
		case "video":
			if s.Disposition["attached_pic"] == 1 || s.Disposition["timed_thumbnails"] == 1 {
				continue
			}
			if !known || s.Width <= 0 || s.Height <= 0 {
				undecodable = true
				continue
			}
			if video == nil {
				video = s
			}
		case "audio":
			if !known {
				undecodable = true
				continue
			}
			if audio == nil {
				audio = s
			}
		}
	}
	return video, audio, undecodable
}

// rotation returns the display rotation in degrees, counter-clockwise as the
// display matrix (and ffprobe's "rotation") counts, normalised to 0, 90, 180
// or 270. ffprobe 5.1 reports it in side_data_list; older ffprobes and some
// tools only set the legacy "rotate" tag, which counts clockwise (a phone's
// portrait clip: rotate=90, matrix -90), so it is negated.
func rotation(s probeStream) int {
	for _, sd := range s.SideDataList {
		if sd.SideDataType == "Display Matrix" && sd.Rotation != nil {
			return normaliseRotation(*sd.Rotation)
		}
	}
	if tag, ok := s.Tags["rotate"]; ok {
		if deg, err := strconv.ParseFloat(strings.TrimSpace(tag), 64); err == nil {
			return normaliseRotation(-deg)
		}
	}
	return 0
}

// normaliseRotation snaps to the nearest quarter turn in [0, 360): players
// and ffmpeg's autorotate only honour quarter turns.
func normaliseRotation(deg float64) int {
	if math.IsNaN(deg) || math.IsInf(deg, 0) {
		return 0
	}
	quarter := int(math.Round(deg/90)) % 4
	if quarter < 0 {
		quarter += 4
	}
	return quarter * 90
}

// displayedSize applies the sample aspect ratio (a non-square pixel stretches
// the width, rounded to even as a scaler needs) and then the rotation (a
// quarter turn swaps the edges): the size a viewer sees, which the
// resolution tiers are measured against.
func displayedSize(width, height int, sar string, rot int) (int, int) {
	if num, den, ok := ratio(sar, ":"); ok && num != den {
		width = int(math.Round(float64(width)*float64(num)/float64(den)/2)) * 2
	}
	if rot == 90 || rot == 270 {
		width, height = height, width
	}
	return width, height
}

// frameRate returns a "num/den" rate, or "" when ffprobe has none ("0/0").
func frameRate(r string) string {
	if _, _, ok := ratio(r, "/"); !ok {
		return ""
	}
	return r
}

// ratio parses "num<sep>den" with both positive.
func ratio(s, sep string) (num, den int64, ok bool) {
	a, b, found := strings.Cut(s, sep)
	if !found {
		return 0, 0, false
	}
	num, errA := strconv.ParseInt(a, 10, 64)
	den, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil || num <= 0 || den <= 0 {
		return 0, 0, false
	}
	return num, den, true
}

// streamBitrate reads the stream's bit_rate or, failing that, the BPS
// statistics tag mkvmerge writes into Matroska files (ffmpeg's own muxer
// does not, hence estimateBitrates).
func streamBitrate(s probeStream) int64 {
	if v, err := strconv.ParseInt(s.BitRate, 10, 64); err == nil && v > 0 {
		return v
	}
	for _, key := range []string{"BPS", "BPS-eng"} {
		if v, err := strconv.ParseInt(s.Tags[key], 10, 64); err == nil && v > 0 {
			return v
		}
	}
	return 0
}

// estimateBitrates fills bitrates the streams do not state (Matroska/WebM
// written by ffmpeg, some MPEG-TS) from the whole file: total = size·8 /
// duration. Video gets the total minus the audio it knows of (the whole when
// there is no audio, or the audio's rate is unknown too, which errs high: a
// too-high source rate makes the ladder check lenient, and encodes are
// capped anyway); audio-only files give audio the total.
func estimateBitrates(info *domain.MediaInfo, formatBitRate string) {
	if (!info.HasVideo || info.VideoBitrate > 0) && (!info.HasAudio || info.AudioBitrate > 0) {
		return
	}
	var total int64
	if info.SizeBytes > 0 && info.Duration > 0 {
		total = int64(math.Round(float64(info.SizeBytes) * 8 / info.Duration.Seconds()))
	} else if v, err := strconv.ParseInt(formatBitRate, 10, 64); err == nil && v > 0 {
		total = v
	}
	if total <= 0 {
		return
	}
	switch {
	case info.HasVideo && info.VideoBitrate == 0:
		info.VideoBitrate = max(total-info.AudioBitrate, 0)
	case !info.HasVideo && info.AudioBitrate == 0:
		info.AudioBitrate = total
	}
}

// streamDuration is the stream's duration, or Matroska's DURATION tag
// ("00:00:02.021000000") where the stream has none.
func streamDuration(s probeStream) time.Duration {
	if d := seconds(s.Duration); d > 0 {
		return d
	}
	for _, key := range []string{"DURATION", "DURATION-eng"} {
		if d := clockDuration(s.Tags[key]); d > 0 {
			return d
		}
	}
	return 0
}

// seconds parses ffprobe's decimal seconds ("2.000000"), to the microsecond
// ffprobe prints; anything else ("N/A", "") is zero.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond
}

// clockDuration parses "HH:MM:SS.fraction".
func clockDuration(s string) time.Duration {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0
	}
	h, errH := strconv.Atoi(parts[0])
	m, errM := strconv.Atoi(parts[1])
	sec := seconds(parts[2])
	if errH != nil || errM != nil || h < 0 || m < 0 {
		return 0
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + sec
}
