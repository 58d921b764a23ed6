package ffmpeg

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"strings"
	"time"

	"github.com/renderd/renderd/domain"
)

// movFormatName is ffprobe's format_name of the mov demuxer, which reads
// every MP4, MOV and M4A: the container name a probe records and
// encoders.Expect matches.
const movFormatName = "mov,mp4,m4a,3gp,3g2,mj2"

// outputMedia is what Verify reads of an output: the MediaInfo ffprobe
// would have given, its streams' durations for the sync check, and the
// order of an MP4's boxes.
//
// info holds Container, Duration, SizeBytes, the streams' presence and
// codecs, the displayed Width×Height with the Rotation, the bitrates, and
// the audio's channels and sample rate. FrameRate and PixelFormat stay
// empty: they would need the H.264 bitstream, and neither the check nor
// the render's completion (encoders/job.go) reads them.
type outputMedia struct {
	info                         domain.MediaInfo
	videoDuration, audioDuration time.Duration // 0 when no such stream
	moovAfterMdat                bool
}

// readOutput reads the output file at path. A file that is missing, empty
// or not a readable MP4/MOV/M4A or MP3 is an *EncodeError with
// domain.FailureOutputInvalid; an I/O error is returned as it is.
func readOutput(path string) (outputMedia, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return outputMedia{}, invalidOutput("ffmpeg wrote no output file", err)
	}
	if err != nil {
		return outputMedia{}, fmt.Errorf("output: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return outputMedia{}, fmt.Errorf("output: %w", err)
	}
	if !st.Mode().IsRegular() {
		return outputMedia{}, fmt.Errorf("output %s is not a regular file", path)
	}
	out, err := readMedia(f, st.Size())
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &pathErr):
		return outputMedia{}, fmt.Errorf("output: %w", err) // the disk's fault, not the file's
	case err != nil:
		return outputMedia{}, invalidOutput("the output cannot be read: "+err.Error(), err)
	}
	return out, nil
}

func invalidOutput(message string, err error) *EncodeError {
	return &EncodeError{Code: domain.FailureOutputInvalid, Message: message, Err: err}
}

// readMedia reads size bytes at r as an MP4/MOV/M4A (an ftyp box first) or
// an MP3 (an ID3v2 tag or a frame header first). Every error but an
// *fs.PathError is the file's.
func readMedia(r io.ReaderAt, size int64) (outputMedia, error) {
	if size == 0 {
		return outputMedia{}, errors.New("the file is empty")
	}
	var head [8]byte
	if n, err := r.ReadAt(head[:], 0); n < len(head) && !errors.Is(err, io.EOF) {
		return outputMedia{}, err
	}
	if string(head[4:8]) == "ftyp" {
		f, err := readMP4(r, size)
		if err != nil {
			return outputMedia{}, err
		}
		return f.media(size)
	}
	f, err := readMP3(r, size)
	if errors.Is(err, errNotMP3) {
		return outputMedia{}, errors.New("neither an MP4/MOV/M4A nor an MP3 file")
	}
	if err != nil {
		return outputMedia{}, err
	}
	return f.media()
}

// media is what ffprobe reports of the file (its mov demuxer's rules):
// the movie's duration from mvhd, each stream's from mdhd cut to its edit
// list, bitrates from the sample sizes over the sample durations, the
// displayed size from tkhd with its display matrix's rotation.
func (f mp4File) media(size int64) (outputMedia, error) {
	info := domain.MediaInfo{Container: movFormatName, SizeBytes: size}
	out := outputMedia{moovAfterMdat: !f.moovBeforeMdat}
	var video, audio *mp4Track
	for i := range f.tracks {
		t := &f.tracks[i]
		switch {
		case t.handler == "vide" && video == nil && t.width > 0 && t.height > 0:
			video = t
		case t.handler == "soun" && audio == nil:
			audio = t
		}
	}
	if video == nil && audio == nil {
		return outputMedia{}, errors.New("no audio or video track")
	}
	if video != nil {
		info.HasVideo, info.VideoCodec = true, video.codec()
		info.Rotation = video.rotation()
		info.Width, info.Height = video.displayedSize()
		info.VideoBitrate = video.bitrate()
		out.videoDuration = video.streamDuration(f.timescale)
	}
	if audio != nil {
		info.HasAudio, info.AudioCodec = true, audio.codec()
		info.AudioChannels, info.AudioSampleRate = audio.channels, audio.sampleRate
		if audio.ascRate > 0 && audio.ascChannels > 0 {
			info.AudioChannels, info.AudioSampleRate = audio.ascChannels, audio.ascRate
		}
		info.AudioBitrate = audio.bitrate()
		out.audioDuration = audio.streamDuration(f.timescale)
	}
	info.Duration = scaled(f.duration, uint64(f.timescale))
	if info.Duration <= 0 {
		info.Duration = max(out.videoDuration, out.audioDuration)
	}
	if info.Duration <= 0 {
		return outputMedia{}, errors.New("the media has no measurable duration")
	}
	out.info = info
	return out, nil
}

