// Command renderd-chaos is the fault suite: it runs renderd's roles as
// separate processes on a stack of its own, keeps distinct renders flowing,
// injects one fault after another (kill -9 of each role, a Kafka restart,
// Postgres restarted fast and killed, a webhook receiver outage), checks
// after each that nothing was lost or doubled and how fast the service
// recovered, and prints a table. `make chaos` starts its stack (in
// .data/chaos, on ports of its own) and runs it; the README says more.
//
// It never touches the stack of `make run` and `make test`: it refuses to
// run unless RENDERD_DATA_DIR names another stack and DATABASE_URL points
// into it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/blob"
)

var renderdBin = "bin/renderd"

// Settings the suite gives every renderd process, all documented ones (the
// service has no switch for tests). See the README, "make chaos".
const encoderLease = 10 * time.Second

func settings() []string {
	return []string{
		// A killed encoder's renders wait out their lease: 30 s by
		// default, which the budget of the suite cannot afford per fault.
		"RENDERD_ENCODER_LEASE=" + encoderLease.String(),
		// Two processes of each kind on 2 cores: two renders each, one
		// ffmpeg thread per render.
		"RENDERD_ENCODER_CONCURRENCY=2", "RENDERD_MEDIA_CONCURRENCY=2", "RENDERD_FFMPEG_THREADS=1",
		// The receiver listens on loopback over http, as for make run.
		"RENDERD_WEBHOOK_ALLOW=127.0.0.0/8", "RENDERD_WEBHOOK_ALLOW_HTTP=true",
		// The temporary files a kill -9 leaves (an encoder's output in the
		// making, on S3 an unfinished multipart upload) are swept 5 min
		// after their last write by default: sooner, so that the check
		// after the suite sees the sweep at work within the run.
		"RENDERD_BLOB_SWEEP_INTERVAL=" + sweepEvery.String(), "RENDERD_BLOB_SWEEP_MIN_AGE=" + sweepEvery.String(),
	}
}

// sweepEvery is the fleet's RENDERD_BLOB_SWEEP_INTERVAL and _MIN_AGE.
const sweepEvery = 20 * time.Second

type harness struct {
	stack *stack
	// blobURL is the run's own prefix in the stack's bucket, every
	// process's RENDERD_BLOB_URL; blobs opens it for the checks.
	blobURL string
	blobs   blob.Store
	pool    *pgxpool.Pool
	env     []string // of every renderd command and process
	fleet   *fleet
	recv    *receiver
	api     *client
	clip    string
	rate    float64
}

// phase is one fault's run: its account and its load, and what
// kill-encoder killed.
type phase struct {
	t      *tenant
	load   *load
	killed *killedEncoder
}

// back stops the renders coolDown later. The suite calls it when a fault's
// recovery was measured (most measures need renders flowing); a fault whose
// measure needs none calls it as soon as what it broke is back.
func (ph *phase) back() { time.AfterFunc(coolDown, ph.load.halt) }

type row struct {
	fault, renders, recovery, bound string
	lost, doubled, dups             int
	ok                              bool
	problems                        []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "renderd-chaos:", err)
		code = 1
	}
	os.Exit(code)
}

