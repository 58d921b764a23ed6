package encoders

import (
	"strconv"
	"strings"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// ParseOutputKey is OutputKey's inverse: the render and attempt whose output
// key is, and ok false for any other key.
func ParseOutputKey(key string) (renderID string, attempt int, ok bool) {
	rest, found := strings.CutPrefix(key, "renders/")
	if !found {
		return "", 0, false
	}
	renderID, file, found := strings.Cut(rest, "/")
	if !found || renderID == "" {
		return "", 0, false
	}
	file, found = strings.CutPrefix(file, "attempt-")
	if !found {
		return "", 0, false
	}
	n, format, found := strings.Cut(file, ".")
	if !found {
		return "", 0, false
	}
	attempt, err := strconv.Atoi(n)
	if err != nil || attempt < 1 || OutputKey(renderID, attempt, domain.Format(format)) != key {
		return "", 0, false
	}
	return renderID, attempt, true
}

// AttemptOver reports whether an attempt of a render is over for good, by
// the render's row in the render queue (queued false: it has none, so the
// render completed, failed or was cancelled). Attempts only move forward, so
// an attempt once over stays over: a later attempt was claimed, or the render
// waits for one (pending after it), or the render finished. The attempt the
// row says is running is not over, whether or not its lease is live: an
// expired lease is the reaper's to end, and its worker may still be encoding
// through a database outage.
func AttemptOver(job commands.RenderJob, queued bool, attempt int) bool {
	switch {
	case !queued:
		return true
	case job.Attempt > attempt:
		return true
	default:
		return job.State == domain.RenderStatePending && job.Attempt >= attempt
	}
}
