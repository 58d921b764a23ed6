// Package mediatest generates short media files for tests across the repo,
// with ffmpeg's lavfi sources, into t.TempDir(). Every file is at most 3 s
// long and encoded with -preset ultrafast, so a test pays well under a second
// per file on a 2-core machine; nothing is cached between tests.
//
// Each generator documents the exact properties ffprobe reports for its file
// (Debian's ffmpeg 5.1, libx264, native AAC, libmp3lame), because other tests
// assert against them. Bitrates are given as a range: x264's rate control
// lands a little differently from machine to machine, and the ranges are
// chosen so the render ladder (5/10/20/50 Mbps video, 128–320 kbps audio,
// "more than 10 % above the source is 422") gives the same answer anywhere.
//
// Without ffmpeg on PATH a test is skipped, or fails when
// RENDERD_REQUIRE_STACK=1 (as `make test` sets), like adapters/testenv.
package mediatest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FFmpeg returns the path of the ffmpeg binary on PATH.
func FFmpeg(t testing.TB) string {
	t.Helper()
	return lookPath(t, "ffmpeg")
}

// FFprobe returns the path of the ffprobe binary on PATH.
func FFprobe(t testing.TB) string {
	t.Helper()
	return lookPath(t, "ffprobe")
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("RENDERD_REQUIRE_STACK") == "1" {
			t.Fatalf("%s is required for this test: %v", name, err)
		}
		t.Skipf("test skipped: %s not found (%v); install Debian's ffmpeg package", name, err)
	}
	return path
}

// Generate runs `ffmpeg <args> <dir>/<name>` into a fresh t.TempDir() and
// returns the output path. args hold the inputs and encoding options; the
// name's extension picks the muxer unless args say -f. It is the escape hatch
// for cases the named generators below do not cover.
func Generate(t testing.TB, name string, args ...string) string {
	t.Helper()
	if name == "" || filepath.Base(name) != name {
		t.Fatalf("mediatest.Generate: name %q must be a plain file name", name)
	}
	out := filepath.Join(t.TempDir(), name)
	ffmpeg(t, out, args...)
	return out
}

// ffmpeg runs one ffmpeg command quietly and fails the test with its stderr.
func ffmpeg(t testing.TB, out string, args ...string) {
	t.Helper()
	full := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}
	full = append(full, args...)
	// An output option (hence last): two encoder threads keep x264's output
	// the same on machines with more cores, so the documented bitrates hold.
	full = append(full, "-threads", "2", out)
	cmd := exec.Command(FFmpeg(t), full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mediatest: ffmpeg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
}

// lavfi input arguments. testsrc2 moves and shows a frame counter, so cut
// tests can tell frames apart; smptehdbars is static and far cheaper at 4K.
func testsrc2(width, height int, seconds string) []string {
	return []string{"-f", "lavfi", "-i", "testsrc2=size=" + strconv.Itoa(width) + "x" + strconv.Itoa(height) + ":rate=30:duration=" + seconds}
}

func tone(sampleRate int, seconds string) []string {
	return []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=" + strconv.Itoa(sampleRate) + ":duration=" + seconds}
}

// h264 is the video encode of every H.264 fixture: a 1 s GOP like a phone's,
// and a VBV cap so the bitrate lands in a known range.
func h264(pixFmt, maxrate, bufsize string) []string {
	return []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", pixFmt, "-g", "30",
		"-b:v", maxrate, "-maxrate", maxrate, "-bufsize", bufsize}
}

// aacStereo encodes the mono tone as stereo AAC LC at 48 kHz.
func aacStereo(bitrate string) []string {
	return []string{"-c:a", "aac", "-b:a", bitrate, "-ac", "2", "-ar", "48000"}
}

