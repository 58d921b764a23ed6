package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/projections"
)

// replaySchema holds the read models a replay rebuilds, next to the live
// ones (which it never touches); the next replay starts it afresh.
const replaySchema = "renderd_replay"

// readModelTables are the tables a replay rebuilds and compares.
var readModelTables = []string{"rm_assets", "rm_cuts", "rm_renders"}

// replay rebuilds every read model from a snapshot of the event log into
// replaySchema, with the live projections' view code (projections.ReplayAll),
// reporting progress on stderr, then
// compares the result with the live read models and prints every
// difference. The live API keeps serving meanwhile, and nothing is
// announced to its waiters or sent as a webhook (deliveries are keyed by
// event id and are not a read model a replay rebuilds).
func replay(ctx context.Context, cfg Config, log *slog.Logger, swap bool, stdout, stderr io.Writer) error {
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	ddl := []string{`DROP SCHEMA IF EXISTS ` + replaySchema + ` CASCADE`, `CREATE SCHEMA ` + replaySchema}
	for _, t := range readModelTables {
		ddl = append(ddl, fmt.Sprintf(`CREATE TABLE %s.%s (LIKE public.%s INCLUDING ALL)`, replaySchema, t, t))
	}
	for _, q := range ddl {
		if _, err := pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("replay: prepare %s: %w", replaySchema, err)
		}
	}
	// The same SQL, aimed at the replay's tables: unqualified names
	// resolve in replaySchema first, and the event store (public) after.
	rcfg := pool.Config().Copy()
	rcfg.ConnConfig.RuntimeParams["search_path"] = replaySchema + ", public"
	rcfg.MaxConns = 4
	rpool, err := pgxpool.NewWithConfig(ctx, rcfg)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer rpool.Close()
	var total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_type IN ('asset', 'cut', 'render')`).Scan(&total); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	bar := newProgress(stderr, total)
	replayed, err := projections.ReplayAll(ctx, rpool, eventschema.NewCodec(), log, bar.update)
	bar.done(replayed)
	if err != nil {
		return err
	}
	took := time.Since(bar.began)
	fmt.Fprintf(stdout, "replayed %d events in %s (%.0f events/s) into schema %s\n", replayed, took.Round(time.Millisecond),
		float64(replayed)/max(took.Seconds(), 1e-9), replaySchema)

	differ := 0
	for _, t := range readModelTables {
		ids, n, err := differences(ctx, pool, t)
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
		fmt.Fprintln(stdout, "rows written live after the replay read the log differ too; run it again to tell those from real differences")
	}
	if !swap {
		return nil
	}
	caughtUp, err := swapReadModels(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "swapped: the live read models are the replayed ones now (%d rows caught up from live writes made during the replay)\n", caughtUp)
	return nil
}

// swapReadModels makes the replayed read models the live ones, in one
// transaction. The live tables are locked against writes (the projectors
// wait; reads go on), rows the live projectors advanced past the replay
// meanwhile are carried over (they run this same build), and then the live
// rows are replaced. Readers see the old rows until the commit and the
// new ones after it; the projectors resume on the new rows, version-guarded.
func swapReadModels(ctx context.Context, pool *pgxpool.Pool) (caughtUp int64, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("swap: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	live := make([]string, len(readModelTables))
	for i, t := range readModelTables {
		live[i] = "public." + t
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(live, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return 0, fmt.Errorf("swap: lock the live read models: %w", err)
	}
	for _, t := range readModelTables {
		// Catch up: a live row at a later version than the replayed one
		// (or with no replayed row) reflects events the replay never read.
		if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %[2]s.%[1]s r USING public.%[1]s l
			WHERE r.id = l.id AND r.version < l.version`, t, replaySchema)); err != nil {
			return 0, fmt.Errorf("swap: catch up %s: %w", t, err)
		}
		tag, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %[2]s.%[1]s SELECT l.* FROM public.%[1]s l
			WHERE NOT EXISTS (SELECT FROM %[2]s.%[1]s r WHERE r.id = l.id)`, t, replaySchema))
		if err != nil {
			return 0, fmt.Errorf("swap: catch up %s: %w", t, err)
		}
		caughtUp += tag.RowsAffected()
		if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM public.%[1]s`, t)); err != nil {
			return 0, fmt.Errorf("swap: %s: %w", t, err)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO public.%[1]s SELECT * FROM %[2]s.%[1]s`, t, replaySchema)); err != nil {
			return 0, fmt.Errorf("swap: %s: %w", t, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("swap: %w", err)
	}
	return caughtUp, nil
}

// differences lists (up to 20) and counts the ids whose rows differ between
// the live table and the replayed one, either way.
func differences(ctx context.Context, pool *pgxpool.Pool, table string) ([]string, int, error) {
	q := fmt.Sprintf(`SELECT DISTINCT id FROM (
			(SELECT * FROM public.%[1]s EXCEPT SELECT * FROM %[2]s.%[1]s)
			UNION ALL
			(SELECT * FROM %[2]s.%[1]s EXCEPT SELECT * FROM public.%[1]s)) d ORDER BY id`, table, replaySchema)
	rows, err := pool.Query(ctx, q)
	if err != nil {
		return nil, 0, fmt.Errorf("compare %s: %w", table, err)
	}
	defer rows.Close()
	var ids []string
	n := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, err
		}
		if n++; n <= 20 {
			ids = append(ids, id)
		}
	}
	return ids, n, rows.Err()
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
