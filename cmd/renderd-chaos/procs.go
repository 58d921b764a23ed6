package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one `renderd serve --roles …` process of the suite. A kill and
// a restart keep its name, roles, address and log file.
type proc struct {
	name, roles string
	httpAddr    string // api processes only
	env         []string
	logPath     string
	scratch     string // its RENDERD_SCRATCH_DIR, no other process's

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	pids   []int // of every start, the current one last
	kills  int   // kill9s
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "\n===== %s renderd-chaos starts %s (roles %s) =====\n", time.Now().UTC().Format(time.RFC3339Nano), p.name, p.roles)
	cmd := exec.Command(renderdBin, "serve", "--roles", p.roles)
	// The suite runs several processes on one host: each takes a free
	// metrics port, not the default one.
	cmd.Env = append(append([]string{}, p.env...), "RENDERD_METRICS_ADDR=127.0.0.1:0")
	if p.httpAddr != "" {
		cmd.Env = append(cmd.Env, "RENDERD_HTTP_ADDR="+p.httpAddr)
	}
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: the suite's end stops it with its ffmpeg
	// children, and a Ctrl-C at the terminal reaches only the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	p.pids = append(p.pids, cmd.Process.Pid)
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.exited)
	return nil
}

// kill9 sends SIGKILL to the renderd process alone (its ffmpeg children
// live on, as after a real crash) and waits until it is reaped.
func (p *proc) kill9() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.kills++
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop ends the process and its group at the end of the run.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// logSinceStart is what the current run of the process has logged.
func (p *proc) logSinceStart() string {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	s := string(raw)
	if i := strings.LastIndex(s, "===== "); i >= 0 {
		s = s[i:]
	}
	return s
}

// ready waits until an api process answers /readyz with 200.
func (p *proc) ready(ctx context.Context, bound time.Duration) error {
	_, err := waitUntil(ctx, bound, 100*time.Millisecond, func() bool {
		resp, err := http.Get("http://" + p.httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return fmt.Errorf("%s not ready: %w", p.name, err)
	}
	return nil
}

// apiPorts are the api processes' ports, each kept across restarts. Like
// the stack's (Makefile, CHAOS_STACK) they lie below Linux's ephemeral
// range, so that no outgoing connection holds one when a killed process
// restarts.
var apiPorts = []int{29380, 29381}

// checkFree fails when something listens on addr.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("the api address %s of the suite is taken: %w", addr, err)
	}
	return ln.Close()
}

// fleet is every process of the suite, by name.
type fleet struct {
	procs []*proc
}

func (f *fleet) byName(name string) *proc {
	for _, p := range f.procs {
		if p.name == name {
			return p
		}
	}
	panic("no process " + name)
}

func (f *fleet) apis() []*proc {
	var out []*proc
	for _, p := range f.procs {
		if p.roles == "api" {
			out = append(out, p)
		}
	}
	return out
}

// relayLeader is the relay process that most recently said it leads.
func (f *fleet) relayLeader() *proc {
	var best *proc
	var bestAt string
	for _, p := range f.procs {
		if p.roles != "relay" || !p.running() {
			continue
		}
		log := p.logSinceStart()
		i := strings.LastIndex(log, "relay is the leader")
		if i < 0 {
			continue
		}
		// The text handler's line starts "time=2026-…": compare those.
		line := log[strings.LastIndex(log[:i], "\n")+1 : i]
		if at, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " "); best == nil || at > bestAt {
			best, bestAt = p, at
		}
	}
	return best
}

func (f *fleet) stopAll() {
	var wg sync.WaitGroup
	for _, p := range f.procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

// tails prints the end of every process's log, for a failed run.
func (f *fleet) tails(n int) string {
	var b strings.Builder
	for _, p := range f.procs {
		raw, _ := os.ReadFile(p.logPath)
		fmt.Fprintf(&b, "----- last %d lines of %s -----\n%s\n", n, p.logPath, tail(raw, n))
	}
	return b.String()
}

// newFleet makes every process of the suite, each with a scratch folder of
// its own under scratchRoot, as on a host of its own: they share the blob
// store (env's RENDERD_BLOB_URL) and no folder.
func newFleet(logDir, scratchRoot string, env []string) (*fleet, error) {
	f := &fleet{}
	add := func(name, roles string) error {
		scratch := filepath.Join(scratchRoot, name)
		p := &proc{name: name, roles: roles, scratch: scratch,
			env:     append(append([]string(nil), env...), "RENDERD_SCRATCH_DIR="+scratch),
			logPath: filepath.Join(logDir, name+".log")}
		if roles == "api" {
			p.httpAddr = fmt.Sprintf("127.0.0.1:%d", apiPorts[len(f.apis())])
			if err := checkFree(p.httpAddr); err != nil {
				return err
			}
		}
		f.procs = append(f.procs, p)
		return nil
	}
	for _, a := range [][2]string{{"api-1", "api"}, {"api-2", "api"}, {"relay-1", "relay"}, {"relay-2", "relay"},
		{"projector", "projector"}, {"encoder-1", "encoder"}, {"encoder-2", "encoder"}, {"webhooks", "webhooks"}} {
		if err := add(a[0], a[1]); err != nil {
			return nil, err
		}
	}
	return f, nil
}
