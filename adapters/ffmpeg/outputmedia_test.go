package ffmpeg

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// Hand-built MP4s: each box as ffmpeg's mov muxer writes it, with only the
// fields the reader reads set.

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func box(typ string, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(append(be32(uint32(8+len(body))), typ...), body...)
}

func fullBox(typ string, parts ...[]byte) []byte {
	return box(typ, append([][]byte{be32(0)}, parts...)...)
}

// testTrack describes a trak.
type testTrack struct {
	handler, format     string
	width, height       int // video: coded and tkhd size
	matrixA, matrixB    int32
	rate, channels      int // audio
	timescale, duration uint32
	edit                uint32 // elst segment in the movie's ms; 0: no edit list
	samples, sampleSize uint32
}

func (tt testTrack) trak() []byte {
	matrix := bytes.Join([][]byte{be32(uint32(tt.matrixA)), be32(uint32(tt.matrixB)), be32(0),
		be32(uint32(-tt.matrixB)), be32(uint32(tt.matrixA)), be32(0), be32(0), be32(0), be32(1 << 30)}, nil)
	tkhd := fullBox("tkhd", make([]byte, 20), make([]byte, 16), matrix, be32(uint32(tt.width)<<16), be32(uint32(tt.height)<<16))
	var entry []byte
	switch tt.handler {
	case "vide":
		entry = box(tt.format, make([]byte, 8), make([]byte, 16), be16(uint16(tt.width)), be16(uint16(tt.height)), make([]byte, 50))
	case "soun":
		// The sample entry says 2 channels, as the mp4 muxer writes it; the
		// AudioSpecificConfig has the truth (AAC LC, rate index, channels).
		idx := map[int]byte{48000: 3, 44100: 4}[tt.rate]
		asc := []byte{2<<3 | idx>>1, idx<<7 | byte(tt.channels)<<3}
		dcd := append([]byte{0x04, byte(13 + 2 + len(asc)), 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, append([]byte{0x05, byte(len(asc))}, asc...)...)
		esd := append([]byte{0x03, byte(3 + len(dcd)), 0, 1, 0}, dcd...)
		entry = box(tt.format, make([]byte, 8), make([]byte, 8), be16(2), be16(16), be32(0), be32(uint32(tt.rate)<<16),
			fullBox("esds", esd))
	}
	mdhd := fullBox("mdhd", be32(0), be32(0), be32(tt.timescale), be32(tt.duration), be32(0))
	var edts []byte
	if tt.edit > 0 {
		edts = box("edts", fullBox("elst", be32(1), be32(tt.edit), be32(0), be32(1<<16)))
	}
	delta := tt.duration / max(tt.samples, 1)
	stbl := box("stbl",
		fullBox("stsd", be32(1), entry),
		fullBox("stts", be32(1), be32(tt.samples), be32(delta)),
		fullBox("stsz", be32(tt.sampleSize), be32(tt.samples)))
	return box("trak", tkhd, edts, box("mdia", mdhd, fullBox("hdlr", be32(0), []byte(tt.handler), make([]byte, 12)),
		box("minf", stbl)))
}

// 1280×720 h264 at 15360 ticks/s and AAC stereo 48 kHz, both 2 s.
var (
	testVideo = testTrack{handler: "vide", format: "avc1", width: 1280, height: 720, matrixA: 1 << 16,
		timescale: 15360, duration: 30720, edit: 2000, samples: 60, sampleSize: 4000}
	testAudio = testTrack{handler: "soun", format: "mp4a", rate: 48000, channels: 2,
		timescale: 48000, duration: 97280, edit: 2000, samples: 95, sampleSize: 340}
)

func moov(tracks ...testTrack) []byte {
	parts := [][]byte{fullBox("mvhd", be32(0), be32(0), be32(1000), be32(2000), make([]byte, 80))}
	for _, tt := range tracks {
		parts = append(parts, tt.trak())
	}
	return box("moov", parts...)
}

func ftyp() []byte { return box("ftyp", []byte("isom"), be32(512), []byte("isomiso2avc1mp41")) }

func mdat() []byte { return box("mdat", make([]byte, 64)) }

// testMP4 is a faststart file of the tracks.
func testMP4(tracks ...testTrack) []byte {
	return bytes.Join([][]byte{ftyp(), moov(tracks...), mdat()}, nil)
}

// Hand-built MP3s: MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, joint stereo.

const mp3Header128k = 0xFFFB9064

// mp3Frames is n frames of silence (417 bytes each, unpadded) after an
// ID3v2 tag, the first frame holding an Info header with the frame count
// and a LAME tag when xing.
func mp3Frames(n int, xing bool) []byte {
	id3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x15"), make([]byte, 0x15)...)
	frame := func() []byte { return append(be32(mp3Header128k), make([]byte, 413)...) }
	out := id3
	if xing {
		f := frame()
		tag := append([]byte("Info"), be32(1|2)...)
		tag = append(tag, be32(uint32(n))...)
		tag = append(tag, be32(uint32(n*417))...)
		lame := append([]byte("LAME3.100"), make([]byte, 12)...)
		lame = append(lame, 576>>4, (576&0xf)<<4|1044>>8, 1044&0xff) // delay 576, padding 1044
		copy(f[4+32:], append(tag, lame...))
		out = append(out, f...)
	}
	for range n {
		out = append(out, frame()...)
	}
	return out
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadOutput_hand_built_mp4(t *testing.T) {
	t.Parallel()
	got, err := readMedia(bytes.NewReader(testMP4(testVideo, testAudio)), int64(len(testMP4(testVideo, testAudio))))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.MediaInfo{Container: movFormatName, Duration: 2 * time.Second, SizeBytes: int64(len(testMP4(testVideo, testAudio))),
		HasVideo: true, VideoCodec: "h264", Width: 1280, Height: 720, VideoBitrate: 60 * 4000 * 8 / 2,
		HasAudio: true, AudioCodec: "aac", AudioChannels: 2, AudioSampleRate: 48000, AudioBitrate: 95 * 340 * 8 * 48000 / 97280}
	if got.info != want {
		t.Errorf("got  %+v\nwant %+v", got.info, want)
	}
	// The audio's mdhd says 2.027 s; its edit list plays 2 s.
	if got.videoDuration != 2*time.Second || got.audioDuration != 2*time.Second || got.moovAfterMdat {
		t.Errorf("streams %v/%v, moov after mdat %v", got.videoDuration, got.audioDuration, got.moovAfterMdat)
	}
}

func TestReadOutput_rotation_and_the_sample_entrys_channels(t *testing.T) {
	t.Parallel()
	// The display matrix of rotate=90 (ffprobe: rotation 90, counter-
	// clockwise): b = -1.
	rotated := testVideo
	rotated.matrixA, rotated.matrixB = 0, -1<<16
	mono := testAudio
	mono.channels = 1
	data := testMP4(rotated, mono)
	got, err := readMedia(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if i := got.info; i.Width != 720 || i.Height != 1280 || i.Rotation != 90 || i.AudioChannels != 1 {
		t.Errorf("got %d×%d rotation %d, %d channels; want 720×1280 rotation 90, 1 channel", i.Width, i.Height, i.Rotation, i.AudioChannels)
	}
}

func TestReadOutput_mp3_with_xing_and_lame_tag(t *testing.T) {
	t.Parallel()
	data := mp3Frames(100, true)
	f, err := readMP3(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if f.version != 1 || f.layer != 3 || f.bitrate != 128000 || f.sampleRate != 44100 || f.channels != 2 || f.audioStart != 31 {
		t.Errorf("header %+v", f)
	}
	if !f.xing || !f.cbrInfo || f.frames != 100 || !f.lame || f.delay != 576 || f.padding != 1044 {
		t.Errorf("Info/LAME %+v", f)
	}
	got, err := f.media()
	if err != nil {
		t.Fatal(err)
	}
	// 100 frames of 1152 samples: 2.612245 s, priming included.
	if got.info.Duration != 2612245*time.Microsecond || got.info.AudioBitrate != 128000 || got.info.AudioCodec != "mp3" {
		t.Errorf("got %+v", got.info)
	}
}

func TestReadOutput_mp3_without_xing_header_takes_the_duration_from_size_and_bitrate(t *testing.T) {
	t.Parallel()
	data := mp3Frames(100, false)
	got, err := readMedia(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	// 41700 audio bytes at 128 kbit/s.
	if want := 2606250 * time.Microsecond; got.info.Duration != want || got.audioDuration != want {
		t.Errorf("duration %v, stream %v; want %v", got.info.Duration, got.audioDuration, want)
	}
}

func TestVerify_hand_built_outputs(t *testing.T) {
	t.Parallel()
	hd := encoders.Expect{Container: "mp4", VideoCodec: "h264", AudioCodec: "aac", Width: 1280, Height: 720,
		Duration: 2 * time.Second, FrameRate: "30/1", Faststart: true}
	mp3 := encoders.Expect{Container: "mp3", AudioCodec: "mp3", Duration: 2606 * time.Millisecond}
	valid := testMP4(testVideo, testAudio)
	with := func(base testTrack, change func(*testTrack)) testTrack { change(&base); return base }
	largeSize := append(append(be32(1), "free"...), binary.BigEndian.AppendUint64(nil, 1<<40)...)
	tests := []struct {
		rule string
		data []byte
		want encoders.Expect
		fail string // "" when the output passes, else what the message says
	}{
		{"matching_mp4_passes", valid, hd, ""},
		{"cbr_mp3_without_xing_passes", mp3Frames(100, false), mp3, ""},
		{"truncated_box_fails", valid[:len(valid)-100], hd, "runs past its container"},
		{"box_header_cut_short_fails", append(testMP4(testVideo, testAudio), 0, 0, 0), hd, "truncated box header"},
		{"size_0_inside_a_box_fails", append(ftyp(), box("moov", be32(0), []byte("trak"))...), hd, "size 0 inside another box"},
		{"size_smaller_than_its_header_fails", append(ftyp(), append(be32(4), "moov"...)...), hd, "smaller than its header"},
		{"overflowing_64_bit_size_fails", append(append(ftyp(), largeSize...), make([]byte, 16)...), hd, "runs past its container"},
		{"mdat_before_moov_fails_faststart", bytes.Join([][]byte{ftyp(), mdat(), moov(testVideo, testAudio)}, nil), hd,
			"faststart: the moov box follows the media data"},
		{"no_moov_fails", append(ftyp(), mdat()...), hd, "no moov box"},
		{"missing_trak_fails", bytes.Join([][]byte{ftyp(), moov(), mdat()}, nil), hd, "no audio or video track"},
		{"unknown_video_codec_fails", testMP4(with(testVideo, func(tt *testTrack) { tt.format = "xyz1" }), testAudio), hd,
			"video codec: got xyz1, want h264"},
		{"mp3_in_mp4_is_not_aac", testMP4(testVideo, with(testAudio, func(tt *testTrack) { tt.format = ".mp3" })), hd,
			"audio codec: got mp3, want aac"},
		{"wrong_size_fails", testMP4(with(testVideo, func(tt *testTrack) { tt.width, tt.height = 640, 360 }), testAudio), hd,
			"size: got 640×360, want 1280×720"},
		{"duration_off_fails", testMP4(testVideo, testAudio), withExpect(hd, func(e *encoders.Expect) { e.Duration = 2200 * time.Millisecond }),
			"duration: got 2s, want 2.2s ±50ms"},
		{"audio_out_of_sync_fails", testMP4(testVideo, with(testAudio, func(tt *testTrack) { tt.edit = 1000 })), hd,
			"sync: video lasts 2s, audio 1s, 1s apart (at most 71.333333ms)"},
		{"missing_audio_fails", testMP4(testVideo), hd, "audio: no audio stream, want aac"},
		{"mp3_garbage_fails", bytes.Repeat([]byte("garbage!"), 100), mp3, "neither an MP4/MOV/M4A nor an MP3 file"},
		{"mp3_with_one_header_only_fails", append(be32(mp3Header128k), make([]byte, 1000)...), mp3, "no second frame header after it"},
		{"mp3_truncated_first_frame_fails", append(be32(mp3Header128k), make([]byte, 100)...), mp3, "first MP3 frame is truncated"},
		{"mp3_duration_off_fails", mp3Frames(50, true), mp3, "duration: got 1.306122s, want 2.606s"},
		{"empty_file_fails", nil, hd, "the file is empty"},
	}
	verifier := NewEncoder("", 0, EncodeLimits{}, nil)
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			info, err := verifier.Verify(context.Background(), writeTemp(t, "render.part", tt.data), tt.want)
			assertVerdict(t, info, err, tt.fail)
		})
	}
}

func withExpect(e encoders.Expect, change func(*encoders.Expect)) encoders.Expect {
	change(&e)
	return e
}

// sparseFile is a file of size bytes that are zero but for data at 0.
type sparseFile struct {
	data []byte
	size int64
}

func (s sparseFile) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(s.data)) {
		copy(p, s.data[off:])
	}
	return len(p), nil
}