func join(parts ...[]string) []string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// Landscape1080p is landscape_1080p.mp4: container "mov,mp4,m4a,3gp,3g2,mj2",
// duration 2.000 s; video h264 (Constrained Baseline) 1920×1080, SAR 1:1,
// no rotation, "30/1" fps, yuv420p, 60 frames, GOP 30, bitrate 5.5–7.5 Mb/s
// (about 6.6); audio aac stereo 48000 Hz, 2.000 s, about 128 kb/s
// (120–136). Size about 1.7 MB. Ladder: an explicit 5 Mbps video is within
// the source, 10 Mbps is more than 10 % above it.
func Landscape1080p(t testing.TB) string {
	t.Helper()
	return Generate(t, "landscape_1080p.mp4", join(
		testsrc2(1920, 1080, "2"), tone(48000, "2"), h264("yuv420p", "6M", "3M"), aacStereo("128k"))...)
}

// Vertical1080x1920 is vertical_1080x1920.mp4: a portrait encode with no
// rotation metadata. Container "mov,mp4,m4a,3gp,3g2,mj2", duration 2.000 s;
// video h264 1080×1920, SAR 1:1, rotation 0, "30/1" fps, yuv420p, bitrate
// 5.5–7.5 Mb/s; audio aac stereo 48000 Hz, about 128 kb/s (120–136).
func Vertical1080x1920(t testing.TB) string {
	t.Helper()
	return Generate(t, "vertical_1080x1920.mp4", join(
		testsrc2(1080, 1920, "2"), tone(48000, "2"), h264("yuv420p", "6M", "3M"), aacStereo("128k"))...)
}

// Rotated90 is rotated_90.mp4: a 1920×1080 encode whose video track carries
// a display matrix that ffprobe 5.1 reports as "rotation": 90 in
// side_data_list, so it displays as 1080×1920 (MediaInfo Width 1080, Height
// 1920, Rotation 90). Container "mov,mp4,m4a,3gp,3g2,mj2", duration 2.000 s;
// video h264, coded 1920×1080, "30/1" fps, yuv420p, bitrate 5.5–7.5 Mb/s;
// audio aac stereo 48000 Hz, about 128 kb/s (120–136).
//
// ffmpeg 5.1 turns `-metadata:s:v:0 rotate=90` into a display matrix only
// when the stream is copied (an encode silently drops it, and
// -display_rotation arrives in ffmpeg 6), hence the encode-then-remux.
func Rotated90(t testing.TB) string {
	t.Helper()
	src := Generate(t, "rotated_90_source.mp4", join(
		testsrc2(1920, 1080, "2"), tone(48000, "2"), h264("yuv420p", "6M", "3M"), aacStereo("128k"))...)
	out := filepath.Join(filepath.Dir(src), "rotated_90.mp4")
	ffmpeg(t, out, "-i", src, "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90")
	removeIntermediate(t, src)
	return out
}

// UHD4K is uhd_4k.mp4: container "mov,mp4,m4a,3gp,3g2,mj2", duration
// 1.000 s; video h264 3840×2160, SAR 1:1, "30/1" fps, yuv420p, static SMPTE
// bars padded to constant bitrate 21–27 Mb/s (about 23.8); audio aac stereo
// 48000 Hz, about 128 kb/s (120–136). Size about 3 MB. Ladder: an explicit
// 20 Mbps video is within the source, 50 Mbps is above it.
func UHD4K(t testing.TB) string {
	t.Helper()
	// CBR with filler (nal-hrd=cbr) gives a 4K-like bitrate from cheap static
	// bars; testsrc2 at 4K costs several times more to generate.
	return Generate(t, "uhd_4k.mp4", join(
		[]string{"-f", "lavfi", "-i", "smptehdbars=size=3840x2160:rate=30:duration=1"}, tone(48000, "1"),
		h264("yuv420p", "25M", "12M"), []string{"-minrate", "25M", "-x264-params", "nal-hrd=cbr"},
		aacStereo("128k"))...)
}

// LowBitrate is low_bitrate_720p.mp4: container "mov,mp4,m4a,3gp,3g2,mj2",
// duration 2.000 s; video h264 1280×720, "30/1" fps, yuv420p, bitrate
// 250–450 kb/s (about 370, below every video ladder step); audio aac stereo
// 48000 Hz, 56–72 kb/s (about 64, below every audio ladder step).
func LowBitrate(t testing.TB) string {
	t.Helper()
	return Generate(t, "low_bitrate_720p.mp4", join(
		testsrc2(1280, 720, "2"), tone(48000, "2"), h264("yuv420p", "300k", "600k"), aacStereo("64k"))...)
}

