// Package ffmpeg is renderd's outbound edge to ffprobe and ffmpeg: it probes
// uploaded media into domain.MediaInfo, finds silences for automatic cuts,
// and runs and verifies render encodes as the encoders' Media (encode.go,
// progress.go, verify.go).
//
// Every input is a local file from the blob store, opened the same way:
//
//   - as "file:<path>", so a name can never be read as another protocol
//     ("http:…", "concat:…") or as an option ("-i…");
//   - with -protocol_whitelist file, so nothing the file names can be
//     fetched over the network;
//   - with -format_whitelist set to allowedDemuxers, so libavformat refuses
//     any other demuxer before it reads a header. A playlist (hls, concat,
//     ffconcat) would otherwise open the files it lists: an upload could
//     read other assets or server files through the file protocol itself;
//   - with -codec_whitelist set to allowedDecoders, so no decoder outside
//     what the service accepts ever runs on an upload: the allowed
//     containers carry dozens of codecs, and each decoder is attack surface;
//   - with -max_pixels:V (Limits.MaxPixels), so no video decoder allocates a
//     picture larger than a source may be, whatever size the file declares.
//
// Every process runs under the configured cap on its address space
// (Limits.Memory, EncodeLimits.Memory) and, when one is set, in the media
// sandbox (Sandbox; docs/renders.md, "The media sandbox").
//
// Binaries run through os/exec with an argument vector, never a shell.
package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/renderd/renderd/domain"
)

// allowedDemuxers is the container allowlist, as libavformat demuxer names
// (the list format_whitelist takes; a demuxer passes when any of its names
// is listed):
//
//	mov       mov,mp4,m4a,3gp,3g2,mj2 (external data references stay off:
//	          the demuxer's enable_drefs defaults to 0)
//	matroska  matroska,webm (ffmpeg does not follow linked segments)
//	mp3, aac (raw ADTS; ffmpeg 5.1 has no separate "adts" demuxer), wav,
//	flac, ogg, avi, mpegts
//
// These read only the bytes of the file itself. Everything else is refused,
// notably hls, dash, concat (ffconcat), image2 and the *_pipe image
// demuxers, lavfi, tty, subtitle formats and raw codec streams.
const allowedDemuxers = "mov,matroska,mp3,aac,wav,flac,ogg,avi,mpegts"

// allowedDecoders is the codec allowlist, as libavcodec decoder names (the
// list codec_whitelist takes; it names decoders, not codecs: "mp3float" is
// the MP3 decoder ffmpeg picks, "libdav1d" the AV1 one). It is what the
// allowed containers carry from cameras, phones, editors and the web:
//
//	video     h264, hevc, vp8, vp9, libdav1d (AV1), mpeg4, mpeg2video,
//	          mpeg1video, h263 (3GP), prores, theora (Ogg), and mjpeg and
//	          png (cover art; MJPEG video)
//	audio     aac, aac_latm, mp3float and mp3, mp2float and mp2, ac3, eac3,
//	          opus, vorbis, flac, alac, amrnb and amrwb (3GP), and PCM:
//	          pcm_{s16,s24,s32,f32,f64}{le,be}, pcm_u8, pcm_s8, pcm_alaw,
//	          pcm_mulaw
//	subtitles text only: mov_text, subrip, srt, ass, ssa, webvtt, text
//	          (ffprobe opens every stream's decoder, so a file with
//	          subtitles needs theirs; renders drop subtitles)
//
// A file with any stream in another codec is refused at the probe
// (codec_not_allowed), before its bytes reach that decoder. docs/renders.md
// lists the accepted inputs for clients.
const allowedDecoders = "h264,hevc,vp8,vp9,libdav1d,mpeg4,mpeg2video,mpeg1video,h263,prores,theora,mjpeg,png," +
	"aac,aac_latm,mp3float,mp3,mp2float,mp2,ac3,eac3,opus,vorbis,flac,alac,amrnb,amrwb," +
	"pcm_s16le,pcm_s16be,pcm_s24le,pcm_s24be,pcm_s32le,pcm_s32be,pcm_f32le,pcm_f32be,pcm_f64le,pcm_f64be," +
	"pcm_u8,pcm_s8,pcm_alaw,pcm_mulaw," +
	"mov_text,subrip,srt,ass,ssa,webvtt,text"

// maxProbeOutput bounds ffprobe's JSON; real media needs a few KiB.
const maxProbeOutput = 8 << 20

// stderrTail is how much of a tool's stderr is kept for error messages.
const stderrTail = 8 << 10

// Prober runs ffprobe. It is safe for concurrent use.
type Prober struct {
	ffprobePath string
	timeout     time.Duration
	limits      Limits
}

// NewProber returns a Prober running the ffprobe binary at ffprobePath (an
// empty path means "ffprobe" on PATH). Each probe is killed after timeout;
// zero or less means only the caller's context bounds it. limits bound every
// probe, and every input opened with the Prober's InputArgs.
func NewProber(ffprobePath string, timeout time.Duration, limits Limits) *Prober {
	if ffprobePath == "" {
		ffprobePath = "ffprobe"
	}
	return &Prober{ffprobePath: ffprobePath, timeout: timeout, limits: limits}
}

