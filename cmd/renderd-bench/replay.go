package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/renderd/renderd/adapters/postgres/readmodel"
	"github.com/renderd/renderd/domain"
)

var replayEvents = flag.Int("replay-events", 1_000_000, "events in the log the replay benchmark rebuilds")

// benchReplay measures readmodel.ReplayAll (what `renderd replay` runs)
// over a log of -replay-events render events: requested, started,
// progressed, completed per render, written with COPY.
func benchReplay(ctx context.Context, e *env, _ time.Duration) ([]result, error) {
	renders := max(*replayEvents/4, 1)
	began := time.Now()
	if err := writeRenderLog(ctx, e, renders); err != nil {
		return nil, err
	}
	// A log as production has it: written long ago and vacuumed since, so
	// the replay does not pay for setting the hint bits of fresh rows.
	if _, err := e.pool.Exec(ctx, `VACUUM (ANALYZE) events`); err != nil {
		return nil, fmt.Errorf("vacuum the log: %w", err)
	}
	e.log.Debug("replay: log written", "events", renders*4, "took", time.Since(began))
	// Into tables of their own, as `renderd replay` rebuilds them.
	rpool, err := readmodel.PrepareReplay(ctx, e.pool, "renderd_replay")
	if err != nil {
		return nil, err
	}
	defer rpool.Close()
	// Three runs, each into emptied tables, and the median: a single run on
	// a shared 2-core machine swings by a third.
	const runs = 3
	var (
		took  []time.Duration
		rates []string
		n     int
	)
	for range runs {
		start := time.Now()
		res, err := readmodel.ReplayAll(ctx, rpool, e.codec, e.log, nil)
		if err != nil {
			return nil, err
		}
		took = append(took, time.Since(start))
		n = res.Events
		rates = append(rates, fmt.Sprintf("%.0f", float64(n)/took[len(took)-1].Seconds()))
	}
	mid := pct(slices.Sorted(slices.Values(took)), 0.5)
	rate := float64(n) / mid.Seconds()
	return []result{{
		name:   fmt.Sprintf("replay of %d events (%d renders) into empty read models, median of %d", n, renders, runs),
		value:  fmt.Sprintf("%.0f events/s (%s; runs: %s events/s)", rate, mid.Round(time.Millisecond), strings.Join(rates, ", ")),
		target: "≥ 100,000 events/s",
		ok:     rate >= 100_000,
	}}, nil
}

// writeRenderLog COPYs renders × 4 events into the event store.
func writeRenderLog(ctx context.Context, e *env, renders int) error {
	at := time.Now().UTC().Add(-time.Hour)
	plan := domain.RenderPlan{Width: 1280, Height: 720, VideoBitrate: 5_000_000, AudioBitrate: 192_000, Duration: 30 * time.Second}
	events := func(i int) []domain.Event {
		return []domain.Event{
			domain.RenderRequested{AssetID: fmt.Sprintf("ast_bench_%d", i), Output: domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p},
				Plan: plan, Signature: fmt.Sprintf("sig_%d", i)},
			domain.RenderStarted{Attempt: 1, WorkerID: "bench", LeaseUntil: at.Add(time.Minute)},
			domain.RenderProgressed{Attempt: 1, Percent: 50, ETA: 10 * time.Second, Position: 15 * time.Second},
			domain.RenderCompleted{Attempt: 1, BlobKey: "renders/x/attempt-1.mp4", SizeBytes: 20_000_000, Duration: 30 * time.Second,
				Width: 1280, Height: 720, VideoBitrate: 5_000_000, AudioBitrate: 192_000, EncodeTime: 20 * time.Second},
		}
	}
	const chunk = 50_000 // renders per COPY
	for first := 0; first < renders; first += chunk {
		var rows [][]any
		for i := first; i < min(first+chunk, renders); i++ {
			id := "rnd_" + uuid.Must(uuid.NewV7()).String()
			for v, ev := range events(i) {
				name, data, err := e.codec.Marshal(ev)
				if err != nil {
					return err
				}
				rows = append(rows, []any{uuid.Must(uuid.NewV7()), id, string(domain.AggregateRender), int64(v + 1), name,
					"acc_bench", "bench", "", at.Add(time.Duration(v) * time.Second), string(data)})
			}
		}
		_, err := e.pool.CopyFrom(ctx, pgx.Identifier{"events"},
			[]string{"event_id", "stream_id", "stream_type", "stream_version", "event_type", "account_id", "correlation_id", "causation_id", "occurred_at", "data"},
			pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("write the log: %w", err)
		}
	}
	return nil
}
