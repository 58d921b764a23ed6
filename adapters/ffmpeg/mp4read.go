package ffmpeg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// A reader of the ISO base media (MP4, MOV, M4A) boxes an output's check
// needs (verify.go): it reads box headers and the few small boxes it parses
// through an io.ReaderAt, never the media data. Every size in the file is
// untrusted: a box must lie within its parent and the file, a box read into
// memory is at most maxBoxRead bytes, and sample tables are summed through a
// fixed buffer, so no size field decides an allocation.

// maxBoxRead bounds a box read whole (mvhd, tkhd, mdhd, hdlr, elst, stsd):
// ffmpeg writes them in well under a KiB.
const maxBoxRead = 64 << 10

// maxTracks bounds the tracks read; a render has at most two.
const maxTracks = 16

// errNotMP4 says the file does not start with an ftyp box.
var errNotMP4 = errors.New("not an MP4/MOV file")

// mp4Box is one box: its type and where it lies.
type mp4Box struct {
	typ          string
	data         int64 // its payload's first byte
	end          int64 // one past its last byte
	payloadBytes int64
}

// mp4File is what the reader found in an MP4/MOV/M4A file.
type mp4File struct {
	moovBeforeMdat bool // faststart: the index precedes the media data
	hasMdat        bool
	timescale      uint32 // mvhd's
	duration       uint64 // mvhd's, in timescale
	tracks         []mp4Track
}

// mp4Track is one trak: handler, sample entry and timing.
type mp4Track struct {
	handler    string // "vide", "soun", …
	format     string // the first sample entry's type: "avc1", "mp4a", …
	objectType byte   // mp4a's esds objectTypeIndication (0x40 AAC, 0x69/0x6B MP3)
	// ascRate and ascChannels are AAC's AudioSpecificConfig's, which
	// ffprobe reports rather than the sample entry's (the mp4 muxer
	// always writes 2 channels there); 0 when absent.
	ascRate, ascChannels int

	tkhdWidth, tkhdHeight float64 // displayed size before rotation (16.16)
	matrixA, matrixB      int32   // the display matrix's first row (16.16)
	width, height         int     // the video sample entry's coded size
	channels, sampleRate  int     // the audio sample entry's

	timescale uint32 // mdhd's
	duration  uint64 // mdhd's, in timescale
	sttsTotal uint64 // sum of the sample durations (stts)
	dataSize  uint64 // sum of the sample sizes (stsz)
	edits     []mp4Edit
}

// mp4Edit is one elst entry: segment duration in the movie's timescale,
// media time in the track's (-1: an empty edit).
type mp4Edit struct {
	duration  uint64
	mediaTime int64
}

