package ffmpeg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// A reader of the start of an MP3 file (verify.go): the ID3v2 tag it skips,
// the first frame header, and the Xing/Info header with its LAME tag, as
// ffmpeg's mp3 demuxer reads them. It reads at most a few KiB, whatever the
// file's size.

// errNotMP3 says no MPEG audio frame starts the file (after its ID3v2 tag).
var errNotMP3 = errors.New("not an MP3 file")

// mp3File is what the reader found.
type mp3File struct {
	version    int // 1 (MPEG-1), 2 (MPEG-2) or 25 (MPEG-2.5)
	layer      int // 1, 2 or 3
	bitrate    int // the first frame's, in bit/s
	sampleRate int
	channels   int
	// audioStart is the first frame's offset (the ID3v2 tag's size).
	audioStart int64
	// xing: the first frame is a Xing ("Xing", VBR) or Info (CBR) header
	// rather than audio; frames and bytes are its counts (0 when absent).
	xing, cbrInfo bool
	frames        uint32
	bytes         uint32
	// lame: the LAME tag (or ffmpeg's of the same layout) with the
	// encoder delay and padding, in samples.
	lame            bool
	delay, padding  int
	size            int64 // the file's
	samplesPerFrame int
}

// mp3Bitrates are the bitrates in kbit/s by [MPEG-1?][layer-1][index].
var mp3Bitrates = [2][3][16]int{
	{ // MPEG-2 and 2.5
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
	},
	{ // MPEG-1
		{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
	},
}

var mp3SampleRates = [3]int{44100, 48000, 32000}

// mp3Header is one frame header.
type mp3Header struct {
	version, layer, bitrate, sampleRate, channels, samples, bytes int
	padding                                                       bool
}

// parseMP3Header decodes a 32-bit frame header; ok is false for anything
// that is not one (no sync, reserved fields, free format).
func parseMP3Header(h uint32) (mp3Header, bool) {
	if h>>21 != 0x7ff {
		return mp3Header{}, false
	}
	var m mp3Header
	switch (h >> 19) & 3 {
	case 0:
		m.version = 25
	case 2:
		m.version = 2
	case 3:
		m.version = 1
	default:
		return mp3Header{}, false
	}
	m.layer = 4 - int((h>>17)&3)
	bri, sri := (h>>12)&15, (h>>10)&3
	if m.layer == 4 || bri == 0 || bri == 15 || sri == 3 {
		return mp3Header{}, false
	}
	mpeg1 := 0
	if m.version == 1 {
		mpeg1 = 1
	}
	m.bitrate = mp3Bitrates[mpeg1][m.layer-1][bri] * 1000
	m.sampleRate = mp3SampleRates[sri]
	switch m.version {
	case 2:
		m.sampleRate /= 2
	case 25:
		m.sampleRate /= 4
	}
	m.padding = (h>>9)&1 == 1
	m.channels = 2
	if (h>>6)&3 == 3 {
		m.channels = 1
	}
	pad := 0
	if m.padding {
		pad = 1
	}
	switch {
	case m.layer == 1:
		m.samples = 384
		m.bytes = (12*m.bitrate/m.sampleRate + pad) * 4
	case m.layer == 3 && m.version != 1:
		m.samples = 576
		m.bytes = 72*m.bitrate/m.sampleRate + pad
	default:
		m.samples = 1152
		m.bytes = 144*m.bitrate/m.sampleRate + pad
	}
	return m, true
}

// readMP3 reads the MP3 file of size bytes at r.
func readMP3(r io.ReaderAt, size int64) (mp3File, error) {
	f := mp3File{size: size}
	// ID3v2 tags (there may be several): "ID3", version, flags, a
	// syncsafe size, and a footer of 10 more bytes when flagged.
	var head [10]byte
	for {
		if _, err := r.ReadAt(head[:], f.audioStart); err != nil {
			if f.audioStart == 0 && !errors.Is(err, io.EOF) {
				return mp3File{}, err
			}
			return mp3File{}, errNotMP3
		}
		if string(head[:3]) != "ID3" {
			break
		}
		n := int64(head[6]&0x7f)<<21 | int64(head[7]&0x7f)<<14 | int64(head[8]&0x7f)<<7 | int64(head[9]&0x7f)
		f.audioStart += 10 + n
		if head[5]&0x10 != 0 {
			f.audioStart += 10
		}
	}
	// The first frame, and the next one where the first says it ends: two
	// headers in a row are what ffmpeg's probe wants of an MP3 too.
	var frame [4 + 32 + 120 + 36]byte // header, side info, Xing fields, LAME tag
	n, err := r.ReadAt(frame[:], f.audioStart)
	if err != nil && !errors.Is(err, io.EOF) {
		return mp3File{}, err
	}
	if n < 4 {
		return mp3File{}, errNotMP3
	}
	word := binary.BigEndian.Uint32(frame[:])
	h, ok := parseMP3Header(word)
	if !ok {
		return mp3File{}, errNotMP3
	}
	f.version, f.layer, f.bitrate, f.sampleRate, f.channels = h.version, h.layer, h.bitrate, h.sampleRate, h.channels
	f.samplesPerFrame = h.samples
	if next := f.audioStart + int64(h.bytes); next+4 <= size {
		var w [4]byte
		if _, err := r.ReadAt(w[:], next); err != nil {
			return mp3File{}, errShort(err)
		}
		if nh, ok := parseMP3Header(binary.BigEndian.Uint32(w[:])); !ok || nh.version != h.version || nh.layer != h.layer || nh.sampleRate != h.sampleRate {
			return mp3File{}, errors.New("an MP3 frame header with no second frame header after it")
		}
	} else if next > size {
		return mp3File{}, fmt.Errorf("the first MP3 frame is truncated (%d bytes, %d left)", h.bytes, size-f.audioStart)
	}
	if h.layer == 3 {
		f.readXing(frame[:n], h)
	}
	return f, nil
}

// readXing reads a Xing or Info header where Layer III's side information
// ends in the first frame, and the LAME tag after it.
func (f *mp3File) readXing(frame []byte, h mp3Header) {
	side := 17 // MPEG-1 mono, MPEG-2 stereo
	switch {
	case h.version == 1 && h.channels == 2:
		side = 32
	case h.version != 1 && h.channels == 1:
		side = 9
	}
	p := skip(frame, 4+side)
	if len(p) < 8 || (string(p[:4]) != "Xing" && string(p[:4]) != "Info") {
		return
	}
	f.xing, f.cbrInfo = true, string(p[:4]) == "Info"
	flags := binary.BigEndian.Uint32(p[4:])
	p = p[8:]
	field := func() uint32 {
		if len(p) < 4 {
			p = nil
			return 0
		}
		v := binary.BigEndian.Uint32(p)
		p = p[4:]
		return v
	}
	if flags&1 != 0 {
		f.frames = field()
	}
	if flags&2 != 0 {
		f.bytes = field()
	}
	if flags&4 != 0 {
		p = skip(p, 100) // seek table
	}
	if flags&8 != 0 {
		p = skip(p, 4) // quality
	}
	// The LAME tag: a 9-byte encoder version, then at byte 21 the delay
	// and padding as two 12-bit numbers. ffmpeg's mp3 muxer writes the tag
	// with its own name ("Lavc59.37"); its demuxer reads these three.
	if len(p) >= 24 && (string(p[:4]) == "LAME" || string(p[:4]) == "Lavc" || string(p[:4]) == "Lavf") {
		f.lame = true
		f.delay = int(p[21])<<4 | int(p[22])>>4
		f.padding = int(p[22]&0x0f)<<8 | int(p[23])
	}
}

// mp3Timebase is the mp3 demuxer's time base, 1/14112000 s: a whole
// number of ticks per sample at every MP3 rate.
const mp3Timebase = 14112000

// duration is what ffprobe says of the file: the Xing/Info frame count's
// samples (priming included), or, with no count, the audio's bytes at the
// first frame's bitrate, rounded to the demuxer's ticks and then to the
// microsecond, as ffprobe prints it.
func (f mp3File) duration() time.Duration {
	if f.frames > 0 {
		return samples64(int64(f.frames)*int64(f.samplesPerFrame), f.sampleRate)
	}
	ticks := math.Round(float64(f.size-f.audioStart) * 8 * mp3Timebase / float64(f.bitrate))
	return time.Duration(math.Round(ticks*1e6/mp3Timebase)) * time.Microsecond
}

// streamBitrate is ffprobe's: a VBR (Xing) file's average from its byte
// and frame counts, else the first frame's bitrate.
func (f mp3File) streamBitrate() int64 {
	if f.xing && !f.cbrInfo && f.frames > 0 && f.bytes > 0 {
		return int64(f.bytes) * 8 * int64(f.sampleRate) / (int64(f.frames) * int64(f.samplesPerFrame))
	}
	return int64(f.bitrate)
}

// samples64 is n samples at rate, rounded to the microsecond as ffprobe
// prints it.
func samples64(n int64, rate int) time.Duration {
	us := (n*1_000_000 + int64(rate)/2) / int64(rate)
	return time.Duration(us) * time.Microsecond
}
