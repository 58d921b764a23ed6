package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func (f fairRun) result(video pairResult) result {
	alone := pct(slices.Sorted(slices.Values(video.service)), 0.5)
	return result{
		name: fmt.Sprintf("fairness: account A queues %d × 720p renders (%d start at once), then account B posts 1: B's POST → B's ffmpeg started",
			f.queued, f.runningOfA),
		value: fmt.Sprintf("%.2f s; A's renders started in between: %d", f.wait.Seconds(), f.startedOfA),
		baseline: fmt.Sprintf("%.2f s, the encode of A's that freed the slot (started → completed, %d at once; %.2f s alone, median of the pairs above)",
			f.encode.Seconds(), f.runningOfA, alone.Seconds()),
		ratio:  ratio(f.wait.Seconds() / f.encode.Seconds()),
		target: "≤ 1.5 × one encode",
		ok:     f.queueFullOK && f.startedOfA == 0 && f.wait.Seconds() <= 1.5*f.encode.Seconds(),
	}
}

func (b *encodeBench) results(video, audio, remux pairResult, starts, fromAck, fromSent []time.Duration,
	wall time.Duration, batch []serviceRun, hwm, maxRSS int64, samples int) []result {
	mid := func(ds []time.Duration) time.Duration { return pct(slices.Sorted(slices.Values(ds)), 0.5) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	// Medians of each phase, and each pair's own ratio: alternation
	// cancels slow drifts of the machine within a pair.
	detail := func(p pairResult, show func(time.Duration) string) string {
		var before, run, after, enc []time.Duration
		var pairs []string
		for i, r := range p.runs {
			b, f, a := r.phases()
			before, run, after = append(before, b), append(run, f), append(after, a)
			enc = append(enc, time.Duration(r.encodeSeconds*float64(time.Second)))
			pairs = append(pairs, fmt.Sprintf("%.2f", p.service[i].Seconds()/p.bare[i].Seconds()))
		}
		return fmt.Sprintf("%s: started → ffmpeg %s, ffmpeg %s, ffmpeg exit → completed %s; encode_seconds %s; service/bare per pair %s",
			show(mid(p.service)), ms(mid(before)), show(mid(run)), ms(mid(after)), show(mid(enc)), strings.Join(pairs, ", "))
	}
	allFast := func(p pairResult) (n int) {
		for _, r := range p.runs {
			if r.fastPath {
				n++
			}
		}
		return n
	}
	kind := func(p pairResult) string {
		if p.fastPath {
			return "remux"
		}
		return "re-encode"
	}

	vBare, vSvc := mid(video.bare), mid(video.service)
	aBare, aSvc := mid(audio.bare), mid(audio.service)
	rSvc := mid(remux.service)
	slices.Sort(starts)
	slices.Sort(fromAck)
	slices.Sort(fromSent)
	var batchTook []time.Duration
	for _, r := range batch {
		batchTook = append(batchTook, r.took())
	}
	oneByOne := time.Duration(len(batch)) * vSvc
	perMin := func(n int, d time.Duration) float64 { return float64(n) / d.Minutes() }
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	diff := aSvc - aBare
	sign := "+"
	if diff < 0 {
		sign, diff = "−", -diff
	}
	return []result{{
		name:     fmt.Sprintf("30 s 1080p → 720p mp4 (%s): service StartRender → CompleteRender vs bare ffmpeg, median of %d alternating", kind(video), len(video.bare)),
		value:    detail(video, secs),
		baseline: secs(vBare) + " bare ffmpeg, same arguments",
		ratio:    ratio(vSvc.Seconds() / vBare.Seconds()),
		target:   "≤ 1.03 × bare",
		ok:       vSvc.Seconds() <= 1.03*vBare.Seconds(),
	}, {
		name:     fmt.Sprintf("30 s 1080p → m4a (AAC %s, 128 kb/s): service vs bare ffmpeg, median of %d alternating", kind(audio), len(audio.bare)),
		value:    detail(audio, ms),
		baseline: ms(aBare) + " bare ffmpeg, same arguments",
		ratio:    sign + ms(diff),
		target:   "≤ bare + 50 ms",
		ok:       aSvc-aBare <= 50*time.Millisecond,
	}, {
		name:     fmt.Sprintf("fast path: 30 s 1080p → mp4 at the source's plan (-c copy), median of %d", len(remux.service)),
		value:    fmt.Sprintf("fast_path in %d of %d render.completed; %s", allFast(remux), len(remux.runs), detail(remux, ms)),
		baseline: secs(vSvc) + " service, 720p re-encode",
		ratio:    fmt.Sprintf("%.0f × faster", vSvc.Seconds()/rSvc.Seconds()),
		target:   "≥ 50 × faster than the re-encode",
		ok:       remux.fastPath && allFast(remux) == len(remux.runs) && vSvc.Seconds() >= 50*rSvc.Seconds(),
	}, {
		name: fmt.Sprintf("cancel → ffmpeg gone, %d cancels of a running 720p encode", len(fromAck)),
		value: fmt.Sprintf("from the 204: p50 %s, p99 %s; from sending DELETE: p50 %s, p99 %s",
			ms(pct(fromAck, 0.5)), ms(pct(fromAck, 0.99)), ms(pct(fromSent, 0.5)), ms(pct(fromSent, 0.99))),
		target: "p99 ≤ 2 s",
		ok:     pct(fromAck, 0.99) <= 2*time.Second,
	}, {
		name:   fmt.Sprintf("POST → ffmpeg started, idle encoder (%d)", len(starts)),
		value:  fmt.Sprintf("p50 %s, p99 %s", ms(pct(starts, 0.5)), ms(pct(starts, 0.99))),
		target: "p50 ≤ 100 ms",
		ok:     pct(starts, 0.5) <= 100*time.Millisecond,
	}, {
		name: fmt.Sprintf("throughput, %d × 720p re-encode posted at once, %d at a time", len(batch), encodeConcurrency),
		value: fmt.Sprintf("%.1f renders/min (%d in %s; each %s median service time)",
			perMin(len(batch), wall), len(batch), secs(wall), secs(mid(batchTook))),
		baseline: fmt.Sprintf("%.1f renders/min one at a time (%d × %s = %s)", perMin(len(batch), oneByOne), len(batch), secs(vSvc), secs(oneByOne)),
		ratio:    ratio(oneByOne.Seconds() / wall.Seconds()),
		target:   "reported",
		ok:       true,
	}, {
		name:   "peak RSS of `renderd serve --roles encoder`, whole benchmark (ffmpeg excluded)",
		value:  fmt.Sprintf("VmHWM %.1f MiB (largest sampled VmRSS %.1f MiB, %d samples)", mib(hwm), mib(maxRSS), samples),
		target: "≤ 100 MiB",
		ok:     hwm > 0 && mib(hwm) <= 100,
	}}
}
