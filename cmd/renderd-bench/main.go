// Command renderd-bench measures renderd on the local stack and prints a
// Markdown table, each figure next to its target and, where the issue asks,
// a baseline measured in the same run. `make bench` runs it.
//
// It creates a throwaway database and throwaway topics and removes them
// afterwards; it never touches the data of `make run`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"
)

type result struct {
	name, value, baseline, ratio, target string
	ok                                   bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "renderd-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dur := flag.Duration("duration", 6*time.Second, "how long each throughput or latency run lasts")
	only := flag.String("only", "", "comma-separated benchmarks to run (append,relay,renders,telemetry,encode,pool,webhooks,replay,storage); default all")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the benchmark process to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	dsn, brokers := os.Getenv("DATABASE_URL"), os.Getenv("KAFKA_BROKERS")
	if dsn == "" || brokers == "" {
		return errors.New("DATABASE_URL and KAFKA_BROKERS must be set (source .data/stack.env)")
	}
	level := slog.LevelWarn
	if os.Getenv("RENDERD_BENCH_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	benches := []struct {
		name string
		run  func(context.Context, *env, time.Duration) ([]result, error)
	}{
		{"append", benchAppend},
		{"relay", benchRelayLatency},
		{"renders", benchRenders},
		{"telemetry", benchTelemetry},
		{"encode", benchEncode},
		{"pool", benchPool},
		{"webhooks", benchWebhooks},
		{"replay", benchReplay},
		{"storage", benchStorage},
	}
	// The storage benchmark needs an S3 store: a run missing one fails
	// before the others spend their minutes.
	if selected(*only, "storage") {
		if _, err := storageS3URL(); err != nil {
			return err
		}
	}
	var results []result
	for _, b := range benches {
		if !selected(*only, b.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "running %s …\n", b.name)
		// Each benchmark gets a database and topics of its own, so none
		// measures another's leftovers (a relay backlog, say).
		stack, err := newEnv(ctx, dsn, strings.Split(brokers, ","), log)
		if err != nil {
			return err
		}
		rs, err := b.run(ctx, stack, *dur)
		stack.close()
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		results = append(results, rs...)
	}
	printTable(results)
	fmt.Println("\nEvery renderd these benchmarks start runs with its rate limits and storage quota on but far above the load, and no limit on an account's render queue (" +
		strings.Join(benchLimits, " ") + "): a benchmark client is one account on one address, far past any operator's default, so the figures include what the rate limits cost but never a refusal.")
	return nil
}

// benchLimits is the environment of every renderd the benchmarks start:
// the rate limits and the storage quota are checked on every request, as in
// production, but set far above what one benchmark client sends. The
// account's render queue is unlimited: the POST run queues thousands of
// renders in one account, which no queue limit an operator sets would
// hold, and a place claim among thousands of taken places measures that,
// not the service (adapters/postgres BenchmarkTakeRenderSlot measures a
// claim at the default's scale).
var benchLimits = []string{"RENDERD_RATE_READS=1000000/s,1000000", "RENDERD_RATE_WRITES=1000000/s,1000000",
	"RENDERD_RATE_UPLOADS=1000000/s,1000000", "RENDERD_RATE_REDELIVER=1000000/s,1000000", "RENDERD_RATE_ANONYMOUS=1000000/s,1000000",
	"RENDERD_ACCOUNT_MAX_QUEUED=0"}

// selected says whether -only names the benchmark (an empty -only: all).
func selected(only, name string) bool {
	return only == "" || strings.Contains(","+only+",", ","+name+",")
}

func printTable(results []result) {
	fmt.Println("| benchmark | measured | baseline (same run) | ratio | target | met |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range results {
		met := "yes"
		if !r.ok {
			met = "**no**"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.name, r.value, dash(r.baseline), dash(r.ratio), r.target, met)
	}
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
