package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/renderd/renderd/adapters/postgres"
)

// telemetryMode is one way of running renderd for the telemetry benchmark.
type telemetryMode struct {
	name string
	// metrics says whether the mode serves a metrics listener, which the
	// benchmark then scrapes.
	metrics bool
	// sampler is OTEL_TRACES_SAMPLER with its argument; "" exports no
	// trace.
	sampler, samplerArg string
}

var telemetryModes = []telemetryMode{
	{name: "off"},
	// The control: "off" again, whose ratio to "off" is the noise alone.
	{name: noiseMode},
	// The two halves apart, to tell which one costs what.
	{name: "metrics only", metrics: true},
	{name: "traces 1 % only", sampler: "parentbased_traceidratio", samplerArg: "0.01"},
	{name: "metrics + traces 1 %", metrics: true, sampler: "parentbased_traceidratio", samplerArg: "0.01"},
	{name: "metrics + traces 100 %", metrics: true, sampler: "parentbased_always_on"},
}

// noiseMode is the control mode's name.
const noiseMode = "off again"

// telemetryRounds is how many times each mode runs. The modes alternate
// within a round (each round starting with the next mode), and each ratio
// is the median over the rounds of a mode's rate over the "off" rate of
// the same round: a noisy neighbour's minute, or the tables' growth from
// run to run, weighs on both sides of a ratio.
const telemetryRounds = 5

// telemetryRun is one mode's run: its POST and GET loads, and the renderd
// process's CPU time per request of each.
type telemetryRun struct {
	post, get       loadResult
	postCPU, getCPU time.Duration
}

// benchTelemetry measures what metrics and tracing cost the API: the POST
// and GET loads of the renders benchmark against renderd with no metrics
// listener and no trace exporter, and with both on (sampling 1 % and 100 %
// of traces, exported over OTLP/HTTP to a sink in this process that
// discards them; /metrics scraped every second, far more often than a
// Prometheus would), alternating. The counters themselves are always on:
// "off" turns off the listener, not the counting.
func benchTelemetry(ctx context.Context, e *env, d time.Duration) ([]result, error) {
	acc, err := postgres.NewAccounts(e.pool).Create(ctx, "bench", 600*60)
	if err != nil {
		return nil, err
	}
	// 31 runs of POSTs at up to ~800 req/s: 120,000 signatures, enough for
	// a -duration up to about 14 s (a longer one runs out, and says so).
	assets, err := readyAssets(ctx, e, acc.AccountID, 2*renderAssets)
	if err != nil {
		return nil, fmt.Errorf("ready assets: %w", err)
	}
	sink, err := startTraceSink()
	if err != nil {
		return nil, err
	}
	defer sink.close()
	hc := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute},
	}
	// One client for every run, so that no run asks for a signature another
	// asked for: every POST creates a render.
	api := &renderAPI{hc: hc, key: acc.APIKey, assets: assets}
	// Before the first load, the projector catches up on the assets' own
	// events, which would otherwise share the CPU with it.
	projected := func(ctx context.Context) error {
		return assetsProjected(ctx, e, acc.AccountID, len(assets), 5*time.Minute)
	}
	runs := make(map[string][]telemetryRun)
	// A first run, not counted, warms Postgres and Kafka up.
	if _, err := telemetryOnce(ctx, e, api, sink, telemetryModes[0], projected, d/3); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	for round := range telemetryRounds {
		for i := range telemetryModes {
			mode := telemetryModes[(round+i)%len(telemetryModes)]
			r, err := telemetryOnce(ctx, e, api, sink, mode, projected, d/3)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", mode.name, err)
			}
			runs[mode.name] = append(runs[mode.name], r)
		}
	}
	if sink.exports.Load() == 0 {
		return nil, errors.New("no trace reached the OTLP sink: tracing was not on")
	}
	return telemetryResults(runs), nil
}