func TestReadOutput_sizes_in_the_file_never_decide_an_allocation(t *testing.T) {
	// A moov of 64 MiB whose mvhd claims all of it, and one whose sample
	// table (stsz) holds 16 M entries: the first is refused, the second
	// summed through the fixed buffer.
	const big = 64 << 20
	hugeMvhd := append(ftyp(), append(append(be32(big+16), "moov"...), append(be32(big+8), "mvhd"...)...)...)
	stszHead := append(append(be32(big+8), "stsz"...), append(be32(0), append(be32(0), be32(big/4-3)...)...)...)
	trak := append(append(be32(big+8+8+8+8+8), "trak"...), append(append(be32(big+8+8+8+8), "mdia"...),
		append(append(be32(big+8+8+8), "minf"...), append(append(be32(big+8+8), "stbl"...), stszHead...)...)...)...)
	mv := fullBox("mvhd", be32(0), be32(0), be32(1000), be32(2000), make([]byte, 80))
	hugeStsz := append(ftyp(), append(append(be32(uint32(8+len(mv)+big+40)), "moov"...), append(mv, trak...)...)...)
	for _, tt := range []struct {
		name string
		data []byte
		size int64
		fail string
	}{
		{"box_read_whole", hugeMvhd, int64(len(ftyp())) + big + 16, "more than the 65536 read whole"},
		{"sample_table", hugeStsz, int64(len(ftyp())) + int64(8+len(mv)+big+40), "trak without mdhd"},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := readMedia(sparseFile{tt.data, tt.size}, tt.size)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), tt.fail) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.fail)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: reading allocated %d bytes", tt.name, alloc)
		}
	}
}

// checkRead reads data as an output: it must not panic, and what it accepts
// must be a stream with a duration.
func checkRead(t *testing.T, data []byte) {
	got, err := readMedia(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return
	}
	if got.info.Duration <= 0 || got.info.Container == "" || !(got.info.HasVideo || got.info.HasAudio) {
		t.Fatalf("accepted %+v", got.info)
	}
}

func FuzzReadMP4(f *testing.F) {
	rotated := testVideo
	rotated.matrixA, rotated.matrixB = 0, 1<<16
	f.Add(testMP4(testVideo, testAudio))
	f.Add(testMP4(rotated))
	f.Add(testMP4(testAudio))
	f.Add(bytes.Join([][]byte{ftyp(), mdat(), moov(testVideo, testAudio)}, nil))
	f.Fuzz(checkRead)
}

func FuzzReadMP3(f *testing.F) {
	f.Add(mp3Frames(3, true))
	f.Add(mp3Frames(3, false))
	f.Add(mp3Frames(1, true)[31:])
	f.Fuzz(checkRead)
}
