package main

import (
	"fmt"
	"testing"
	"time"
)

func TestPoolSchedules(t *testing.T) {
	for cores, want := range map[int]string{
		1: "[1 at once, ffmpeg's own threads 1 at once, -threads 1 2 at once, ffmpeg's own threads 2 at once, -threads 1]",
		2: "[1 at once, ffmpeg's own threads 1 at once, -threads 2 2 at once, ffmpeg's own threads 2 at once, -threads 1]",
		8: "[1 at once, ffmpeg's own threads 1 at once, -threads 8 2 at once, ffmpeg's own threads 2 at once, -threads 4 8 at once, ffmpeg's own threads 8 at once, -threads 1]",
	} {
		if got := fmt.Sprint(poolSchedules(cores)); got != want {
			t.Errorf("%d cores: %s, want %s", cores, got, want)
		}
	}
}

func TestPoolResults(t *testing.T) {
	s := poolSchedules(2)
	secs := func(v ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x*float64(time.Second)))
		}
		return out
	}
	// Bare: the best schedule is 2 at once with 1 thread (48 s → 10/min).
	bare := map[poolSchedule][]time.Duration{s[0]: secs(60, 60), s[1]: secs(58, 58), s[2]: secs(50, 50), s[3]: secs(48, 48)}
	service := map[poolSchedule][]time.Duration{s[0]: secs(61, 61), s[1]: secs(59, 59), s[2]: secs(50, 50), s[3]: secs(60, 60)}
	rs := poolResults(s, service, bare, secs(50, 50))
	if len(rs) != 9 {
		t.Fatalf("%d rows, want 4 through renderd, the defaults and 4 bare", len(rs))
	}
	def := rs[4]
	if def.target == "reported" || !def.ok || def.ratio != "0.96" {
		t.Errorf("the defaults' row: %+v, want judged, met at 0.96 (48 s against 50 s)", def)
	}
	for _, i := range []int{0, 1, 2, 3, 5, 8} {
		if rs[i].target != "reported" || !rs[i].ok {
			t.Errorf("row %d: %+v, want reported", i, rs[i])
		}
	}
	if rs := poolResults(s, service, bare, secs(55, 55)); rs[4].ok {
		t.Errorf("the defaults at 48/55 of the best: %+v, want not met", rs[4])
	}
}
