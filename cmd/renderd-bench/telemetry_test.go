package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// telemetryRuns gives every mode five rounds at the same rate, each
// round's CPU per request off's scaled by the mode's factor for that round.
func telemetryRuns(off []time.Duration, factors map[string][]float64) map[string][]telemetryRun {
	runs := make(map[string][]telemetryRun)
	for _, m := range telemetryModes {
		f := factors[m.name]
		for i, c := range off {
			k := 1.0
			if f != nil {
				k = f[i]
			}
			cpu := time.Duration(float64(c) * k)
			runs[m.name] = append(runs[m.name], telemetryRun{
				post: loadResult{rate: 400, n: 2000}, get: loadResult{rate: 4000, n: 20000},
				postCPU: cpu, getCPU: cpu,
			})
		}
	}
	return runs
}

func TestTelemetryResults(t *testing.T) {
	off := []time.Duration{100, 110, 90, 105, 95}
	met := func(rs []result, mode string) bool {
		t.Helper()
		for _, r := range rs {
			if strings.Contains(r.name, "GET") && strings.Contains(r.name, ", "+mode+" (") {
				return r.ok
			}
		}
		t.Fatalf("no GET row for %q", mode)
		return false
	}
	quiet := []float64{1, 1.01, 0.99, 1, 1.02} // the control: noise up to 1.02
	noisy := []float64{1, 1.3, 0.8, 1.1, 0.9}  // the control: noise up to 1.3

	rs := telemetryResults(telemetryRuns(off, map[string][]float64{noiseMode: quiet, "metrics only": {1.04, 1.03, 1.05, 1.04, 1.04}}))
	if !met(rs, "metrics only") {
		t.Error("a median of 1.04 fails a ceiling of 1.05")
	}
	rs = telemetryResults(telemetryRuns(off, map[string][]float64{noiseMode: quiet, "metrics only": {1.2, 1.2, 1.2, 1.2, 1.2}}))
	if met(rs, "metrics only") {
		t.Error("a median of 1.2 passes with noise up to 1.02")
	}
	rs = telemetryResults(telemetryRuns(off, map[string][]float64{noiseMode: noisy, "metrics only": {1.25, 0.85, 1.15, 0.95, 1.2}}))
	if !met(rs, "metrics only") {
		t.Error("a median of 1.15 whose rounds spread as identical runs' do fails")
	}
	rs = telemetryResults(telemetryRuns(off, map[string][]float64{noiseMode: noisy, "metrics only": {1.35, 1.4, 1.5, 1.45, 1.4}}))
	if met(rs, "metrics only") {
		t.Error("rounds all above the noisiest identical run pass")
	}
	if !met(rs, noiseMode) {
		t.Error("the control has a target")
	}
	rs = telemetryResults(telemetryRuns(off, map[string][]float64{noiseMode: quiet, "metrics + traces 100 %": {1.08, 1.09, 1.07, 1.08, 1.08}}))
	if !met(rs, "metrics + traces 100 %") {
		t.Error("every trace exported is allowed 1.10")
	}
}

func TestAboveNoise(t *testing.T) {
	for _, c := range []struct {
		mode, control []float64
		p             float64
	}{
		{[]float64{2, 3, 4, 5, 6}, []float64{1, 1, 1, 1, 1}, 1.0 / 252},   // every round above: the least likely split
		{[]float64{1, 1, 1, 1, 1}, []float64{2, 3, 4, 5, 6}, 1},           // every round below
		{[]float64{1, 2, 3, 4, 5}, []float64{1, 2, 3, 4, 5}, 148.0 / 252}, // alike: over half (ties count half)
	} {
		if p := aboveNoise(c.mode, c.control); math.Abs(p-c.p) > 1e-9 {
			t.Errorf("aboveNoise(%v, %v) = %.3f, want %.3f", c.mode, c.control, p, c.p)
		}
	}
}
