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
	"sync"
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

// telemetryRounds is how many times each mode runs; the modes alternate
// within a round, and each figure is the median of its mode's runs, so a
// noisy neighbour's minute spreads over every mode.
const telemetryRounds = 3

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
	assets, err := readyAssets(ctx, e, acc.AccountID, renderAssets)
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
	runs := make(map[string][]telemetryRun)
	first := true
	for round := range telemetryRounds {
		for i := range telemetryModes {
			mode := telemetryModes[(round+i)%len(telemetryModes)]
			r, err := telemetryOnce(ctx, e, api, sink, mode, d/3)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", mode.name, err)
			}
			if first {
				// The projector first catches up on the assets' own events.
				if err := assetsProjected(ctx, e, acc.AccountID, len(assets), 2*time.Minute); err != nil {
					return nil, err
				}
				if r, err = telemetryOnce(ctx, e, api, sink, mode, d/3); err != nil {
					return nil, fmt.Errorf("%s: %w", mode.name, err)
				}
				first = false
			}
			runs[mode.name] = append(runs[mode.name], r)
		}
	}
	if sink.exports.Load() == 0 {
		return nil, errors.New("no trace reached the OTLP sink: tracing was not on")
	}
	return telemetryResults(runs), nil
}

// telemetryResults compares each mode's median rates with those of "off".
func telemetryResults(runs map[string][]telemetryRun) []result {
	median := func(rs []telemetryRun, pick func(telemetryRun) loadResult) loadResult {
		sorted := slices.Clone(rs)
		slices.SortFunc(sorted, func(a, b telemetryRun) int {
			return cmp.Compare(pick(a).rate, pick(b).rate)
		})
		return pick(sorted[len(sorted)/2])
	}
	post := func(r telemetryRun) loadResult { return r.post }
	get := func(r telemetryRun) loadResult { return r.get }
	off := runs[telemetryModes[0].name]
	offPost, offGet := median(off, post), median(off, get)
	var out []result
	for _, mode := range telemetryModes[1:] {
		// Tracing every request may cost what exporting a span per stage
		// costs; one in a hundred must cost no more than the noise.
		floor := 0.95
		if mode.samplerArg == "" {
			floor = 0.90
		}
		for _, row := range []struct {
			what     string
			pick     func(telemetryRun) loadResult
			baseline loadResult
		}{{"POST /v1/renders", post, offPost}, {"GET /v1/renders/{id}", get, offGet}} {
			m := median(runs[mode.name], row.pick)
			r := m.rate / row.baseline.rate
			out = append(out, result{
				name:     fmt.Sprintf("%s, %s (median of %d)", row.what, mode.name, telemetryRounds),
				value:    m.String(),
				baseline: "off: " + row.baseline.String(),
				ratio:    ratio(r),
				target:   fmt.Sprintf("≥ %.2f × off", floor),
				ok:       r >= floor && m.errors == 0,
			})
		}
	}
	return out
}

// telemetryOnce starts renderd in mode, runs the POST load and then the GET
// load over the renders it created, and stops it.
func telemetryOnce(ctx context.Context, e *env, api *renderAPI, sink *traceSink, mode telemetryMode, d time.Duration) (telemetryRun, error) {
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
	sctx, stopScrape := context.WithCancel(ctx)
	defer stopScrape()
	if metricsAddr != "" {
		go scrapeEverySecond(sctx, api.hc, "http://"+metricsAddr+"/metrics")
	}

	var (
		mu  sync.Mutex
		ids []string
	)
	var r telemetryRun
	r.post, err = load(ctx, d, func(ctx context.Context) (bool, error) {
		id, status, err := api.post(ctx)
		if err != nil || status != http.StatusCreated {
			return false, err
		}
		mu.Lock()
		ids = append(ids, id)
		mu.Unlock()
		return true, nil
	})
	if err != nil {
		return r, fmt.Errorf("POST: %w", err)
	}
	if len(ids) == 0 {
		return r, errors.New("POST: no render created")
	}
	r.get, err = load(ctx, d, func(ctx context.Context) (bool, error) {
		status, err := api.get(ctx, api.base+"/v1/renders/"+ids[rand.IntN(len(ids))], true)
		return status == http.StatusOK, err
	})
	if err != nil {
		return r, fmt.Errorf("GET: %w", err)
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
