package webhooks

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Schedule is the retry schedule: s[n-1] is the nominal delay before attempt
// n+1 after n failed attempts. A schedule of k delays allows k+1 attempts.
type Schedule []time.Duration

// DefaultSchedule spreads 12 attempts over about 28 hours (docs/webhooks.md).
// The short steps come first: a receiver down for about a minute (a deploy,
// a restart) is retried every 30 s, so it gets its delivery within 36 s of
// coming back (30 s plus the jitter) rather than minutes later; the long
// steps then ride out a longer outage without hammering it.
var DefaultSchedule = Schedule{
	5 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second,
	2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// jitter is the relative spread around each nominal delay, so that the
// retries of a receiver's outage do not all arrive at the same instant.
const jitter = 0.2

// ParseSchedule parses a comma-separated list of Go durations, such as
// "5s,30s,30s,30s,2m,10m,30m,2h,5h,10h,10h" (for an environment variable).
// Empty, non-positive and unparsable items are errors.
func ParseSchedule(s string) (Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("webhook retry schedule: empty")
	}
	items := strings.Split(s, ",")
	out := make(Schedule, 0, len(items))
	for i, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("webhook retry schedule: item %d is empty", i+1)
		}
		d, err := time.ParseDuration(item)
		if err != nil {
			return nil, fmt.Errorf("webhook retry schedule: item %d: %q is not a duration", i+1, item)
		}
		if d <= 0 {
			return nil, fmt.Errorf("webhook retry schedule: item %d: %q is not positive", i+1, item)
		}
		out = append(out, d)
	}
	return out, nil
}

// String formats the schedule the way ParseSchedule reads it.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// Next returns the delay before the next attempt after `failed` failed
// attempts (1-based: after the first failure it is s[0]), jittered by ±20 %
// with rnd (a value in [0,1); nil uses math/rand/v2), and at least retryAfter
// (a receiver's Retry-After, capped at 24 h). ok is false when the schedule is
// exhausted: the delivery has failed. failed < 1 means nothing failed yet: no
// delay.
func (s Schedule) Next(failed int, retryAfter time.Duration, rnd func() float64) (delay time.Duration, ok bool) {
	if failed < 1 {
		return 0, true
	}
	if failed > len(s) {
		return 0, false
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	if !(r >= 0) { // also NaN
		r = 0
	}
	if r >= 1 {
		r = 1
	}
	factor := 1 - jitter + 2*jitter*r
	if f := float64(s[failed-1]) * factor; f < math.MaxInt64 {
		delay = time.Duration(math.Round(f))
	} else {
		delay = math.MaxInt64
	}
	if retryAfter > maxRetryAfter {
		retryAfter = maxRetryAfter
	}
	if delay < retryAfter {
		delay = retryAfter
	}
	return delay, true
}
