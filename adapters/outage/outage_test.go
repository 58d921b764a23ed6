package outage_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/outage"
)

// records keeps every log record as "LEVEL msg k=v ...".
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, b.String())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// atLeast returns the lines at level or above.
func (r *records) atLeast(level slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		var lv slog.Level
		_ = lv.UnmarshalText([]byte(strings.Fields(l)[0]))
		if lv >= level {
			out = append(out, l)
		}
	}
	return out
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestTracker_logs_one_line_per_change_of_state(t *testing.T) {
	rec := &records{}
	c := &clock{t: time.Unix(1000, 0)}
	tr := outage.NewTracker(slog.New(rec), "lost", "regained", c.now)
	tr.Succeeded() // connected from the start: nothing to say
	refused := errors.New("dial tcp 127.0.0.1:59092: connect: connection refused")
	for range 120 { // an outage of 30 s, a failure every 250 ms
		tr.Failed(refused)
		c.t = c.t.Add(250 * time.Millisecond)
	}
	tr.Succeeded()
	tr.Succeeded()
	got := rec.atLeast(slog.LevelInfo)
	want := []string{
		"WARN lost error=" + refused.Error(),
		"INFO regained down_for=30s failures=120",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged at INFO and above:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(rec.lines); n != 121 {
		t.Errorf("%d lines in all, want 121 (each retry at DEBUG)", n)
	}
}

func TestTracker_reminds_at_warn_while_an_outage_lasts(t *testing.T) {
	rec := &records{}
	c := &clock{t: time.Unix(1000, 0)}
	tr := outage.NewTracker(slog.New(rec), "lost", "regained", c.now)
	for range 150 { // 150 s, a failure a second
		tr.Failed(errors.New("the same bug again"), "retry_in", time.Second)
		c.t = c.t.Add(time.Second)
	}
	got := rec.atLeast(slog.LevelWarn)
	want := []string{
		"WARN lost error=the same bug again retry_in=1s",
		"WARN lost error=the same bug again down_for=1m0s failures=61 retry_in=1s",
		"WARN lost error=the same bug again down_for=2m0s failures=121 retry_in=1s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged at WARN:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTracker_a_second_outage_is_reported_afresh(t *testing.T) {
	rec := &records{}
	c := &clock{t: time.Unix(1000, 0)}
	tr := outage.NewTracker(slog.New(rec), "lost", "regained", c.now)
	for range 2 {
		tr.Failed(errors.New("eof"))
		c.t = c.t.Add(400 * time.Millisecond)
		tr.Failed(errors.New("refused"))
		c.t = c.t.Add(100 * time.Millisecond)
		tr.Succeeded()
		c.t = c.t.Add(time.Hour)
	}
	got := rec.atLeast(slog.LevelInfo)
	want := []string{
		"WARN lost error=eof", "INFO regained down_for=500ms failures=2",
		"WARN lost error=eof", "INFO regained down_for=500ms failures=2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
