package webhooks

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

func TestSchedule_Next_follows_the_schedule_with_jitter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed int
		rnd    float64
		want   time.Duration
	}{
		{"first_failure_midpoint_is_nominal", 1, 0.5, 5 * time.Second},
		{"first_failure_lowest_is_minus_20_percent", 1, 0, 4 * time.Second},
		{"first_failure_highest_approaches_plus_20_percent", 1, 0.999999, 5999998 * time.Microsecond},
		{"second_failure", 2, 0.5, 30 * time.Second},
		{"fourth_failure_high", 4, 0.75, 33 * time.Second},
		{"fifth_failure_low", 5, 0.25, 108 * time.Second},
		{"seventh_failure", 7, 0.5, 30 * time.Minute},
		{"eleventh_failure_is_the_last_retry", 11, 0.5, 10 * time.Hour},
		{"rnd_out_of_range_is_clamped_low", 1, -3, 4 * time.Second},
		{"rnd_out_of_range_is_clamped_high", 1, 7, 6 * time.Second},
		{"rnd_nan_is_clamped", 1, math.NaN(), 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DefaultSchedule.Next(tc.failed, 0, fixed(tc.rnd))
			if !ok || got != tc.want {
				t.Fatalf("Next(%d, 0, %v) = %v, %v; want %v, true", tc.failed, tc.rnd, got, ok, tc.want)
			}
		})
	}
}

func TestSchedule_Next_jitter_stays_within_20_percent(t *testing.T) {
	for failed := 1; failed <= len(DefaultSchedule); failed++ {
		nominal := DefaultSchedule[failed-1]
		lo, hi := nominal*8/10, nominal*12/10
		seen := map[time.Duration]bool{}
		for range 200 {
			d, ok := DefaultSchedule.Next(failed, 0, nil)
			if !ok || d < lo || d > hi {
				t.Fatalf("Next(%d) = %v, %v; want in [%v, %v]", failed, d, ok, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Next(%d) with the default source gave one value 200 times: no jitter", failed)
		}
	}
}

func TestSchedule_Next_retry_after_is_a_floor(t *testing.T) {
	s := Schedule{10 * time.Second, time.Hour}
	if d, ok := s.Next(1, time.Minute, fixed(0.5)); !ok || d != time.Minute {
		t.Errorf("Retry-After above the delay: Next = %v, %v; want 1m", d, ok)
	}
	if d, ok := s.Next(2, time.Minute, fixed(0.5)); !ok || d != time.Hour {
		t.Errorf("Retry-After below the delay: Next = %v, %v; want 1h", d, ok)
	}
	if d, ok := s.Next(1, 1000*time.Hour, fixed(0.5)); !ok || d != 24*time.Hour {
		t.Errorf("huge Retry-After: Next = %v, %v; want capped at 24h", d, ok)
	}
	if d, ok := s.Next(3, time.Minute, fixed(0.5)); ok {
		t.Errorf("Retry-After does not extend an exhausted schedule: Next = %v, true", d)
	}
}

func TestSchedule_Next_is_exhausted_after_the_last_delay(t *testing.T) {
	if d, ok := DefaultSchedule.Next(len(DefaultSchedule)+1, 0, fixed(0.5)); ok {
		t.Fatalf("Next after %d failures = %v, true; want exhausted", len(DefaultSchedule)+1, d)
	}
	if _, ok := (Schedule{}).Next(1, 0, fixed(0.5)); ok {
		t.Fatal("an empty schedule allows a retry")
	}
	if d, ok := DefaultSchedule.Next(0, 0, fixed(0.5)); !ok || d != 0 {
		t.Fatalf("Next(0) = %v, %v; want 0, true (nothing failed yet)", d, ok)
	}
}

func TestSchedule_Next_huge_delay_does_not_overflow(t *testing.T) {
	d, ok := Schedule{math.MaxInt64}.Next(1, 0, fixed(0.99))
	if !ok || d != math.MaxInt64 {
		t.Fatalf("Next = %v, %v; want the largest duration", d, ok)
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := ParseSchedule("5s,30s,30s,30s,2m,10m,30m,2h,5h,10h,10h")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != DefaultSchedule.String() || len(got) != len(DefaultSchedule) {
		t.Fatalf("ParseSchedule = %v, want %v", got, DefaultSchedule)
	}
	if got, err := ParseSchedule(" 100ms , 1.5s "); err != nil || len(got) != 2 || got[0] != 100*time.Millisecond || got[1] != 1500*time.Millisecond {
		t.Fatalf("ParseSchedule with spaces = %v, %v", got, err)
	}
	for _, bad := range []string{"", "  ", "5s,,5m", "5s,", "0s", "5s,-1m", "5", "soon", "5s;5m"} {
		if s, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) = %v, want an error", bad, s)
		}
	}
}

func TestDefaultSchedule_spreads_its_attempts_over_about_a_day(t *testing.T) {
	var total time.Duration
	for _, d := range DefaultSchedule {
		total += d
	}
	if total < 20*time.Hour || total > 32*time.Hour {
		t.Fatalf("the default schedule spans %v, want about a day", total)
	}
	t.Logf("%d attempts over %v", len(DefaultSchedule)+1, total)
}

// A receiver down for a minute (a deploy, a restart) gets the delivery soon
// after it is back: whenever the outage began relative to the first attempt,
// and whatever the jitter, the first attempt after its return comes within
// 36 s of it (a 30 s step plus 20 %).
func TestDefaultSchedule_a_60s_outage_is_delivered_within_36s_of_the_return(t *testing.T) {
	const outage, bound = 60 * time.Second, 36 * time.Second
	jitters := map[string]func() float64{"lowest": fixed(0), "nominal": fixed(0.5), "highest": fixed(0.999999)}
	for range 20 {
		jitters[fmt.Sprintf("random_%d", len(jitters))] = nil
	}
	var worst time.Duration
	for name, rnd := range jitters {
		// The outage began `into` before the first attempt, which failed.
		for into := time.Duration(0); into < outage; into += 5 * time.Second {
			back := outage - into // when the receiver answers again, from the first attempt
			at, failed := time.Duration(0), 1
			for at < back {
				d, ok := DefaultSchedule.Next(failed, 0, rnd)
				if !ok {
					t.Fatalf("%s, outage %v in: the schedule ran out before the receiver came back", name, into)
				}
				at += d
				failed++
			}
			late := at - back
			worst = max(worst, late)
			if late > bound {
				t.Errorf("%s jitter, outage %v in at the first attempt: delivered %v after the receiver came back, want at most %v",
					name, into, late, bound)
			}
		}
	}
	t.Logf("worst delay after the receiver's return: %v", worst)
}