func run(ctx context.Context) (int, error) {
	only := flag.String("only", "", "comma-separated faults to run (default all): "+faultNames())
	rate := flag.Float64("rate", 2, "renders requested per second during each fault")
	flag.StringVar(&renderdBin, "renderd", renderdBin, "the renderd binary")
	upCmd := flag.String("up", "deployments/local/up", "the script that (re)starts the suite's stack")
	flag.Parse()

	st, err := checkStack(*upCmd)
	if err != nil {
		return 0, err
	}
	chosen, err := chooseFaults(*only)
	if err != nil {
		return 0, err
	}

	h, err := setUp(ctx, st, *rate)
	if err != nil {
		return 0, err
	}
	defer h.fleet.stopAll()
	defer h.pool.Close()
	defer h.blobs.Close()

	began := time.Now()
	var rows []row
	for _, f := range chosen {
		fmt.Fprintf(os.Stderr, "== %s (%s into the suite)\n", f.name, time.Since(began).Round(time.Second))
		if err := h.healthy(ctx); err != nil {
			// The next faults would measure a broken stack, not renderd.
			rows = append(rows, row{fault: f.name, problems: []string{"the suite's stack is down, the remaining faults are not run: " + err.Error()}})
			break
		}
		r := h.runFault(ctx, f)
		fmt.Fprintf(os.Stderr, "   %s: renders %s, lost %d, doubled %d, webhook duplicates %d, %s, ok %v %s\n",
			r.fault, r.renders, r.lost, r.doubled, r.dups, r.recovery, r.ok, strings.Join(r.problems, "; "))
		rows = append(rows, r)
		if ctx.Err() != nil {
			break
		}
	}
	ran := len(rows)
	if ctx.Err() == nil {
		r := h.afterSuite(ctx)
		fmt.Fprintf(os.Stderr, "   %s: %s, ok %v %s\n", r.fault, r.renders, r.ok, strings.Join(r.problems, "; "))
		rows = append(rows, r)
	}
	printTable(rows)
	fmt.Printf("\n%d faults in %s; settings of every renderd process: %s RENDERD_BLOB_URL=%s RENDERD_SCRATCH_DIR=%s\n",
		ran, time.Since(began).Round(time.Second), strings.Join(settings(), " "), h.blobURL,
		filepath.Join(st.dataDir, "scratch", "<process>"))
	for _, r := range rows {
		if !r.ok {
			fmt.Printf("\nFAILED. The end of every process's log (all of it in %s):\n\n%s", filepath.Join(st.dataDir, "logs"), h.fleet.tails(25))
			return 1, nil
		}
	}
	return 0, nil
}

// chooseFaults is every fault, in the suite's order, or those -only names.
func chooseFaults(only string) ([]fault, error) {
	if only == "" {
		return faults, nil
	}
	names := strings.Split(only, ",")
	for _, n := range names {
		if !slices.ContainsFunc(faults, func(f fault) bool { return f.name == n }) {
			return nil, fmt.Errorf("-only: no fault %q (known: %s)", n, faultNames())
		}
	}
	var chosen []fault
	for _, f := range faults {
		if slices.Contains(names, f.name) {
			chosen = append(chosen, f)
		}
	}
	return chosen, nil
}

func faultNames() string {
	var n []string
	for _, f := range faults {
		n = append(n, f.name)
	}
	return strings.Join(n, ",")
}

// checkStack refuses to run on any stack but the suite's own.
func checkStack(upCmd string) (*stack, error) {
	dataDir, dsn, brokers := os.Getenv("RENDERD_DATA_DIR"), os.Getenv("DATABASE_URL"), os.Getenv("KAFKA_BROKERS")
	if dataDir == "" || dsn == "" || brokers == "" {
		return nil, errors.New("RENDERD_DATA_DIR, DATABASE_URL and KAFKA_BROKERS must name the suite's own stack (make chaos sets them)")
	}
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(dataDir); err == nil {
		dataDir = real
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.Host != filepath.Join(dataDir, "sock") {
		return nil, fmt.Errorf("DATABASE_URL reaches %s, not the socket of the stack in %s: the suite kills and restarts its Postgres, so it runs only on its own", cfg.Host, dataDir)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "kafka", "server.properties")); err != nil {
		return nil, fmt.Errorf("no Kafka of the suite's stack in %s: %w", dataDir, err)
	}
	return &stack{dataDir: dataDir, upCmd: upCmd, dsn: dsn, brokers: strings.Split(brokers, ",")}, nil
}