// boxes calls visit for each box in [from, to). A box that overruns its
// parent, or is smaller than its header, is an error; size 0 ("to the end")
// is allowed only where the parent ends at the file's end (top level).
func boxes(r io.ReaderAt, from, to int64, topLevel bool, visit func(mp4Box) error) error {
	var hdr [16]byte
	for at := from; at < to; {
		if to-at < 8 {
			return fmt.Errorf("truncated box header at byte %d", at)
		}
		if _, err := r.ReadAt(hdr[:8], at); err != nil {
			return fmt.Errorf("box header at byte %d: %w", at, errShort(err))
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		b := mp4Box{typ: string(hdr[4:8]), data: at + 8}
		switch size {
		case 0:
			if !topLevel {
				return fmt.Errorf("box %q at byte %d has size 0 inside another box", printable(b.typ), at)
			}
			size = to - at
		case 1:
			if to-at < 16 {
				return fmt.Errorf("truncated box header at byte %d", at)
			}
			if _, err := r.ReadAt(hdr[8:16], at+8); err != nil {
				return fmt.Errorf("box header at byte %d: %w", at, errShort(err))
			}
			large := binary.BigEndian.Uint64(hdr[8:16])
			if large > math.MaxInt64 {
				return fmt.Errorf("box %q at byte %d: size %d overflows", printable(b.typ), at, large)
			}
			size, b.data = int64(large), at+16
		}
		if size < b.data-at {
			return fmt.Errorf("box %q at byte %d: size %d is smaller than its header", printable(b.typ), at, size)
		}
		if size > to-at {
			return fmt.Errorf("box %q at byte %d: size %d runs past its container (%d bytes left)", printable(b.typ), at, size, to-at)
		}
		b.end = at + size
		b.payloadBytes = b.end - b.data
		if err := visit(b); err != nil {
			return err
		}
		at = b.end
	}
	return nil
}

// errShort turns a read that ended early into a truncation.
func errShort(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// printable keeps a box type fit for a message.
func printable(typ string) string {
	b := []byte(typ)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// payload reads a box's payload whole, refusing one over maxBoxRead.
func payload(r io.ReaderAt, b mp4Box) ([]byte, error) {
	if b.payloadBytes > maxBoxRead {
		return nil, fmt.Errorf("box %q is %d bytes, more than the %d read whole", printable(b.typ), b.payloadBytes, maxBoxRead)
	}
	p := make([]byte, b.payloadBytes)
	if _, err := r.ReadAt(p, b.data); err != nil {
		return nil, fmt.Errorf("box %q: %w", printable(b.typ), errShort(err))
	}
	return p, nil
}

// parseBox reads b whole and hands it to parse, whose error it prefixes
// with the box's type.
func parseBox(r io.ReaderAt, b mp4Box, parse func([]byte) error) error {
	p, err := payload(r, b)
	if err != nil {
		return err
	}
	if err := parse(p); err != nil {
		return fmt.Errorf("%s: %w", printable(b.typ), err)
	}
	return nil
}

// readMP4 reads the boxes of the file of size bytes at r.
func readMP4(r io.ReaderAt, size int64) (mp4File, error) {
	var f mp4File
	var sawFtyp, sawMoov bool
	err := boxes(r, 0, size, true, func(b mp4Box) error {
		switch {
		case !sawFtyp && b.typ != "ftyp":
			return errNotMP4
		case b.typ == "ftyp":
			sawFtyp = true // its brands are the muxer's business
		case b.typ == "moov":
			if sawMoov {
				return errors.New("two moov boxes")
			}
			sawMoov = true
			f.moovBeforeMdat = !f.hasMdat
			return readMoov(r, b, &f)
		case b.typ == "mdat":
			f.hasMdat = true
		}
		return nil
	})
	if err != nil {
		return mp4File{}, err
	}
	if !sawMoov {
		return mp4File{}, errors.New("no moov box")
	}
	return f, nil
}

func readMoov(r io.ReaderAt, moov mp4Box, f *mp4File) error {
	var sawMvhd bool
	return boxes(r, moov.data, moov.end, false, func(b mp4Box) error {
		switch b.typ {
		case "mvhd":
			sawMvhd = true
			return parseBox(r, b, func(p []byte) (err error) {
				f.timescale, f.duration, err = timing(p)
				return err
			})
		case "trak":
			if !sawMvhd {
				return errors.New("trak before mvhd")
			}
			if len(f.tracks) == maxTracks {
				return fmt.Errorf("more than %d tracks", maxTracks)
			}
			t, err := readTrak(r, b)
			if err != nil {
				return err
			}
			f.tracks = append(f.tracks, t)
		}
		return nil
	})
}

// timing reads the timescale and duration of an mvhd or mdhd payload:
// version(1) flags(3), then times, timescale and duration, in 32-bit fields
// in version 0, 64-bit in version 1.
func timing(p []byte) (timescale uint32, duration uint64, err error) {
	if len(p) < 4 {
		return 0, 0, errors.New("too short")
	}
	switch p[0] {
	case 0:
		if len(p) < 20 {
			return 0, 0, errors.New("too short")
		}
		timescale, duration = binary.BigEndian.Uint32(p[12:16]), uint64(binary.BigEndian.Uint32(p[16:20]))
		if duration == math.MaxUint32 {
			duration = 0 // "unknown"
		}
	case 1:
		if len(p) < 32 {
			return 0, 0, errors.New("too short")
		}
		timescale, duration = binary.BigEndian.Uint32(p[20:24]), binary.BigEndian.Uint64(p[24:32])
		if duration == math.MaxUint64 {
			duration = 0
		}
	default:
		return 0, 0, fmt.Errorf("version %d", p[0])
	}
	if timescale == 0 {
		return 0, 0, errors.New("timescale 0")
	}
	return timescale, duration, nil
}

func readTrak(r io.ReaderAt, trak mp4Box) (mp4Track, error) {
	var t mp4Track
	err := boxes(r, trak.data, trak.end, false, func(b mp4Box) error {
		switch b.typ {
		case "tkhd":
			return parseBox(r, b, t.readTkhd)
		case "edts":
			return boxes(r, b.data, b.end, false, func(e mp4Box) error {
				if e.typ != "elst" {
					return nil
				}
				return parseBox(r, e, t.readElst)
			})
		case "mdia":
			return t.readMdia(r, b)
		}
		return nil
	})
	if err != nil {
		return mp4Track{}, err
	}
	if t.timescale == 0 {
		return mp4Track{}, errors.New("trak without mdhd")
	}
	return t, nil
}

func (t *mp4Track) readTkhd(p []byte) error {
	// After version/flags: times, track id, reserved and duration (20 bytes
	// in version 0, 32 in 1), then 8 reserved, layer, group, volume, 2
	// reserved, the 36-byte matrix, width and height.
	var off int
	switch {
	case len(p) >= 1 && p[0] == 0:
		off = 4 + 20
	case len(p) >= 1 && p[0] == 1:
		off = 4 + 32
	default:
		return errors.New("unknown version")
	}
	off += 8 + 2 + 2 + 2 + 2
	if len(p) < off+36+8 {
		return errors.New("too short")
	}
	t.matrixA = int32(binary.BigEndian.Uint32(p[off:]))
	t.matrixB = int32(binary.BigEndian.Uint32(p[off+4:]))
	off += 36
	t.tkhdWidth = float64(binary.BigEndian.Uint32(p[off:])) / 65536
	t.tkhdHeight = float64(binary.BigEndian.Uint32(p[off+4:])) / 65536
	return nil
}

// maxEdits bounds the elst entries kept: ffmpeg writes one or two.
const maxEdits = 64

func (t *mp4Track) readElst(p []byte) error {
	if len(p) < 8 {
		return errors.New("too short")
	}
	version, n := p[0], binary.BigEndian.Uint32(p[4:8])
	entry := 12
	if version == 1 {
		entry = 20
	}
	if n > maxEdits || int(n)*entry > len(p)-8 {
		return fmt.Errorf("%d entries do not fit", n)
	}
	for i := range int(n) {
		e := p[8+i*entry:]
		var ed mp4Edit
		if version == 1 {
			ed.duration, ed.mediaTime = binary.BigEndian.Uint64(e), int64(binary.BigEndian.Uint64(e[8:]))
		} else {
			ed.duration, ed.mediaTime = uint64(binary.BigEndian.Uint32(e)), int64(int32(binary.BigEndian.Uint32(e[4:])))
		}
		t.edits = append(t.edits, ed)
	}
	return nil
}

func (t *mp4Track) readMdia(r io.ReaderAt, mdia mp4Box) error {
	return boxes(r, mdia.data, mdia.end, false, func(b mp4Box) error {
		switch b.typ {
		case "mdhd":
			return parseBox(r, b, func(p []byte) (err error) {
				t.timescale, t.duration, err = timing(p)
				return err
			})
		case "hdlr":
			return parseBox(r, b, func(p []byte) error {
				if len(p) < 12 {
					return errors.New("too short")
				}
				t.handler = string(p[8:12])
				return nil
			})
		case "minf":
			return boxes(r, b.data, b.end, false, func(s mp4Box) error {
				if s.typ != "stbl" {
					return nil
				}
				return t.readStbl(r, s)
			})
		}
		return nil
	})
}

func (t *mp4Track) readStbl(r io.ReaderAt, stbl mp4Box) error {
	return boxes(r, stbl.data, stbl.end, false, func(b mp4Box) error {
		switch b.typ {
		case "stsd":
			return parseBox(r, b, t.readStsd)
		case "stts":
			total, err := sumTable(r, b, 8, func(e []byte) uint64 {
				return uint64(binary.BigEndian.Uint32(e)) * uint64(binary.BigEndian.Uint32(e[4:]))
			})
			if err != nil {
				return fmt.Errorf("stts: %w", err)
			}
			t.sttsTotal = total
		case "stsz":
			return t.readStsz(r, b)
		}
		return nil
	})
}

// readStsd reads the first sample entry: its format and, for video, the
// coded size, for audio the channels and rate, and mp4a's object type.
func (t *mp4Track) readStsd(p []byte) error {
	if len(p) < 16 {
		return errors.New("no sample entry")
	}
	size := binary.BigEndian.Uint32(p[8:12])
	if size < 8 || uint64(size) > uint64(len(p)-8) {
		return fmt.Errorf("sample entry of %d bytes does not fit", size)
	}
	entry := p[8 : 8+size]
	t.format = string(entry[4:8])
	body := entry[8:] // 6 reserved, data reference index (2)
	switch t.handler {
	case "vide":
		// 16 bytes of pre-defined and reserved fields, then width, height.
		if len(body) < 8+16+4 {
			return errors.New("video sample entry too short")
		}
		t.width = int(binary.BigEndian.Uint16(body[24:]))
		t.height = int(binary.BigEndian.Uint16(body[26:]))
	case "soun":
		// version (2), revision, vendor (6), channels, sample size,
		// compression id, packet size, rate (16.16); a QuickTime version 1
		// or 2 entry adds fields after it, which only mov writes.
		if len(body) < 8+20 {
			return errors.New("audio sample entry too short")
		}
		version := binary.BigEndian.Uint16(body[8:])
		t.channels = int(binary.BigEndian.Uint16(body[16:]))
		t.sampleRate = int(binary.BigEndian.Uint32(body[24:]) >> 16)
		children := body[28:]
		switch version {
		case 1:
			children = skip(children, 16)
		case 2:
			// Version 2 keeps the rate as a float64 and the channels
			// after it (QuickTime's SoundDescriptionV2).
			if len(children) >= 36 {
				t.sampleRate = int(math.Float64frombits(binary.BigEndian.Uint64(children[4:])))
				t.channels = int(binary.BigEndian.Uint32(children[12:]))
			}
			children = skip(children, 36)
		}
		if t.format == "mp4a" {
			var asc []byte
			t.objectType, asc = esdsConfig(children)
			t.ascRate, t.ascChannels = audioSpecificConfig(asc)
		}
	}
	return nil
}

func skip(p []byte, n int) []byte {
	if len(p) < n {
		return nil
	}
	return p[n:]
}

// esdsConfig finds the esds box among a sample entry's children (mov nests
// it in a wave box) and returns its DecoderConfigDescriptor's
// objectTypeIndication (0 when there is none) and DecoderSpecificInfo.
func esdsConfig(children []byte) (objectType byte, specific []byte) {
	for len(children) >= 8 {
		size := binary.BigEndian.Uint32(children)
		if size < 8 || uint64(size) > uint64(len(children)) {
			return 0, nil
		}
		typ, body := string(children[4:8]), children[8:size]
		switch typ {
		case "esds":
			return decoderConfig(skip(body, 4))
		case "wave":
			if ot, asc := esdsConfig(body); ot != 0 {
				return ot, asc
			}
		}
		children = children[size:]
	}
	return 0, nil
}

// decoderConfig reads an ES_Descriptor (tag 3) down to its
// DecoderConfigDescriptor (tag 4): the object type, and the
// DecoderSpecificInfo (tag 5) after the descriptor's 13 bytes of fields.
func decoderConfig(p []byte) (objectType byte, specific []byte) {
	tag, body, ok := descriptor(p)
	if !ok || tag != 3 || len(body) < 3 {
		return 0, nil
	}
	flags := body[2]
	body = body[3:] // ES_ID, flags
	if flags&0x80 != 0 {
		body = skip(body, 2) // dependsOn_ES_ID
	}
	if flags&0x40 != 0 {
		if len(body) < 1 {
			return 0, nil
		}
		body = skip(body, 1+int(body[0])) // URL
	}
	if flags&0x20 != 0 {
		body = skip(body, 2) // OCR_ES_Id
	}
	tag, body, ok = descriptor(body)
	if !ok || tag != 4 || len(body) < 1 {
		return 0, nil
	}
	objectType = body[0]
	if tag, dsi, ok := descriptor(skip(body, 13)); ok && tag == 5 {
		specific = dsi
	}
	return objectType, specific
}

// aacRateIndex are the AudioSpecificConfig's sampling frequencies by index.
var aacRateIndex = [13]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// audioSpecificConfig reads the rate and channels of an AAC
// AudioSpecificConfig: a 5-bit object type (31: 6 more bits), a 4-bit rate
// index (15: a 24-bit rate), a 4-bit channel configuration (7 means 8
// channels). Zeros when it cannot be read.
func audioSpecificConfig(p []byte) (rate, channels int) {
	var bits uint64
	for i := range min(len(p), 8) {
		bits |= uint64(p[i]) << (56 - 8*i)
	}
	avail := 8 * min(len(p), 8)
	read := func(n int) (uint64, bool) {
		if n > avail {
			return 0, false
		}
		v := bits >> (64 - n)
		bits <<= n
		avail -= n
		return v, true
	}
	aot, ok := read(5)
	if ok && aot == 31 {
		_, ok = read(6)
	}
	idx, ok2 := read(4)
	if !ok || !ok2 {
		return 0, 0
	}
	if idx == 15 {
		r, ok := read(24)
		if !ok {
			return 0, 0
		}
		rate = int(r)
	} else if idx < uint64(len(aacRateIndex)) {
		rate = aacRateIndex[idx]
	}
	ch, ok := read(4)
	if !ok {
		return 0, 0
	}
	channels = int(ch)
	if ch == 7 {
		channels = 8
	}
	return rate, channels
}

// descriptor splits an MPEG-4 descriptor: a tag, a size in up to four
// 7-bit groups, the body.
func descriptor(p []byte) (tag byte, body []byte, ok bool) {
	if len(p) < 2 {
		return 0, nil, false
	}
	tag, p = p[0], p[1:]
	size := 0
	for i := 0; ; i++ {
		if i == 4 || len(p) == 0 {
			return 0, nil, false
		}
		c := p[0]
		p = p[1:]
		size = size<<7 | int(c&0x7f)
		if c&0x80 == 0 {
			break
		}
	}
	if size > len(p) {
		return 0, nil, false
	}
	return tag, p[:size], true
}

func (t *mp4Track) readStsz(r io.ReaderAt, b mp4Box) error {
	var head [12]byte
	if b.payloadBytes < 12 {
		return errors.New("stsz: too short")
	}
	if _, err := r.ReadAt(head[:], b.data); err != nil {
		return fmt.Errorf("stsz: %w", errShort(err))
	}
	fixed, count := binary.BigEndian.Uint32(head[4:]), binary.BigEndian.Uint32(head[8:])
	if fixed != 0 {
		t.dataSize = uint64(fixed) * uint64(count)
		return nil
	}
	total, err := sumTable(r, mp4Box{typ: b.typ, data: b.data + 4, end: b.end, payloadBytes: b.payloadBytes - 4}, 4,
		func(e []byte) uint64 { return uint64(binary.BigEndian.Uint32(e)) })
	if err != nil {
		return fmt.Errorf("stsz: %w", err)
	}
	t.dataSize = total
	return nil
}

// sumTable sums a full box's table (version/flags, a 32-bit entry count,
// entries of entrySize bytes) through a fixed buffer: the count is checked
// against the box's size, never trusted for an allocation.
func sumTable(r io.ReaderAt, b mp4Box, entrySize int, value func([]byte) uint64) (uint64, error) {
	var head [8]byte
	if b.payloadBytes < 8 {
		return 0, errors.New("too short")
	}
	if _, err := r.ReadAt(head[:], b.data); err != nil {
		return 0, errShort(err)
	}
	count := int64(binary.BigEndian.Uint32(head[4:]))
	if count*int64(entrySize) > b.payloadBytes-8 {
		return 0, fmt.Errorf("%d entries do not fit in %d bytes", count, b.payloadBytes)
	}
	var buf [8 << 10]byte
	var total uint64
	at := b.data + 8
	for left := count * int64(entrySize); left > 0; {
		n := min(left, int64(len(buf)))
		n -= n % int64(entrySize)
		chunk := buf[:n]
		if _, err := r.ReadAt(chunk, at); err != nil {
			return 0, errShort(err)
		}
		for e := chunk; len(e) >= entrySize; e = e[entrySize:] {
			total += value(e)
		}
		at += n
		left -= n
	}
	return total, nil
}
