package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds renderd once for the process tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "renderd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "renderd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandboxExecCommand {
		// The in-process service's media sandbox re-executes this binary.
		os.Exit(ffmpeg.SandboxExec(os.Args[2:]))
	}
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	if longVideoDir != "" {
		os.RemoveAll(longVideoDir)
	}
	os.Exit(code)
}

// process is a renderd subprocess.
type process struct {
	cmd    *exec.Cmd
	stderr *testenv.LogBuffer
	done   chan error
}

// start runs renderd with args and the stack's settings in env, on a blob
// folder and a scratch folder of the test's own unless env names others
// (never the store the environment may name: the stack's S3 bucket).
func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary(t), args...), stderr: &testenv.LogBuffer{}, done: make(chan error, 1)}
	// A metrics listener on a free port: tests run many processes at once,
	// and the default port is one.
	p.cmd.Env = append(append(os.Environ(), "RENDERD_BLOB_URL=file:"+t.TempDir(), "RENDERD_SCRATCH_DIR="+t.TempDir(), "RENDERD_METRICS_ADDR=127.0.0.1:0"), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("renderd %s stderr:\n%s", strings.Join(args, " "), p.stderr)
		}
	})
	return p
}

// wait returns the process's exit error, failing t after timeout.
func (p *process) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(timeout):
		t.Fatalf("renderd did not exit within %s", timeout)
		return nil
	}
}

type serveFixture struct {
	env    []string
	pool   *pgxpool.Pool
	store  *postgres.EventStore
	topics kafka.Topics
}

func newServeFixture(t *testing.T) *serveFixture {
	dsn := testenv.NewDatabase(t)
	prefix := testenv.TopicPrefix(t)
	f := &serveFixture{
		env: []string{"DATABASE_URL=" + dsn, "KAFKA_BROKERS=" + strings.Join(testenv.KafkaBrokers(t), ","),
			"RENDERD_KAFKA_TOPIC_PREFIX=" + prefix, "RENDERD_KAFKA_PARTITIONS=3", "RENDERD_RELAY_POLL_INTERVAL=200ms",
			"RENDERD_SECRETS_KEY=" + testSecretsKey},
		topics: kafka.Topics{Prefix: prefix},
	}
	if err := start(t, f.env, "migrate").wait(t, 30*time.Second); err != nil {
		t.Fatalf("renderd migrate: %v", err)
	}
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f.pool, f.store = pool, postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	return f
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServe_relays_events_and_stops_gracefully_on_SIGTERM(t *testing.T) {
	f := newServeFixture(t)
	addr := freeAddr(t)
	p := start(t, f.env, "serve", "--roles", "api,relay", "--http-addr", addr)
	testenv.Eventually(t, 30*time.Second, "/readyz to answer 200", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	for i := range 10 {
		if _, err := testenv.AppendNext(t.Context(), f.store, fmt.Sprintf("rnd_%d", i%3), domain.RenderProgressed{Attempt: 1, Percent: i}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.CheckOrder(t, testenv.Consume(t, testenv.KafkaBrokers(t), f.topics.All(), 30*time.Second, testenv.Distinct(10)), 10)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatalf("renderd exited with %v after SIGTERM, want 0", err)
	}
	if !strings.Contains(p.stderr.String(), "renderd stopped") {
		t.Error("no shutdown log line")
	}
	// The relay checkpointed what it shipped: a successor re-sends nothing.
	cp, err := postgres.LoadCheckpoint(t.Context(), f.pool, relayName)
	if err != nil {
		t.Fatal(err)
	}
	left, err := postgres.ReadLog(t.Context(), f.pool, cp, 100)
	if err != nil || len(left) != 0 {
		t.Errorf("%d events after the checkpoint of a gracefully stopped relay (%v)", len(left), err)
	}
}

func TestServe_relay_process_killed_with_SIGKILL_loses_nothing(t *testing.T) {
	f := newServeFixture(t)
	first := start(t, f.env, "serve", "--roles", "relay", "--relay-batch-size", "20")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	written := make(chan int, 1)
	go func() { written <- testenv.AppendConcurrently(t, ctx, f.store, 8, 20, 150) }()

	testenv.Eventually(t, 30*time.Second, "the first relay to ship something", func() bool {
		cp, err := postgres.LoadCheckpoint(ctx, f.pool, relayName)
		return err == nil && cp.Position > 0
	})
	if err := first.cmd.Process.Kill(); err != nil { // SIGKILL, mid-stream
		t.Fatal(err)
	}
	_ = first.wait(t, 10*time.Second)
	start(t, f.env, "serve", "--roles", "relay", "--relay-batch-size", "20")
	n := <-written
	testenv.CheckOrder(t, testenv.Consume(t, testenv.KafkaBrokers(t), f.topics.All(), 60*time.Second, testenv.Distinct(n)), n)
}

func TestMigrate_fails_cleanly_when_postgres_is_unreachable(t *testing.T) {
	p := start(t, []string{"DATABASE_URL=postgres://renderd:renderd@127.0.0.1:1/renderd?sslmode=disable&connect_timeout=2"}, "migrate")
	err := p.wait(t, 30*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit = %v, want code 1", err)
	}
	if !strings.Contains(p.stderr.String(), "postgres is not reachable") {
		t.Errorf("stderr = %q", p.stderr)
	}
}

func TestAccountsCreate_prints_a_working_key_and_credits_grant_adds_minutes(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dsn, "RENDERD_FREE_ALLOWANCE_MINUTES=2"}
	if err := start(t, env, "migrate").wait(t, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := runOut(t, env, "accounts", "create", "--name", "dev")
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	var acc postgres.NewAccount
	if err := json.Unmarshal(out, &acc); err != nil || acc.AccountID == "" || acc.APIKey == "" {
		t.Fatalf("output %q: %v", out, err)
	}
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	accounts := postgres.NewAccounts(pool)
	if got, known, err := accounts.Authenticate(t.Context(), acc.APIKey); err != nil || !known || got != acc.AccountID {
		t.Fatalf("the printed key authenticates as %q (%v), %v", got, known, err)
	}
	if _, known, err := accounts.Authenticate(t.Context(), acc.APIKey+"x"); err != nil || known {
		t.Fatalf("a wrong key is known (%v), %v", known, err)
	}
	if _, err := runOut(t, env, "credits", "grant", "--account", acc.AccountID, "--minutes", "3"); err != nil {
		t.Fatalf("credits grant: %v", err)
	}
	if balance, _, err := accounts.Credits(t.Context(), acc.AccountID, 10); err != nil || balance != 5*60 {
		t.Fatalf("balance = %d (%v), want 2 free + 3 granted minutes", balance, err)
	}
	for _, bad := range [][]string{{"accounts", "create"}, {"credits", "grant", "--account", acc.AccountID}, {"accounts", "delete"}} {
		if _, err := runOut(t, env, bad...); exitCode(err) != 2 {
			t.Errorf("%q: exit %v, want 2", bad, err)
		}
	}
	if _, err := runOut(t, env, "credits", "grant", "--account", "acc_nobody", "--minutes", "1"); exitCode(err) != 1 {
		t.Errorf("grant to an unknown account: exit %v, want 1", err)
	}
}

func runOut(t *testing.T, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.Output()
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}
