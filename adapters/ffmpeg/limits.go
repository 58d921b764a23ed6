package ffmpeg

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/renderd/renderd/domain"
)

// Limits bound what one ffmpeg or ffprobe process of this package may take.
type Limits struct {
	// Memory caps each process's address space (RLIMIT_AS), in bytes; 0
	// means no cap. Address space, not resident memory: Debian's ffmpeg
	// maps about 265 MiB of libraries before it reads a byte, and every
	// thread reserves its stack and a malloc arena.
	Memory int64
	// MaxPixels is the largest picture (width × height) a video decoder may
	// allocate; 0 means DefaultMaxPixels. A file that declares larger
	// pictures is refused before any frame is decoded (source_too_large).
	MaxPixels int64
	// Sandbox confines each process (nil: unconfined).
	Sandbox *Sandbox
}

// DefaultMaxPixels is 4096×2304: DCI 4K and UHD fit, in either orientation.
const DefaultMaxPixels = 4096 * 2304

func (l Limits) maxPixels() int64 {
	if l.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return l.MaxPixels
}

// pixelOptions cap the pictures of every video stream that is not an
// attached picture (the stream specifier "V"): libavcodec's max_pixels makes
// a decoder refuse a larger picture before allocating it. Cover art is left
// alone: a 4000×4000 album cover is a real MP3's, and the probe ignores it.
func (l Limits) pixelOptions() []string {
	return []string{"-max_pixels:V", strconv.FormatInt(l.maxPixels(), 10)}
}

// The memory cap is RLIMIT_AS, set by the media sandbox's helper
// (SandboxExec) or, without it, by util-linux's prlimit; either sets it on
// itself and then execs the tool (Sandbox.command): the limit is in place
// before the tool's first instruction, and the process keeps the
// launcher's pid, process group and parent-death signal, so stopping it
// (SIGTERM, SIGKILL) reaches ffmpeg itself. Go's os/exec has no way to set a
// resource limit on the child only. A memory cgroup would measure what
// matters (resident memory) rather than address space, but it needs a
// writable cgroup tree and a delegated controller, which most containers do
// not give; an rlimit needs no privilege and works per process anywhere.

// CheckMemoryLimit says whether this host can cap ffmpeg's memory at
// memory bytes (0: no cap, always fine): prlimit must be on PATH and the
// process's own hard RLIMIT_AS must allow the cap, since an unprivileged
// process can only lower it.
func CheckMemoryLimit(memory int64) error {
	if memory <= 0 {
		return nil
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		return fmt.Errorf("capping ffmpeg's memory needs util-linux's prlimit on PATH: %w", err)
	}
	hard, err := addressSpaceHardLimit()
	if err != nil {
		return err
	}
	if hard < uint64(memory) {
		return fmt.Errorf("the cap of %d bytes is above this process's own hard address-space limit (%d bytes)", memory, hard)
	}
	return nil
}

// mib formats a byte count as whole MiB for messages.
func mib(bytes int64) string { return strconv.FormatInt(bytes>>20, 10) + " MiB" }

// outOfMemory reports whether a failed run under a memory cap failed for
// want of address space. What ffmpeg 5.1 (Debian, libx264) does under
// RLIMIT_AS, measured with caps from 32 MiB to 1.6 GiB on probes, audio and
// 1080p and 4K encodes:
//
//   - below about 265 MiB the dynamic loader cannot map ffmpeg's libraries:
//     exit status 127, "error while loading shared libraries: …: failed to
//     map segment from shared object";
//   - libavcodec and libavformat fail with ENOMEM: "Cannot allocate memory",
//     "[h264 @ …] Could not allocate memory";
//   - libx264 says "x264 [error]: malloc of size N failed";
//   - a thread whose stack cannot be mapped fails pthread_create with
//     EAGAIN: "Resource temporarily unavailable" from libavcodec's thread
//     pools, and nothing at all from libx264, whose x264_encoder_open then
//     fails silently: ffmpeg only says "Error while opening encoder for
//     output stream" (seen at about one cap in four in the encoder's
//     start-up range);
//   - exit status 1 in every case above; no signal was seen, but a library
//     that dereferences a failed malloc dies of SIGSEGV (or SIGBUS), and a
//     C++ one of SIGABRT (std::bad_alloc), so these count under a cap too.
//
// Callers only ask when a cap was set: without one, the same words mean a
// broken file or a bug, not a limit.
func outOfMemory(err error, stderr string) bool {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return false
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		switch ws.Signal() {
		case syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGABRT:
			return true
		}
	}
	for _, marker := range memoryMarkers {
		if strings.Contains(stderr, marker) {
			return true
		}
	}
	return silentEncoderOpenFailure(stderr)
}

var memoryMarkers = []string{
	"allocate memory", // "Cannot allocate memory" (ENOMEM), "Could not allocate memory"
	"malloc of size",  // libx264
	"failed to map segment from shared object", // ld.so
	"Resource temporarily unavailable",         // EAGAIN from pthread_create
	"std::bad_alloc",
	"out of memory",
	"Out of memory",
}

// silentEncoderOpenFailure is libx264 failing to open without a word: when
// it has a reason other than a thread it could not start, it logs it as
// "x264 [error]: …" or in libx264's log context.
func silentEncoderOpenFailure(stderr string) bool {
	if !strings.Contains(stderr, "Error while opening encoder") {
		return false
	}
	for _, line := range strings.Split(stderr, "\n") {
		name, _ := splitLogContext(strings.TrimSpace(line))
		if name == "libx264" || strings.HasPrefix(strings.TrimSpace(line), "x264 [") {
			return false
		}
	}
	return true
}

// pictureTooLarge matches libavutil's refusal under max_pixels:
// "[IMGUTILS @ 0x…] Picture size 7680x4320 exceeds specified max pixel count 9437184".
var pictureTooLarge = regexp.MustCompile(`Picture size (\d+)x(\d+) exceeds specified max pixel count (\d+)`)

// pixelCapRefusal returns the source_too_large error for a run whose
// decoder refused a picture under max_pixels, or nil. ffprobe 5.1 does not
// report such a stream: for H.264 and HEVC it fails ("Could not open codec
// for input stream"), for VP9 and MJPEG it reports a 0×0 stream; the
// refusal on stderr is the one reliable sign, and it names the size.
func pixelCapRefusal(stderr string) error {
	m := pictureTooLarge.FindStringSubmatch(stderr)
	if m == nil {
		return nil
	}
	return &ProbeError{Code: domain.FailureSourceTooLarge,
		Message: fmt.Sprintf("the video's pictures are %s×%s, more than the %s pixels a source may have", m[1], m[2], m[3])}
}