// setUp migrates, makes the clip, starts the receiver and every process.
func setUp(ctx context.Context, st *stack, rate float64) (*harness, error) {
	h := &harness{stack: st, rate: rate, api: &client{hc: &http.Client{Timeout: 20 * time.Second}}}
	logDir := filepath.Join(st.dataDir, "logs", "chaos")
	scratch := filepath.Join(st.dataDir, "scratch")
	for _, d := range []string{logDir, scratch} {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var err error
	if h.blobURL, err = runBlobURL(os.Getenv("RENDERD_BLOB_URL"), time.Now()); err != nil {
		return nil, err
	}
	// The renderd commands the harness runs (migrate, accounts, verify,
	// replay), one at a time, and its own store get a scratch folder each.
	h.env = append(append(os.Environ(), settings()...),
		"RENDERD_SECRETS_KEY=chaos:"+randomKey(), "RENDERD_DOWNLOAD_SECRET=chaos:"+randomKey(),
		"RENDERD_BLOB_URL="+h.blobURL, "RENDERD_SCRATCH_DIR="+filepath.Join(scratch, "commands"))
	if h.fleet, err = newFleet(logDir, scratch, h.env); err != nil {
		return nil, err
	}
	harnessScratch := filepath.Join(scratch, "harness")
	if err := h.fleet.checkNoSharedFolder(map[string]string{"commands": filepath.Join(scratch, "commands"), "harness": harnessScratch}); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(harnessScratch, 0o750); err != nil {
		return nil, err
	}
	if h.blobs, err = blob.Open(ctx, h.blobURL, harnessScratch); err != nil {
		return nil, fmt.Errorf("the run's blob store %s: %w", h.blobURL, err)
	}

	migrate := exec.CommandContext(ctx, renderdBin, "migrate")
	migrate.Env = h.env
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("renderd migrate: %w\n%s", err, out)
	}
	if h.pool, err = pgxpool.New(ctx, st.dsn); err != nil {
		return nil, err
	}
	// A small clip: each render is a short encode, so 2 cores keep up.
	h.clip = filepath.Join(st.dataDir, "clip.mp4")
	ff := exec.CommandContext(ctx, "ffmpeg", "-y", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=3",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-ac", "2", "-shortest", h.clip)
	if out, err := ff.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w\n%s", err, out)
	}
	if h.recv, err = newReceiver(receiverAddr); err != nil {
		return nil, err
	}
	for _, p := range h.fleet.procs {
		if err := p.start(); err != nil {
			h.fleet.stopAll()
			return nil, err
		}
	}
	for _, p := range h.fleet.apis() {
		if err := p.ready(ctx, 60*time.Second); err != nil {
			h.fleet.stopAll()
			return nil, fmt.Errorf("%w\n%s", err, h.fleet.tails(20))
		}
	}
	return h, nil
}

func randomKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// Phase timing: renders flow for warmUp before the fault, while its
// recovery is measured, and for coolDown after; then every render of the phase must end
// within drainBound, be projected within projectBound and announced within
// deliverBound.
const (
	warmUp       = 6 * time.Second
	coolDown     = 3 * time.Second
	drainBound   = 90 * time.Second
	projectBound = 30 * time.Second
	deliverBound = 30 * time.Second
)