// telemetryResults compares each mode with "off", round by round. What
// is judged is renderd's CPU time per request: on a 2-core machine that
// the load, Postgres, Kafka and renderd share, the throughput of one run
// moves by ±30 % from the next whatever the mode, while the CPU a request
// costs renderd moves far less. The rates' ratios are printed beside it.
//
// A mode meets its target when its median ratio is at most the ceiling,
// or when its rounds cannot be told from the noise: the control ("off
// again", identical to "off") measures what two identical runs differ by,
// and a one-sided rank test (aboveNoise) does not find the mode's ratios
// above the control's at 5 %.
func telemetryResults(runs map[string][]telemetryRun) []result {
	type side struct {
		what string
		load func(telemetryRun) loadResult
		cpu  func(telemetryRun) time.Duration
	}
	sides := []side{
		{"POST /v1/renders", func(r telemetryRun) loadResult { return r.post }, func(r telemetryRun) time.Duration { return r.postCPU }},
		{"GET /v1/renders/{id}", func(r telemetryRun) loadResult { return r.get }, func(r telemetryRun) time.Duration { return r.getCPU }},
	}
	off := runs[telemetryModes[0].name]
	// ratios are a mode's round-by-round ratios to off, sorted.
	ratios := func(on []telemetryRun, sd side) (cpu, rate []float64, errs int) {
		cpu, rate = make([]float64, len(on)), make([]float64, len(on))
		for i := range on {
			cpu[i] = float64(sd.cpu(on[i])) / float64(sd.cpu(off[i]))
			rate[i] = sd.load(on[i]).rate / sd.load(off[i]).rate
			errs += sd.load(on[i]).errors
		}
		slices.Sort(cpu)
		slices.Sort(rate)
		return cpu, rate, errs
	}
	var out []result
	for _, sd := range sides {
		noise, _, _ := ratios(runs[noiseMode], sd)
		for _, mode := range telemetryModes[1:] {
			on := runs[mode.name]
			cpu, rate, errs := ratios(on, sd)
			mid := len(on) / 2
			// Exporting every trace costs a span per stage, batched and
			// sent; one in a hundred must cost no more than the noise.
			ceiling := 1.05
			if mode.sampler != "" && mode.samplerArg == "" {
				ceiling = 1.10
			}
			p := aboveNoise(cpu, noise)
			target := fmt.Sprintf("CPU/request median ≤ %.2f × off, or rounds not above off again's (rank test p = %.2f ≥ 0.05)", ceiling, p)
			ok := (cpu[mid] <= ceiling || p >= 0.05) && errs == 0
			if mode.name == noiseMode {
				target, ok = "none: the noise of two identical runs", errs == 0
			}
			out = append(out, result{
				name: fmt.Sprintf("%s, %s (%d rounds)", sd.what, mode.name, telemetryRounds),
				value: fmt.Sprintf("renderd CPU %s/request; %s; rate ÷ off %s (rounds %s–%s)",
					us(medianCPU(on, sd.cpu)), medianLoad(on, sd.load), ratio(rate[mid]), ratio(rate[0]), ratio(rate[len(on)-1])),
				baseline: fmt.Sprintf("off: renderd CPU %s/request; %s", us(medianCPU(off, sd.cpu)), medianLoad(off, sd.load)),
				ratio:    fmt.Sprintf("CPU %s (rounds %s–%s)", ratio(cpu[mid]), ratio(cpu[0]), ratio(cpu[len(on)-1])),
				target:   target,
				ok:       ok,
			})
		}
	}
	return out
}

// medianCPU is the median CPU time per request of runs.
func medianCPU(rs []telemetryRun, cpu func(telemetryRun) time.Duration) time.Duration {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = cpu(r)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

// perRequest spreads cpu over the requests of a load: its rate over the
// warm-up second and d (load counts only those of d, the CPU is of both).
func perRequest(cpu time.Duration, l loadResult, d time.Duration) time.Duration {
	n := l.rate * (d + time.Second).Seconds()
	if n <= 0 {
		return 0
	}
	return time.Duration(float64(cpu) / n)
}

// procCPU is the CPU time (user and system) process pid has used, from
// /proc/<pid>/stat (utime and stime, fields 14 and 15, in clock ticks of
// 10 ms); 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	f := procStatFields(pid) // from the state, field 3
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// quiesce waits until process pid is idle: less than quietCPU of CPU time
// in a quietWindow (an idle renderd polls the outbox and Kafka, about 1 %
// of a core). A process still busy after quietMax is an error: its
// figures would not be a load's.
func quiesce(ctx context.Context, pid int) error {
	const (
		quietWindow = 500 * time.Millisecond
		quietCPU    = 20 * time.Millisecond // 4 % of a core
		quietMax    = 2 * time.Minute
	)
	deadline := time.Now().Add(quietMax)
	for last := procCPU(pid); time.Now().Before(deadline); {
		if err := sleepCtx(ctx, quietWindow); err != nil {
			return err
		}
		now := procCPU(pid)
		if now-last < quietCPU {
			return nil
		}
		last = now
	}
	return fmt.Errorf("renderd (pid %d) still busy after %s", pid, quietMax)
}

// medianLoad is the run of median rate.
func medianLoad(rs []telemetryRun, pick func(telemetryRun) loadResult) loadResult {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b telemetryRun) int { return cmp.Compare(pick(a).rate, pick(b).rate) })
	return pick(sorted[len(sorted)/2])
}