// Probe reports what the media file at path holds. A file that cannot be a
// source yields a *ProbeError (source_unreadable, container_not_allowed,
// codec_not_allowed, no_media_streams, source_too_large, media_timeout); any other error is the
// worker's own trouble (a missing blob, a missing binary, cancellation) and
// is worth a retry.
func (p *Prober) Probe(ctx context.Context, path string) (domain.MediaInfo, error) {
	raw, err := p.probeJSON(ctx, path)
	if err != nil {
		return domain.MediaInfo{}, err
	}
	return parseProbe(raw)
}

// probeJSON runs ffprobe on path and returns its JSON: Probe's run, shared
// with the tests' ffprobe reference of Verify, which reads stream
// durations too. Errors are Probe's.
func (p *Prober) probeJSON(ctx context.Context, path string) ([]byte, error) {
	if err := checkSource(path); err != nil {
		return nil, err
	}
	args := append([]string{"-v", "error"}, inputOptions()...)
	args = append(args, p.limits.pixelOptions()...)
	args = append(args, "-print_format", "json", "-show_format", "-show_streams", "-i", "file:"+path)
	stdout := &cappedBuffer{limit: maxProbeOutput}
	stderr := &tailBuffer{limit: stderrTail}
	if names, err := runTool(ctx, p.timeout, p.limits, p.ffprobePath, args, stdout, stderr); err != nil {
		return nil, toolFailure("ffprobe", "probing the file", err, stderr.String(), path, names, p.limits.Memory)
	}
	// A decoder that refuses an oversized picture does not always fail
	// ffprobe: VP9 and MJPEG streams come out 0×0.
	if refused := pixelCapRefusal(stderr.String()); refused != nil {
		return nil, refused
	}
	if stdout.truncated {
		return nil, &ProbeError{Code: domain.FailureSourceUnreadable, Message: "the file's metadata is too large"}
	}
	return stdout.buf.Bytes(), nil
}

// InputArgs returns the ffmpeg input arguments that open path the way Probe
// did: file protocol only, the container and codec allowlists, the same
// picture-size cap, and the demuxer pinned to container (MediaInfo.Container), so ffmpeg
// cannot detect the file as something else than what was probed. The result
// ends with "-i file:<path>".
func (p *Prober) InputArgs(path, container string) ([]string, error) {
	demuxer, ok := demuxerFor(container)
	if !ok {
		return nil, &ProbeError{Code: domain.FailureContainerNotAllowed, Message: fmt.Sprintf("container %q is not allowed", container)}
	}
	args := append(inputOptions(), p.limits.pixelOptions()...)
	return append(args, "-f", demuxer, "-i", "file:"+path), nil
}

// inputOptions are the options every input is opened with.
func inputOptions() []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", allowedDemuxers, "-codec_whitelist", allowedDecoders}
}

// demuxerFor returns the -f name of an allowed container: ffprobe's
// format_name lists the demuxer's names ("mov,mp4,m4a,3gp,3g2,mj2") and
// -f takes any one of them.
func demuxerFor(formatName string) (string, bool) {
	allowed := strings.Split(allowedDemuxers, ",")
	for _, name := range strings.Split(formatName, ",") {
		for _, a := range allowed {
			if name == a {
				return name, true
			}
		}
	}
	return "", false
}

// checkSource rejects what ffprobe should never be pointed at. A missing or
// unreadable blob is the worker's problem, not the upload's, so it is a
// plain error; an empty upload is the upload's.
func checkSource(path string) error {
	if path == "" {
		return errors.New("ffmpeg: empty source path")
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("ffmpeg: source: %w", err)
	}
	if !st.Mode().IsRegular() {
		// A FIFO or device would block or stream forever.
		return fmt.Errorf("ffmpeg: source %s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ffmpeg: source: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ffmpeg: source: %w", err)
	}
	if st.Size() == 0 {
		return &ProbeError{Code: domain.FailureSourceUnreadable, Message: "the file is empty"}
	}
	return nil
}

// toolFailure classifies a failed ffprobe/ffmpeg run. doing names the run
// for a memory failure ("probing the file"); names are runTool's; memory is
// the cap it ran under.
func toolFailure(tool, doing string, err error, stderr, path string, names []string, memory int64) error {
	var timedOut errTimedOut
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &timedOut):
		return &ProbeError{Code: domain.FailureMediaTimeout, Message: tool + " " + timedOut.Error(), Err: err}
	case errors.As(err, &exitErr):
		if refused := pixelCapRefusal(stderr); refused != nil {
			return refused
		}
		if memory > 0 && outOfMemory(err, stderr) {
			return &ProbeError{Code: domain.FailureSourceTooLarge, Message: doing + " needed more than the " + mib(memory) + " memory limit", Err: err}
		}
		if demuxer, ok := blockedDemuxer(stderr); ok {
			return &ProbeError{Code: domain.FailureContainerNotAllowed, Message: fmt.Sprintf("container %q is not allowed", demuxer), Err: err}
		}
		if decoder, ok := blockedDecoder(stderr); ok {
			return &ProbeError{Code: domain.FailureCodecNotAllowed, Message: fmt.Sprintf("codec %q is not allowed", decoder), Err: err}
		}
		msg := "the file is not readable media"
		if s := stderrSummary(stderr, path, names); s != "" {
			msg += ": " + s
		}
		return &ProbeError{Code: domain.FailureSourceUnreadable, Message: msg, Err: err}
	default:
		// Cancellation, a missing binary: not the file's fault.
		return fmt.Errorf("%s: %w", tool, err)
	}
}