func (h *harness) runFault(ctx context.Context, f fault) row {
	r := row{fault: f.name}
	problem := func(format string, a ...any) { r.problems = append(r.problems, fmt.Sprintf(format, a...)) }
	t, err := h.newTenant(ctx, f.name)
	if err != nil {
		problem("set-up: %v", err)
		return r
	}
	ph := &phase{t: t, load: h.startLoad(ctx, t, h.rate)}
	time.Sleep(warmUp)
	ms := f.run(ctx, h, ph)
	ph.back()
	ph.load.wait()
	requested, accepted, failures := ph.load.summary()
	r.recovery, r.bound, r.ok = describe(ms)
	if !r.ok {
		problem("recovery out of bounds")
	}

	// Every render ends.
	var c renderCounts
	if _, err := waitUntil(ctx, drainBound, 250*time.Millisecond, func() bool {
		c, err = h.countRenders(ctx, t.accountID, accepted)
		return err == nil && len(c.open) == 0
	}); err != nil {
		problem("%d renders not ended within %s: %s", len(c.open), drainBound, strings.Join(first(c.open, 5), " "))
	}
	r.lost = len(c.open) + len(c.missing)
	r.doubled = len(c.doubled)
	r.renders = fmt.Sprintf("%d (%d of %d requests answered 201; %d completed, %d failed)", c.streams, len(accepted), requested, c.completed, c.failed)
	if failures != "" {
		r.renders += "; refused: " + failures
	}
	if len(c.missing) > 0 {
		problem("answered 201 but not in the event store: %s", strings.Join(first(c.missing, 5), " "))
	}
	if len(c.doubled) > 0 {
		problem("more than one terminal event: %s", strings.Join(first(c.doubled, 5), " "))
	}
	if c.failed > 0 {
		problem("%d renders failed (a valid source: a fault made them fail)", c.failed)
	}

	// Every end is announced to the receiver (duplicates counted).
	ids, err := h.terminalEventIDs(ctx, t.accountID)
	if err != nil {
		problem("terminal events: %v", err)
	}
	var counts []int
	_, werr := waitUntil(ctx, deliverBound, 250*time.Millisecond, func() bool {
		counts, _ = h.recv.seen(ids)
		for _, n := range counts {
			if n == 0 {
				return false
			}
		}
		return true
	})
	undelivered := 0
	for _, n := range counts {
		if n == 0 {
			undelivered++
		}
		r.dups += max(n-1, 0)
	}
	if werr != nil {
		problem("%d of %d webhooks not delivered within %s", undelivered, len(ids), deliverBound)
	}

	// The read models caught up, the log keeps its invariants, and a replay
	// rebuilds the same read models.
	var lag int
	if _, err := waitUntil(ctx, projectBound, 250*time.Millisecond, func() bool {
		lag, err = h.projectionLag(ctx, t.accountID)
		return err == nil && lag == 0
	}); err != nil {
		problem("render read model: %d renders not caught up within %s", lag, projectBound)
	}
	// Every completed render downloads, from the S3 store (once the read
	// model shows it completed); a killed encoder's renders were completed
	// by another worker.
	if ph.killed != nil {
		who, probs := h.takeover(ctx, ph.killed)
		r.renders += "; " + who
		r.problems = append(r.problems, probs...)
	}
	downloaded, probs := h.checkDownloads(ctx, t)
	r.renders += fmt.Sprintf("; %d downloads checked", downloaded)
	r.problems = append(r.problems, probs...)

	// Every event of the phase is on Kafka: nothing the relay published
	// was lost (the read models alone would not tell, as they rebuild a
	// stream from the event store when they see a gap).
	var (
		missing []string
		readErr error
	)
	if _, err := waitUntil(ctx, projectBound, time.Second, func() bool {
		missing, readErr = h.missingOnKafka(ctx, t.accountID)
		return readErr == nil && len(missing) == 0
	}); err != nil {
		if readErr != nil {
			problem("reading Kafka: %v", readErr)
		} else {
			problem("%d events not on Kafka within %s: %s", len(missing), projectBound, strings.Join(first(missing, 5), " "))
		}
	}
	if err := h.verify(ctx); err != nil {
		problem("%v", err)
	}
	switch n, out, err := h.replayDiffers(ctx); {
	case err != nil:
		problem("%v", err)
	case n > 0 && lag > 0:
		problem("replay: %d rows differ (the read model is behind, see above)", n)
	case n > 0:
		problem("replay: %d rows differ:\n%s", n, out)
	}
	if gone := h.exitedByThemselves(); len(gone) > 0 {
		problem("exited by themselves (restarted): %s", strings.Join(gone, ", "))
	}
	r.ok = len(r.problems) == 0 && r.lost == 0 && r.doubled == 0
	return r
}

// healthy makes sure the stack runs before a fault (a failed injection
// may leave it down): Postgres and every Kafka node answer, starting them
// if not.
func (h *harness) healthy(ctx context.Context) error {
	up := func() bool { return h.stack.pgUp(ctx) && h.stack.kafkaRunning() && h.stack.kafkaUp() }
	if up() {
		return nil
	}
	if err := h.stack.up(ctx); err != nil {
		return err
	}
	_, err := waitUntil(ctx, 60*time.Second, 200*time.Millisecond, up)
	return err
}

// exitedByThemselves restarts the processes that ended without being
// killed by the suite (renderd gave up), and names them.
func (h *harness) exitedByThemselves() []string {
	var names []string
	for _, p := range h.fleet.procs {
		if !p.running() {
			names = append(names, p.name)
			_ = p.start()
		}
	}
	return names
}

func first(ids []string, n int) []string { return ids[:min(n, len(ids))] }

func printTable(rows []row) {
	fmt.Println("| fault | renders | lost | doubled | webhook duplicates | recovery time | bound | ok |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ok := "yes"
		if !r.ok {
			ok = "**no**: " + strings.Join(r.problems, "; ")
		}
		fmt.Printf("| %s | %s | %d | %d | %d | %s | %s | %s |\n", r.fault, r.renders, r.lost, r.doubled, r.dups, r.recovery, r.bound, ok)
	}
}
