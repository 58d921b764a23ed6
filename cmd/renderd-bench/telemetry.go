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
	{name: "metrics + traces 1 %", metrics: true, sampler: "parentbased_traceidratio", samplerArg: "0.01"},
	{name: "metrics + traces 100 %", metrics: true, sampler: "parentbased_always_on"},
}

// telemetryRounds is how many times each mode runs. The modes alternate
// within a round (each round starting with the next mode), and each ratio
// is the median over the rounds of a mode's rate over the "off" rate of
// the same round: a noisy neighbour's minute, or the tables' growth from
// run to run, weighs on both sides of a ratio.
const telemetryRounds = 5

// telemetryRun is one mode's run: its POST and GET loads.
type telemetryRun struct{ post, get loadResult }

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
	// 15 runs of POSTs at up to ~800 req/s: more signatures than the
	// renders benchmark needs.
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

// telemetryResults compares each mode with "off", round by round.
func telemetryResults(runs map[string][]telemetryRun) []result {
	post := func(r telemetryRun) loadResult { return r.post }
	get := func(r telemetryRun) loadResult { return r.get }
	off := runs[telemetryModes[0].name]
	var out []result
	for _, mode := range telemetryModes[1:] {
		// Tracing every request may cost what exporting a span per stage
		// costs; one in a hundred must cost no more than the noise.
		floor := 0.95
		if mode.samplerArg == "" {
			floor = 0.90
		}
		for _, row := range []struct {
			what string
			pick func(telemetryRun) loadResult
		}{{"POST /v1/renders", post}, {"GET /v1/renders/{id}", get}} {
			on := runs[mode.name]
			ratios := make([]float64, len(on))
			errs := 0
			for i := range on {
				ratios[i] = row.pick(on[i]).rate / row.pick(off[i]).rate
				errs += row.pick(on[i]).errors
			}
			slices.Sort(ratios)
			r := ratios[len(ratios)/2]
			out = append(out, result{
				name:     fmt.Sprintf("%s, %s (%d rounds)", row.what, mode.name, telemetryRounds),
				value:    medianLoad(on, row.pick).String(),
				baseline: "off: " + medianLoad(off, row.pick).String(),
				ratio:    fmt.Sprintf("%s (rounds %s–%s)", ratio(r), ratio(ratios[0]), ratio(ratios[len(ratios)-1])),
				target:   fmt.Sprintf("median ≥ %.2f × off", floor),
				ok:       r >= floor && errs == 0,
			})
		}
	}
	return out
}

// medianLoad is the run of median rate.
func medianLoad(rs []telemetryRun, pick func(telemetryRun) loadResult) loadResult {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b telemetryRun) int { return cmp.Compare(pick(a).rate, pick(b).rate) })
	return pick(sorted[len(sorted)/2])
}

// telemetryOnce starts renderd in mode, runs the GET load over the renders
// the earlier runs created and then the POST load, and stops it. GETs come
// first: after the POSTs the relay, Kafka and Postgres are still busy with
// their events for a while, which the GETs of a mode would pay for.
func telemetryOnce(ctx context.Context, e *env, api *renderAPI, sink *traceSink, mode telemetryMode,
	projected func(context.Context) error, d time.Duration,
) (telemetryRun, error) {
	env := []string{"OTEL_TRACES_EXPORTER=none"}
	metricsAddr := ""
	if mode.metrics {
		port, err := freePort()
		if err != nil {
			return telemetryRun{}, err
		}
		metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
		env = append(env, "RENDERD_METRICS_ADDR="+metricsAddr)
	}
	if mode.sampler != "" {
		env = append(env, "OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT="+sink.url, "OTEL_TRACES_SAMPLER="+mode.sampler)
		if mode.samplerArg != "" {
			env = append(env, "OTEL_TRACES_SAMPLER_ARG="+mode.samplerArg)
		}
	}
	base, stop, err := startRenderd(ctx, e, env...)
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
		r.get, err = load(ctx, d, func(ctx context.Context) (bool, error) {
			status, err := api.get(ctx, api.base+"/v1/renders/"+ids[rand.IntN(len(ids))], true)
			return status == http.StatusOK, err
		})
		if err != nil {
			return fmt.Errorf("GET: %w", err)
		}
		return nil
	}
	if err := get(); err != nil {
		return r, err
	}
	before := len(api.created())
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
