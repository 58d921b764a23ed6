package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// The pool benchmark's sizes: 8 renders of a 10 s 1080p source queued at
// once, each schedule twice; 7 short renders of a 5 s clip.
const (
	poolRenders  = 8
	poolSeconds  = 10
	poolRounds   = 2
	shortSeconds = 5
	shortRuns    = 7
	// 16 signatures per asset: 6 assets hold the 8 renders of 5 encoder
	// settings twice.
	poolAssets = 6
)

// poolSchedule is how 8 renders share the cores: slots at once, each
// ffmpeg with threads (0: ffmpeg's own choice).
type poolSchedule struct{ slots, threads int }

func (s poolSchedule) String() string {
	t := "ffmpeg's own threads"
	if s.threads > 0 {
		t = fmt.Sprintf("-threads %d", s.threads)
	}
	return fmt.Sprintf("%d at once, %s", s.slots, t)
}

// poolSchedules are the schedules measured on cores: 1, 2 and cores slots
// (RENDERD_ENCODER_CONCURRENCY), each with ffmpeg's threads left to itself
// and set to the slot's share of the cores (RENDERD_FFMPEG_THREADS).
func poolSchedules(cores int) []poolSchedule {
	var out []poolSchedule
	for _, slots := range []int{1, 2, cores} {
		for _, s := range []poolSchedule{{slots, 0}, {slots, max(1, cores/slots)}} {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// threadsSetting is RENDERD_FFMPEG_THREADS for a schedule's threads: -1
// leaves them to ffmpeg.
func (s poolSchedule) threadsSetting() string {
	if s.threads == 0 {
		return "-1"
	}
	return strconv.Itoa(s.threads)
}

// benchPool measures what the encoder pool's settings do to throughput:
// poolRenders distinct 720p renders queued at once on one encoder process
// under each schedule, against the same renders run bare by ffmpeg under
// the same schedules in the same run, alternating; and short renders (a 5 s
// clip to m4a), POST → completed in the read model, against ffmpeg alone.
func benchPool(ctx context.Context, e *env, _ time.Duration) (rs []result, err error) {
	dir, err := os.MkdirTemp("", "renderd-bench-pool-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &encodeBench{e: e, dir: dir, source: filepath.Join(dir, "source.mp4"), blobDir: filepath.Join(dir, "blobs"),
		store: postgres.NewEventStore(e.pool, e.codec, nil), hc: &http.Client{Timeout: time.Minute}}
	if err := makeSource(ctx, b.source, poolSeconds); err != nil {
		return nil, err
	}
	defer func() {
		b.stop()
		if err != nil {
			b.dumpLogs()
		}
	}()
	// An encoder with renderd's defaults probes the uploads.
	if err := b.startAPI(ctx); err != nil {
		return nil, err
	}
	if err := b.startEncoder(ctx); err != nil {
		return nil, err
	}
	if err := b.prepare(ctx, poolAssets); err != nil {
		return nil, err
	}
	cores := runtime.NumCPU()
	schedules := poolSchedules(cores)
	if need := poolRenders * (len(schedules) + 1) * poolRounds; need > len(b.encodes) {
		return nil, fmt.Errorf("%d renders need more than the %d prepared signatures: raise poolAssets", need, len(b.encodes))
	}
	service := map[poolSchedule][]time.Duration{}
	bare := map[poolSchedule][]time.Duration{}
	var defaults []time.Duration
	for round := range poolRounds {
		for _, s := range schedules {
			e.log.Debug("pool: schedule", "round", round, "schedule", s.String())
			if err := b.startEncoder(ctx, "RENDERD_ENCODER_CONCURRENCY="+strconv.Itoa(s.slots),
				"RENDERD_FFMPEG_THREADS="+s.threadsSetting()); err != nil {
				return nil, err
			}
			reqs := b.take(poolRenders)
			wall, err := b.queueAll(ctx, reqs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s, err)
			}
			if err := b.waitIdle(ctx); err != nil {
				return nil, err
			}
			bw, err := b.bareSchedule(ctx, reqs, s)
			if err != nil {
				return nil, fmt.Errorf("bare, %s: %w", s, err)
			}
			service[s], bare[s] = append(service[s], wall), append(bare[s], bw)
		}
		// renderd as it ships: no setting of the pool's.
		e.log.Debug("pool: renderd's defaults", "round", round)
		if err := b.startEncoder(ctx); err != nil {
			return nil, err
		}
		wall, err := b.queueAll(ctx, b.take(poolRenders))
		if err != nil {
			return nil, fmt.Errorf("renderd's defaults: %w", err)
		}
		defaults = append(defaults, wall)
	}
	rs = poolResults(schedules, service, bare, defaults)

	e.log.Debug("pool: short renders")
	short, err := b.shortRenders(ctx)
	if err != nil {
		return nil, fmt.Errorf("short renders: %w", err)
	}
	return append(rs, short), nil
}

// perMinute is renders per minute of poolRenders renders taking the
// median of walls.
func perMinute(walls []time.Duration) float64 {
	return poolRenders / pct(slices.Sorted(slices.Values(walls)), 0.5).Minutes()
}

// poolResults is a row per schedule run through renderd and one per
// schedule run bare, each next to the best bare schedule, and the row of
// renderd's defaults, which is judged: ≥ 0.95 × the best bare schedule.
func poolResults(schedules []poolSchedule, service, bare map[poolSchedule][]time.Duration, defaults []time.Duration) []result {
	best := schedules[0]
	for _, s := range schedules {
		if perMinute(bare[s]) > perMinute(bare[best]) {
			best = s
		}
	}
	bestRate := perMinute(bare[best])
	baseline := fmt.Sprintf("%.1f renders/min (bare ffmpeg, best schedule: %s)", bestRate, best)
	walls := func(ds []time.Duration) string {
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%.1f s", d.Seconds()))
		}
		return fmt.Sprint(out)
	}
	row := func(name string, ds []time.Duration) result {
		rate := perMinute(ds)
		return result{name: name, value: fmt.Sprintf("%.1f renders/min (walls %s)", rate, walls(ds)), baseline: baseline,
			ratio: fmt.Sprintf("%.2f", rate/bestRate), target: "reported", ok: true}
	}
	var rs []result
	for _, s := range schedules {
		rs = append(rs, row(fmt.Sprintf("%d × 720p queued on one encoder: %s", poolRenders, s), service[s]))
	}
	def := row(fmt.Sprintf("%d × 720p queued on one encoder: renderd's defaults (cores slots; ffmpeg's own threads alone, the slot's share beside others)", poolRenders), defaults)
	def.target, def.ok = "≥ 0.95 × the best bare schedule", perMinute(defaults) >= 0.95*bestRate
	rs = append(rs, def)
	for _, s := range schedules {
		rs = append(rs, row(fmt.Sprintf("%d × 720p, bare ffmpeg: %s", poolRenders, s), bare[s]))
	}
	return rs
}

// queueAll posts the renders at once and returns the time from the first
// POST to the last render.completed. Completion is watched in the read
// model, one query for all of them, so that the watch takes next to no
// CPU from the encodes.
func (b *encodeBench) queueAll(ctx context.Context, reqs []encodeRequest) (time.Duration, error) {
	if err := b.waitIdle(ctx); err != nil {
		return 0, err
	}
	ids := make([]string, len(reqs))
	errs := make([]error, len(reqs))
	start := time.Now()
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { ids[i], errs[i] = b.post(ctx, r) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	if err := b.waitRows(ctx, ids, 200*time.Millisecond, 10*time.Minute); err != nil {
		return 0, err
	}
	var last time.Time
	for _, id := range ids {
		run, err := b.history(ctx, id)
		if err != nil {
			return 0, err
		}
		if run.completed.After(last) {
			last = run.completed
		}
	}
	return last.Sub(start), nil
}

// waitRows polls the renders read model every period until every one of
// ids is completed, and fails at once when one failed or was cancelled.
func (b *encodeBench) waitRows(ctx context.Context, ids []string, period, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var completed, ended int
		err := b.e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state IN ('failed', 'cancelled'))
			FROM rm_renders WHERE id = ANY($1)`, ids).Scan(&completed, &ended)
		switch {
		case err != nil:
			return err
		case ended > 0:
			return fmt.Errorf("%d of the renders %v failed or were cancelled", ended, ids)
		case completed == len(ids):
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%d of %d renders completed after %s", completed, len(ids), within)
		}
		if err := sleepCtx(ctx, period); err != nil {
			return err
		}
	}
}

// bareSchedule runs the renders' commands bare, s.slots at once, each with
// s.threads, and returns the wall time of all.
func (b *encodeBench) bareSchedule(ctx context.Context, reqs []encodeRequest, s poolSchedule) (time.Duration, error) {
	cmds := make([][]string, len(reqs))
	outs := make([]string, len(reqs))
	for i, r := range reqs {
		out := filepath.Join(b.dir, fmt.Sprintf("bare-%d.%s", i, r.output.Format))
		job, cmd, err := b.bareJob(r.output, b.media, out, s.threads)
		if err != nil {
			return 0, err
		}
		cmds[i], outs[i] = cmd.Args, job.Output
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.slots)
	start := time.Now()
	for i := range cmds {
		g.Go(func() error { _, err := runBare(gctx, cmds[i], outs[i]); return err })
	}
	err := g.Wait()
	return time.Since(start), err
}

// bareJob is the command the worker builds for output o of a source probed
// as media, planned as RequestRender plans it, on the local copy of the
// source, writing to out with threads (0: ffmpeg's own).
func (b *encodeBench) bareJob(o domain.OutputSpec, media domain.MediaInfo, out string, threads int) (encoders.Job, encoders.Command, error) {
	plan, err := domain.PlanOutput(o, media, nil, 0)
	if err != nil {
		return encoders.Job{}, encoders.Command{}, err
	}
	// The worker's own prober, as wired: the same input options.
	input, err := ffmpeg.NewProber("", 0, ffmpeg.Limits{}).InputArgs(b.source, media.Container)
	if err != nil {
		return encoders.Job{}, encoders.Command{}, err
	}
	job := encoders.Job{Format: o.Format, Plan: plan, Source: media, Input: input, Output: out, Threads: threads}
	cmd, err := encoders.BuildCommand(job)
	return job, cmd, err
}

// shortRenders times short renders on an idle encoder with renderd's
// defaults: a 5 s clip to m4a, POST sent → completed in the renders read
// model (polled every 2 ms), against the same ffmpeg command run bare,
// alternating. Everything renderd adds (the request, the relay, the claim,
// the Go verify, the commit, the projection) is the difference.
func (b *encodeBench) shortRenders(ctx context.Context) (result, error) {
	b.source = filepath.Join(b.dir, "clip.mp4")
	if err := makeSource(ctx, b.source, shortSeconds); err != nil {
		return result{}, err
	}
	assets, media, err := b.readyAssets(ctx, 2)
	if err != nil {
		return result{}, err
	}
	var service, bare []time.Duration
	for i := range shortRuns {
		// Distinct signatures: two assets, four audio bitrates.
		o := domain.OutputSpec{Format: domain.FormatM4A, AudioBitrate: []int{0, 192, 256, 320}[i/2]}
		job, cmd, err := b.bareJob(o, media, filepath.Join(b.dir, "short.m4a"), 0)
		if err != nil {
			return result{}, err
		}
		d, err := runBare(ctx, cmd.Args, job.Output)
		if err != nil {
			return result{}, err
		}
		bare = append(bare, d)
		if err := b.waitIdle(ctx); err != nil {
			return result{}, err
		}
		sent := time.Now()
		id, err := b.post(ctx, encodeRequest{assets[i%2], o})
		if err != nil {
			return result{}, err
		}
		if err := b.waitRows(ctx, []string{id}, 2*time.Millisecond, time.Minute); err != nil {
			return result{}, err
		}
		service = append(service, time.Since(sent))
	}
	sp, bp := pct(slices.Sorted(slices.Values(service)), 0.5), pct(slices.Sorted(slices.Values(bare)), 0.5)
	return result{
		name:     fmt.Sprintf("short render: %d s 1080p clip → m4a, POST → completed (read model), %d runs", shortSeconds, shortRuns),
		value:    fmt.Sprintf("p50 %s", ms(sp)),
		baseline: fmt.Sprintf("p50 %s (the same ffmpeg command, bare)", ms(bp)),
		ratio:    fmt.Sprintf("+%s", ms(sp-bp)),
		target:   "≤ bare + 100 ms",
		ok:       sp <= bp+100*time.Millisecond,
	}, nil
}