// codec names the track's codec as ffprobe does; an unknown sample entry
// keeps its own name.
func (t *mp4Track) codec() string {
	switch t.format {
	case "avc1", "avc3":
		return "h264"
	case "hvc1", "hev1":
		return "hevc"
	case ".mp3":
		return "mp3"
	case "mp4a":
		switch t.objectType {
		case 0x40, 0x66, 0x67, 0x68:
			return "aac"
		case 0x69, 0x6b:
			return "mp3"
		}
	}
	return strings.TrimSpace(printable(t.format))
}

// displayedSize is tkhd's size, which the muxer writes as the coded size
// stretched by the pixel aspect ratio (rounded to even, as ffprobe's
// displayedSize does), turned by the rotation; the coded size when tkhd
// has none.
func (t *mp4Track) displayedSize() (int, int) {
	w, h := t.width, t.height
	if tw := int(math.Round(t.tkhdWidth)); tw > 0 && tw != w {
		w = int(math.Round(t.tkhdWidth/2)) * 2
	}
	if th := int(math.Round(t.tkhdHeight)); th > 0 {
		h = th
	}
	return displayedSize(w, h, "", t.rotation())
}

// rotation is the display matrix's, counter-clockwise as ffprobe counts it
// (rotation in probe_parse.go).
func (t *mp4Track) rotation() int {
	return normaliseRotation(-math.Atan2(float64(t.matrixB), float64(t.matrixA)) * 180 / math.Pi)
}

// bitrate is the mov demuxer's estimate: the samples' bytes over their
// durations (stts), in whole bits per second as its integer division
// leaves them.
func (t *mp4Track) bitrate() int64 {
	if t.sttsTotal == 0 {
		return 0
	}
	hi, lo := bits.Mul64(t.dataSize, 8*uint64(t.timescale))
	if hi >= t.sttsTotal {
		return 0 // past any real bitrate
	}
	rate, _ := bits.Div64(hi, lo, t.sttsTotal)
	if rate > math.MaxInt64 {
		return 0
	}
	return int64(rate)
}

// streamDuration is mdhd's duration, cut to what the edit list plays (its
// non-empty edits, in the movie's timescale): how ffmpeg's mov demuxer
// hides AAC's priming and padding (docs/renders.md).
func (t *mp4Track) streamDuration(movieTimescale uint32) time.Duration {
	d := scaled(t.duration, uint64(t.timescale))
	if len(t.edits) == 0 || movieTimescale == 0 {
		return d
	}
	var edited uint64
	for _, e := range t.edits {
		if e.mediaTime >= 0 {
			edited += e.duration
		}
	}
	return min(d, scaled(edited, uint64(movieTimescale)))
}

// scaled is n ticks of a timescale, rounded to the microsecond ffprobe
// prints.
func scaled(n, timescale uint64) time.Duration {
	if timescale == 0 {
		return 0
	}
	us := math.Round(float64(n) * 1e6 / float64(timescale))
	if us >= float64(math.MaxInt64/int64(time.Microsecond)) {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

// media is what ffprobe reports of the MP3 (its mp3 demuxer's rules): the
// duration of the Xing/Info frame count, priming and padding included (the
// LAME tag's delay is not taken off: the check's MP3 tolerance allows for
// it), or of the audio bytes at the first frame's bitrate without one.
func (f mp3File) media() (outputMedia, error) {
	codec := map[int]string{1: "mp1", 2: "mp2", 3: "mp3"}[f.layer]
	d := f.duration()
	if d <= 0 {
		return outputMedia{}, errors.New("the media has no measurable duration")
	}
	return outputMedia{info: domain.MediaInfo{Container: "mp3", Duration: d, SizeBytes: f.size,
		HasAudio: true, AudioCodec: codec, AudioChannels: f.channels, AudioSampleRate: f.sampleRate,
		AudioBitrate: f.streamBitrate()}, audioDuration: d}, nil
}