// telemetryOnce starts renderd in mode, runs the GET load over the renders
// the earlier runs created and then the POST load, and stops it. Each
// load's CPU is counted from an idle process (quiesce), and a POST load's
// until the process is idle again: the relay and the projector's work on
// the POSTs' events is theirs. GETs come
// first: after the POSTs the relay, Kafka and Postgres are still busy with
// their events for a while, which the GETs of a mode would pay for.
func telemetryOnce(ctx context.Context, e *env, api *renderAPI, sink *traceSink, mode telemetryMode,
	projected func(context.Context) error, d time.Duration,
) (telemetryRun, error) {
	environ := []string{"OTEL_TRACES_EXPORTER=none"}
	metricsAddr := ""
	if mode.metrics {
		port, err := freePort()
		if err != nil {
			return telemetryRun{}, err
		}
		metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
		environ = append(environ, "RENDERD_METRICS_ADDR="+metricsAddr)
	}
	if mode.sampler != "" {
		environ = append(environ, "OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT="+sink.url, "OTEL_TRACES_SAMPLER="+mode.sampler)
		if mode.samplerArg != "" {
			environ = append(environ, "OTEL_TRACES_SAMPLER_ARG="+mode.samplerArg)
		}
	}
	base, proc, stop, err := startRenderdProc(ctx, e, environ...)
	defer stop()
	if err != nil {
		return telemetryRun{}, err
	}
	api.base = base
	if err := api.waitProjected(ctx, 90*time.Second); err != nil {
		return telemetryRun{}, err
	}
	if err := projected(ctx); err != nil {
		return telemetryRun{}, err
	}
	sctx, stopScrape := context.WithCancel(ctx)
	defer stopScrape()
	if metricsAddr != "" {
		go scrapeEverySecond(sctx, api.hc, "http://"+metricsAddr+"/metrics")
	}

	var r telemetryRun
	get := func() error {
		ids := api.created()
		if len(ids) == 0 {
			return nil
		}
		pid := proc.cmd.Process.Pid
		// A GET leaves no work behind; what the process still does from
		// before (the projector catching up on the last run's events)
		// is no GET's.
		if err := quiesce(ctx, pid); err != nil {
			return err
		}
		cpu := procCPU(pid)
		r.get, err = load(ctx, d, func(ctx context.Context) (bool, error) {
			status, err := api.get(ctx, api.base+"/v1/renders/"+ids[rand.IntN(len(ids))], true)
			return status == http.StatusOK, err
		})
		if err != nil {
			return fmt.Errorf("GET: %w", err)
		}
		r.getCPU = perRequest(procCPU(pid)-cpu, r.get, d)
		return nil
	}
	if err := get(); err != nil {
		return r, err
	}
	before := len(api.created())
	pid := proc.cmd.Process.Pid
	if err := quiesce(ctx, pid); err != nil {
		return r, err
	}
	cpu := procCPU(pid)
	r.post, err = load(ctx, d, func(ctx context.Context) (bool, error) {
		id, status, err := api.post(ctx)
		if err != nil || status != http.StatusCreated {
			return false, err
		}
		api.record(id)
		return true, nil
	})
	if err != nil {
		return r, fmt.Errorf("POST: %w", err)
	}
	// A POST's cost goes on after its answer: the relay publishes its
	// events and the projector applies them. Counted until that is done.
	if err := quiesce(ctx, pid); err != nil {
		return r, err
	}
	r.postCPU = perRequest(procCPU(pid)-cpu, r.post, d)
	if len(api.created()) == before {
		return r, errors.New("POST: no render created")
	}
	if r.get.n == 0 { // the first run: no render to GET before its POSTs
		if err := get(); err != nil {
			return r, err
		}
	}
	e.log.Debug("telemetry: run done", "mode", mode.name, "post", r.post.String(), "get", r.get.String())
	return r, nil
}

// scrapeEverySecond reads url every second until ctx ends, as a Prometheus
// would (at a far shorter interval than any would use).
func scrapeEverySecond(ctx context.Context, hc *http.Client, url string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		if res, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
		}
	}
}

// traceSink is an OTLP/HTTP trace receiver that discards what it gets: the
// exporter's full cost to renderd (encoding, the HTTP request), none of a
// collector's.
type traceSink struct {
	url     string
	srv     *http.Server
	exports atomic.Int64 // export requests received
}

func startTraceSink() (*traceSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &traceSink{url: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.exports.Add(1)
		// An empty ExportTraceServiceResponse: every span accepted.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *traceSink) close() { _ = s.srv.Close() }

// aboveNoise is the p-value of a one-sided exact permutation test of the
// Mann–Whitney statistic: how likely, were mode's and control's values
// drawn alike, a split of them all into groups of their sizes puts as many
// pairs (or more) with the first group's value the higher (ties half) as
// mode and control do. Small p: mode's values lie above control's beyond
// chance. With 5 rounds each there are 252 splits; the smallest p is
// 1/252.
func aboveNoise(mode, control []float64) float64 {
	higher := func(a, b []float64) float64 {
		var n float64
		for _, x := range a {
			for _, y := range b {
				switch {
				case x > y:
					n++
				case x == y:
					n += 0.5
				}
			}
		}
		return n
	}
	observed := higher(mode, control)
	pooled := append(slices.Clone(mode), control...)
	var as, bs []float64
	var at, total int
	var split func(i int)
	split = func(i int) {
		switch {
		case len(as) == len(mode) && len(bs) == len(control):
			total++
			if higher(as, bs) >= observed {
				at++
			}
			return
		case len(as) < len(mode):
			as = append(as, pooled[i])
			split(i + 1)
			as = as[:len(as)-1]
		}
		if len(bs) < len(control) {
			bs = append(bs, pooled[i])
			split(i + 1)
			bs = bs[:len(bs)-1]
		}
	}
	split(0)
	return float64(at) / float64(total)
}