// AudioM4A is audio.m4a: container "mov,mp4,m4a,3gp,3g2,mj2", duration
// 2.000 s, no video; audio aac (LC) stereo 48000 Hz, 120–136 kb/s (about
// 128), a 440 Hz tone.
func AudioM4A(t testing.TB) string {
	t.Helper()
	return Generate(t, "audio.m4a", join(tone(48000, "2"), aacStereo("128k"))...)
}

// AudioMP3 is audio.mp3: container "mp3", duration 2.037551 s (the
// encoder's delay and padding count), no video; audio mp3 stereo 44100 Hz,
// constant 128000 b/s, a 440 Hz tone.
func AudioMP3(t testing.TB) string {
	t.Helper()
	return Generate(t, "audio.mp3", join(tone(44100, "2"),
		[]string{"-c:a", "libmp3lame", "-b:a", "128k", "-ac", "2"})...)
}

// AudioMP3WithCoverArt is audio_cover.mp3: AudioMP3 plus a 320×320 mjpeg
// picture in ID3v2 (an attached_pic video stream, index 1). It is audio
// only: HasVideo false, Width/Height 0, no VideoCodec. Container "mp3",
// duration 2.037551 s; audio mp3 stereo 44100 Hz, 128000 b/s.
func AudioMP3WithCoverArt(t testing.TB) string {
	t.Helper()
	return Generate(t, "audio_cover.mp3", join(
		tone(44100, "2"),
		[]string{"-f", "lavfi", "-i", "testsrc2=size=320x320:rate=1:duration=1"},
		[]string{"-map", "0:a", "-map", "1:v", "-frames:v", "1",
			"-c:a", "libmp3lame", "-b:a", "128k", "-ac", "2",
			"-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-disposition:v:0", "attached_pic",
			"-id3v2_version", "3", "-metadata:s:v", "title=Album cover", "-metadata:s:v", "comment=Cover (front)"})...)
}

// VideoNoAudio is video_no_audio.mp4: container "mov,mp4,m4a,3gp,3g2,mj2",
// duration 2.000 s; video h264 1280×720, "30/1" fps, yuv420p, bitrate
// 1.5–2.5 Mb/s; no audio stream (HasAudio false, audio fields zero).
func VideoNoAudio(t testing.TB) string {
	t.Helper()
	return Generate(t, "video_no_audio.mp4", join(testsrc2(1280, 720, "2"), h264("yuv420p", "2M", "1M"))...)
}

// TenBit is ten_bit.mp4: H.264 High 10 (Debian's libx264 encodes 10-bit).
// Container "mov,mp4,m4a,3gp,3g2,mj2", duration 2.000 s; video h264
// 1280×720, "30/1" fps, pixel format "yuv420p10le", bitrate 1.5–2.5 Mb/s;
// audio aac stereo 48000 Hz, 120–136 kb/s.
func TenBit(t testing.TB) string {
	t.Helper()
	return Generate(t, "ten_bit.mp4", join(
		testsrc2(1280, 720, "2"), tone(48000, "2"), h264("yuv420p10le", "2M", "1M"), aacStereo("128k"))...)
}

