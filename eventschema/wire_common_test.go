package eventschema

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// throughJSON converts a duration the way a payload does: to seconds, to JSON
// text, back to a float64 and back to a duration.
func throughJSON(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	text, err := json.Marshal(secondsFromDuration(d))
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	if err := json.Unmarshal(text, &s); err != nil {
		t.Fatal(err)
	}
	back, err := durationFromSeconds("d", s)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestDurationSeconds(t *testing.T) {
	t.Run("every_millisecond_up_to_100s_round_trips_exactly", func(t *testing.T) {
		for ms := range 100_000 {
			d := time.Duration(ms) * time.Millisecond
			if got := throughJSON(t, d); got != d {
				t.Fatalf("%v came back as %v", d, got)
			}
		}
	})
	t.Run("long_millisecond_and_microsecond_values_round_trip_exactly", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 100_000 {
			// Up to 1000 hours, far beyond any render.
			d := time.Duration(r.Int64N(int64(1000*time.Hour/time.Microsecond))) * time.Microsecond
			if got := throughJSON(t, d); got != d {
				t.Fatalf("%v came back as %v", d, got)
			}
		}
	})
	tests := []struct {
		name string
		in   time.Duration
		text string
		back time.Duration
	}{
		{"zero_is_zero", 0, "0", 0},
		{"one_millisecond_is_written_as_a_decimal", time.Millisecond, "0.001", time.Millisecond},
		{"api_example_segment_start", 1500 * time.Millisecond, "1.5", 1500 * time.Millisecond},
		{"whole_seconds_have_no_fraction", 9 * time.Second, "9", 9 * time.Second},
		{"one_microsecond_is_kept", time.Microsecond, "0.000001", time.Microsecond},
		{"sub_microsecond_rounds_to_nearest_microsecond", 1500 * time.Nanosecond, "0.000002", 2 * time.Microsecond},
		{"below_half_a_microsecond_rounds_down", 1499 * time.Nanosecond, "0.000001", time.Microsecond},
		{"a_day_and_a_millisecond", 24*time.Hour + time.Millisecond, "86400.001", 24*time.Hour + time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := json.Marshal(secondsFromDuration(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(text) != tt.text {
				t.Errorf("written as %s, want %s", text, tt.text)
			}
			if got := throughJSON(t, tt.in); got != tt.back {
				t.Errorf("read back as %v, want %v", got, tt.back)
			}
		})
	}
	t.Run("seconds_beyond_the_duration_range_are_rejected", func(t *testing.T) {
		for _, s := range []float64{1e300, -1e300, 1e13} {
			if d, err := durationFromSeconds("d", s); err == nil {
				t.Errorf("%v seconds accepted as %v", s, d)
			}
		}
	})
}
