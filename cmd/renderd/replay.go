package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/postgres/readmodel"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/projections"
)

// replaySchema holds the read models a replay rebuilds, next to the live
// ones (which only --swap touches); the next replay starts it afresh.
const replaySchema = "renderd_replay"

// replay rebuilds every read model from a snapshot of the event log into
// replaySchema, with the live projections' view code (readmodel.ReplayAll),
// reporting progress on stderr; catches the rebuilt tables up by global
// position to the head of the log; compares them with the live read models
// and prints every difference; and with swap makes them the live ones. The
// live API keeps serving meanwhile, and nothing is announced to its
// waiters or sent as a webhook (deliveries are keyed by event id and are
// not a read model a replay rebuilds).
func replay(ctx context.Context, cfg Config, log *slog.Logger, swap bool, stdout, stderr io.Writer) error {
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	rpool, err := readmodel.PrepareReplay(ctx, pool, replaySchema)
	if err != nil {
		return err
	}
	defer rpool.Close()
	total, err := readmodel.ReplayableEvents(ctx, pool)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	codec := eventschema.NewCodec()
	bar := newProgress(stderr, total)
	res, err := readmodel.ReplayAll(ctx, rpool, codec, log, bar.update)
	bar.done(res.Events)
	if err != nil {
		return err
	}
	took := time.Since(bar.began)
	fmt.Fprintf(stdout, "replayed %d events in %s (%.0f events/s) into schema %s\n", res.Events, took.Round(time.Millisecond),
		float64(res.Events)/max(took.Seconds(), 1e-9), replaySchema)

	store := postgres.NewEventStore(pool, codec, nil)
	rows := readmodel.NewStore(rpool)
	projectors := []readmodel.Replayer{projections.NewAssetProjector(rows, store, log),
		projections.NewCutProjector(rows, store, log), projections.NewRenderProjector(rows, store, log)}
	cp, n, err := readmodel.CatchUp(ctx, rpool, codec, log, res.Checkpoint, projectors...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "caught up: %d events read from the replay's snapshot to the head of the log\n", n)

	differ := 0
	for _, t := range readmodel.ReplayTables {
		ids, n, err := readmodel.Differences(ctx, pool, replaySchema, t, 20)
		if err != nil {
			return err
		}
		differ += n
		fmt.Fprintf(stdout, "%-11s %d rows differ from the live read model\n", t, n)
		for _, id := range ids {
			fmt.Fprintf(stdout, "  %s\n", id)
		}
		if n > len(ids) {
			fmt.Fprintf(stdout, "  … and %d more\n", n-len(ids))
		}
	}
	if differ > 0 && !swap {
		fmt.Fprintln(stdout, "rows the live projectors had not reached yet differ too; run it again to tell those from real differences")
	}
	if !swap {
		return nil
	}
	streams, err := readmodel.Swap(ctx, rpool, codec, log, replaySchema, cp, projectors...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "swapped: the live read models are the replayed ones now (%d streams caught up while the live tables were locked)\n", streams)
	return nil
}

// progress shows a replay's advance: a bar redrawn in place on a terminal,
// a plain line every few seconds otherwise (logs, CI).
type progress struct {
	w        io.Writer
	total    int
	terminal bool
	began    time.Time
	last     time.Time
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	terminal := false
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			terminal = true
		}
	}
	return &progress{w: w, total: max(total, 1), terminal: terminal, began: time.Now()}
}

func (p *progress) update(n int) {
	now := time.Now()
	every := 2 * time.Second
	if p.terminal {
		every = 100 * time.Millisecond
	}
	if now.Sub(p.last) < every {
		return
	}
	p.last = now
	p.print(n, false)
}

func (p *progress) done(n int) { p.print(n, true) }

func (p *progress) print(n int, final bool) {
	elapsed := time.Since(p.began)
	rate := float64(n) / max(elapsed.Seconds(), 1e-9)
	eta := "—"
	if rate > 0 && n < p.total {
		eta = time.Duration(float64(p.total-n) / rate * float64(time.Second)).Round(time.Second).String()
	}
	frac := min(float64(n)/float64(p.total), 1)
	if !p.terminal {
		fmt.Fprintf(p.w, "replay: %d/%d events (%.0f%%), %.0f events/s, ETA %s\n", n, p.total, frac*100, rate, eta)
		return
	}
	const width = 30
	filled := int(frac * width)
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %d/%d events  %.0f events/s  ETA %-8s%s",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, n, p.total, rate, eta, end)
}