// WithSilences is silences.m4a, audio only: container
// "mov,mp4,m4a,3gp,3g2,mj2", duration 3.000 s; aac stereo 48000 Hz,
// 60–100 kb/s (about 77: the encoder needs little for a tone). A 440 Hz
// tone at half amplitude (-6 dBFS) is cut by two digitally silent gaps:
//
//	tone 0.0–0.8 s, silence 0.8–1.1 s (0.3 s), tone 1.1–1.5 s,
//	silence 1.5–2.5 s (1.0 s), tone 2.5–3.0 s.
//
// So silence removal at -35 dB keeps [0, 1.5) and [2.5, 3.0) with a minimum
// silence of 0.5 s, and [0, 0.8), [1.1, 1.5), [2.5, 3.0) with 0.2 s
// (silencedetect finds the edges within a few ms).
func WithSilences(t testing.TB) string {
	t.Helper()
	return Generate(t, "silences.m4a",
		"-f", "lavfi", "-i",
		`aevalsrc=exprs=if(between(t\,0.8\,1.1)+between(t\,1.5\,2.5)\,0\,0.5*sin(2*PI*440*t)):s=48000:d=3:c=stereo`,
		"-c:a", "aac", "-b:a", "128k")
}

// Anamorphic is anamorphic.mp4: 1440×1080 stored with a 4:3 sample aspect
// ratio (HDV style), displayed as 1920×1080. Container
// "mov,mp4,m4a,3gp,3g2,mj2", duration 1.000 s; video h264, "30/1" fps,
// yuv420p, bitrate 1.5–3 Mb/s (about 2.4); no audio.
func Anamorphic(t testing.TB) string {
	t.Helper()
	return Generate(t, "anamorphic.mp4", join(
		testsrc2(1440, 1080, "1"), []string{"-vf", "setsar=4/3"}, h264("yuv420p", "2M", "1M"))...)
}

// DeclaredSize is declared_<width>x<height>.mp4: a single black H.264
// frame of width×height (libx264 veryfast, CRF 51), a few KB that declare a
// huge picture: 7.6 KB at 7680×4320, 27 KB at 16384×8640 (libx264 makes
// both). Container "mov,mp4,m4a,3gp,3g2,mj2", duration 0.040 s (one frame
// at 25 fps), yuv420p, no audio. A plain ffprobe reports width×height, and
// decodes the frame to do so.
func DeclaredSize(t testing.TB, width, height int) string {
	t.Helper()
	size := strconv.Itoa(width) + "x" + strconv.Itoa(height)
	return Generate(t, "declared_"+size+".mp4", "-f", "lavfi", "-i", "color=black:size="+size+":duration=0.04",
		"-frames:v", "1", "-c:v", "libx264", "-preset", "veryfast", "-crf", "51", "-pix_fmt", "yuv420p")
}

// Corrupt is corrupt.mp4: 64 KiB of pseudo-random bytes (a fixed seed, so
// every run gets the same bytes) behind a media file name. ffprobe cannot
// read it.
func Corrupt(t testing.TB) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(0x72656e64, 0x65726421))
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return writeFile(t, "corrupt.mp4", data)
}

// SnowVideo is snow.mkv: 1 s of 64×36 video in Snow, a codec ffmpeg
// encodes and the service does not accept, in an allowed container.
// renderd must reject it (codec_not_allowed) before the decoder runs.
func SnowVideo(t testing.TB) string {
	t.Helper()
	return Generate(t, "snow.mkv", "-f", "lavfi", "-i", "testsrc2=size=64x36:duration=1", "-c:v", "snow", "-strict", "-2")
}

// Empty is empty.mp4: zero bytes.
func Empty(t testing.TB) string {
	t.Helper()
	return writeFile(t, "empty.mp4", nil)
}

// Playlist is playlist.m3u8: a valid HLS VOD playlist whose one entry is
// segment.ts beside it (2.000 s of AAC stereo 48000 Hz in MPEG-TS). A plain
// ffprobe opens it as format "hls" and reads the segment; renderd must
// reject it (container_not_allowed) without touching the segment.
func Playlist(t testing.TB) string {
	t.Helper()
	segment := Generate(t, "segment.ts", join(tone(48000, "2"), aacStereo("128k"))...)
	playlist := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n" +
		"#EXTINF:2.0,\nsegment.ts\n#EXT-X-ENDLIST\n"
	out := filepath.Join(filepath.Dir(segment), "playlist.m3u8")
	if err := os.WriteFile(out, []byte(playlist), 0o644); err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	return out
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	return out
}

func removeIntermediate(t testing.TB, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatalf("mediatest: %v", err)
	}
}
