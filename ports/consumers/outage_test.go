package consumers_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/postgres/readmodel"
	pt "github.com/renderd/renderd/adapters/postgres/readmodel/readmodeltest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/ports/consumers"
	"github.com/renderd/renderd/projections"
)

// A projector whose Postgres goes away (a testenv.FaultProxy between it
// and the real database; the relay and the test keep theirs) logs the
// outage once when its handler starts failing and once when it succeeds
// again, its failures and watermill's "Handler returned error" in between
// at DEBUG, and projects every event once the database is back.
func TestConsumer_a_database_outage_is_logged_once_failing_and_once_succeeding_again(t *testing.T) {
	f := newFixture(t)
	proxy, via := testenv.ProxyPostgres(t, f.pool.Config().ConnString())
	cfg, err := pgxpool.ParseConfig(via)
	if err != nil {
		t.Fatal(err)
	}
	// A projection holds its transaction's connection while it loads the
	// stream on another: with fewer than two per partition, the handlers
	// redelivered at once after the outage can hold every connection and
	// wait for a second one until their timeout.
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := postgres.NewEventStore(pool, f.codec, nil)
	rows := readmodel.NewStore(pool)
	p := consumers.Projections{Assets: projections.NewAssetProjector(rows, store, log),
		Cuts: projections.NewCutProjector(rows, store, log), Renders: projections.NewRenderProjector(rows, store, log)}
	r, err := consumers.NewRouter(consumers.Config{Brokers: f.brokers, Topics: f.topics, GroupPrefix: testenv.TopicPrefix(t),
		Unavailable: postgres.IsUnavailable}, f.codec, consumers.ProjectorHandlers(p), log)
	if err != nil {
		t.Fatal(err)
	}
	f.background(r.Run)
	select {
	case <-r.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("router did not start")
	}
	now := time.Now()
	recs := f.append("ast_o0", "acc_1", pt.VideoAsset(t, "ast_o0", "acc_1", now, pt.Ready)...)
	f.await("ast_o0", recs[len(recs)-1].StreamVersion)

	proxy.Cut()
	cut := time.Now()
	var last []int64
	for i := 1; i <= 4; i++ {
		recs := f.append(fmt.Sprint("ast_o", i), "acc_1", pt.VideoAsset(t, fmt.Sprint("ast_o", i), "acc_1", now, pt.Ready)...)
		last = append(last, recs[len(recs)-1].StreamVersion)
	}
	time.Sleep(3 * time.Second) // each message redelivered a few times
	proxy.Restore()
	restored := time.Now()
	for i, v := range last {
		f.await(fmt.Sprint("ast_o", i+1), v)
	}
	t.Logf("database away %s; every event projected %s after it came back",
		restored.Sub(cut).Round(time.Millisecond), time.Since(restored).Round(time.Millisecond))

	out := logs.String()
	count := func(s string) int { return strings.Count(out, s) }
	failing := count(`level=WARN msg="event handler failing: a dependency is down, retrying"`)
	again := count(`level=INFO msg="event handler succeeding again"`)
	debug := count(`level=DEBUG msg="event handler failing: a dependency is down, retrying"`)
	returned := count(`msg="Handler returned error"`)
	t.Logf("outage logged as %d WARN, %d INFO, %d failures at DEBUG; %d \"Handler returned error\" lines", failing, again, debug, returned)
	if failing != 1 || again != 1 || count("level=ERROR") != 0 || count("level=WARN") != 1 {
		t.Errorf("want one WARN when the handler started failing, one INFO when it succeeded again and no ERROR; got:\n%s", notDebugLines(out))
	}
	if returned == 0 || count(`level=DEBUG msg="Handler returned error"`) != returned {
		t.Errorf("%d handler errors, want some, all at DEBUG", returned)
	}
}

func notDebugLines(log string) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
