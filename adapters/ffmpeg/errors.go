package ffmpeg

import (
	"cmp"
	"regexp"
	"slices"
	"strings"

	"github.com/renderd/renderd/domain"
)

// ProbeError says why a file cannot be used as a source. Code is one of the
// domain's failure codes, which end up in asset.failed and cut.failed
// events: domain.FailureSourceUnreadable, FailureContainerNotAllowed (see
// allowedDemuxers), FailureCodecNotAllowed (see allowedDecoders),
// FailureNoMediaStreams, FailureNoAudio, FailureSourceTooLarge (pictures
// larger than Limits.MaxPixels, or more memory needed than Limits.Memory
// allows) or FailureMediaTimeout (the adapter's own time limit; the error
// also wraps context.DeadlineExceeded, so a caller can choose to retry on a
// less loaded worker rather than fail the asset). Message is short, human
// and free of server paths, so it can travel in a public event; Err, when
// set, is the underlying cause.
type ProbeError struct {
	Code    string
	Message string
	Err     error
}

func (e *ProbeError) Error() string { return e.Code + ": " + e.Message }

func (e *ProbeError) Unwrap() error { return e.Err }

// FailureCode and FailureMessage say the file is at fault (commands.MediaFailure).
func (e *ProbeError) FailureCode() string    { return e.Code }
func (e *ProbeError) FailureMessage() string { return e.Message }

// splitLogContext splits off the context prefix ffmpeg puts on a log line,
// "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c0ffee00] ", returning the context's name
// ("mov,mp4,m4a,3gp,3g2,mj2") and the rest.
func splitLogContext(line string) (name, rest string) {
	if !strings.HasPrefix(line, "[") {
		return "", line
	}
	end := strings.Index(line, "] ")
	at := strings.Index(line, " @ 0x")
	if end < 0 || at < 0 || at > end {
		return "", line
	}
	return line[1:at], line[end+2:]
}

// maxMessage bounds the stderr excerpt in a message: enough for ffmpeg's
// reason, never a dump.
const maxMessage = 200

// stderrSummary turns ffmpeg's stderr into a one-line reason: the last few
// distinct lines, without context prefixes and without server paths (see
// scrubPaths): the input path and names' descriptors become their names.
func stderrSummary(stderr, path string, names []string) string {
	paths := newPathNames(append(pathPairs(path, "input"), names...))
	var lines []string
	seen := map[string]bool{}
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(strings.TrimRight(line, "\r"))
		_, line = splitLogContext(line)
		line = paths.scrub(line)
		line = strings.TrimPrefix(line, "input: ")
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		lines = append(lines, line)
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	summary := strings.Join(lines, "; ")
	if r := []rune(summary); len(r) > maxMessage {
		summary = string(r[:maxMessage-1]) + "…"
	}
	return summary
}

// blockedDemuxer returns the demuxer that format_whitelist refused, if one
// was: libavformat logs "Format not on whitelist" in that demuxer's context.
func blockedDemuxer(stderr string) (string, bool) {
	for _, line := range strings.Split(stderr, "\n") {
		name, rest := splitLogContext(strings.TrimSpace(line))
		if name != "" && strings.HasPrefix(rest, "Format not on whitelist") {
			return name, true
		}
	}
	return "", false
}

// blockedDecoder returns the decoder that codec_whitelist refused, if one
// was: libavcodec logs "Codec (srt) not on whitelist '…'" in that decoder's
// context.
func blockedDecoder(stderr string) (string, bool) {
	for _, line := range strings.Split(stderr, "\n") {
		_, rest := splitLogContext(strings.TrimSpace(line))
		if name, ok := strings.CutPrefix(rest, "Codec ("); ok {
			if name, _, ok = strings.Cut(name, ") not on whitelist"); ok && name != "" {
				return name, true
			}
		}
	}
	return "", false
}

// pathNames replaces the paths a run opened by their stable names ("input",
// "output", "filter script"), and any other absolute path by "a server
// path": a tool's message can name a file the run did not (a library's
// data file, a folder), and a failure message travels in public events.
type pathNames struct {
	fds   map[string]string // descriptor number → name, for /proc/self/fd/N
	known *strings.Replacer
}

// descriptorPath is a run's descriptor as the tool saw it, whole:
// /proc/self/fd/30 is not /proc/self/fd/3 followed by a 0.
var descriptorPath = regexp.MustCompile(`(?:file:)?/proc/self/fd/(\d+)\b`)

// newPathNames takes old, new pairs; the longest old is replaced first, so
// a path that extends another ("out.mp4.tmp") is replaced whole. A
// descriptor's path is looked up by its whole number.
func newPathNames(oldnew []string) pathNames {
	type pair struct{ old, new string }
	var pairs []pair
	fds := map[string]string{}
	for i := 0; i+1 < len(oldnew); i += 2 {
		old := oldnew[i]
		if m := descriptorPath.FindStringSubmatch(old); m != nil && m[0] == old {
			fds[m[1]] = oldnew[i+1]
			continue
		}
		if old != "" {
			pairs = append(pairs, pair{old, oldnew[i+1]})
		}
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return cmp.Compare(len(b.old), len(a.old)) })
	flat := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		flat = append(flat, p.old, p.new)
	}
	return pathNames{fds: fds, known: strings.NewReplacer(flat...)}
}

// pathPairs names an absolute path, bare and behind "file:"; anything else
// (a lavfi graph, "pipe:1") is no path.
func pathPairs(path, name string) []string {
	path = strings.TrimPrefix(path, "file:")
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	return []string{"file:" + path, name, path, name}
}

func (p pathNames) scrub(line string) string {
	line = descriptorPath.ReplaceAllStringFunc(line, func(ref string) string {
		if name, ok := p.fds[descriptorPath.FindStringSubmatch(ref)[1]]; ok {
			return name
		}
		return ref // another descriptor: a server path below
	})
	return domain.ScrubServerPaths(p.known.Replace(line))
}
