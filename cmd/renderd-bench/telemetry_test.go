package main

import (
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
	rs = telemetryResults(telemetryRuns(off, map[string][]float64{noiseMode: noisy, "metrics only": {1.2, 1.2, 1.2, 1.2, 1.2}}))
	if !met(rs, "metrics only") {
		t.Error("a median of 1.2 fails though identical runs differ by up to 1.3")
	}
	if !met(rs, noiseMode) {
		t.Error("the control has a target")
	}
	rs = telemetryResults(telemetryRuns(off, map[string][]float64{noiseMode: quiet, "metrics + traces 100 %": {1.08, 1.09, 1.07, 1.08, 1.08}}))
	if !met(rs, "metrics + traces 100 %") {
		t.Error("every trace exported is allowed 1.10")
	}
}
