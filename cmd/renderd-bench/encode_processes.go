package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// start runs `renderd serve` twice on e's database, topics and one blob
// directory: api, relay and projector in one process, the encoder in the
// other, whose memory is then watched.
func (b *encodeBench) start(ctx context.Context) error {
	if err := b.startAPI(ctx); err != nil {
		return err
	}
	return b.startEncoder(ctx, "RENDERD_ENCODER_CONCURRENCY="+strconv.Itoa(encodeConcurrency))
}

// startAPI runs the api, relay and projector process and waits until it is
// ready.
func (b *encodeBench) startAPI(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	b.api, err = startServe(b.e, "api", "api,relay,projector", append(b.commonEnv(),
		"RENDERD_HTTP_ADDR="+addr, "RENDERD_DB_MAX_CONNS=40", "RENDERD_DOWNLOAD_SECRET="+base64.StdEncoding.EncodeToString(secret))...)
	if err != nil {
		return err
	}
	b.base = "http://" + addr
	return waitReady(ctx, b.base, b.api)
}

func (b *encodeBench) commonEnv() []string {
	return []string{"RENDERD_BLOB_URL=file:" + b.blobDir, "RENDERD_MAX_UPLOAD_BYTES=200000000"}
}

// startEncoder runs an encoder process with env besides the common
// settings, in place of the one running if any, watches its memory, and
// waits until it is ready (its consumer groups hold their partitions).
func (b *encodeBench) startEncoder(ctx context.Context, env ...string) error {
	if b.encoder != nil {
		b.rss.finish()
		b.encoder.stop()
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", port)
	// Info lines only reach the log tail printed on a failure.
	b.encoder, err = startServe(b.e, "encoder", "encoder", append(append(b.commonEnv(),
		"RENDERD_LOG_LEVEL=info", "RENDERD_METRICS_ADDR="+metrics), env...)...)
	if err != nil {
		return err
	}
	b.rss = watchRSS(b.encoder.cmd.Process.Pid)
	return waitReady(ctx, "http://"+metrics, b.encoder)
}

// waitReady waits until base answers /readyz with 200, for at most 60 s,
// failing as soon as one of procs has exited.
func waitReady(ctx context.Context, base string, procs ...*renderdProc) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, p := range procs {
			if err := p.alive(); err != nil {
				return err
			}
		}
		if res, err := http.Get(base + "/readyz"); err == nil { //nolint:noctx // short poll
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("renderd at %s not ready after 60 s", base)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func (b *encodeBench) stop() {
	if b.rss != nil {
		b.rss.finish()
	}
	for _, p := range []*renderdProc{b.encoder, b.api} {
		if p != nil {
			p.stop()
		}
	}
}

func (b *encodeBench) dumpLogs() {
	for _, p := range []*renderdProc{b.api, b.encoder} {
		if p != nil {
			fmt.Fprintf(os.Stderr, "--- last log lines of renderd %s ---\n%s", p.name, p.log.tail())
		}
	}
}

// ffmpegsOf counts the encoder's ffmpeg children not in known that render
// one of ids.
func (b *encodeBench) ffmpegsOf(known map[int]bool, ids []string) map[int]bool {
	out := map[int]bool{}
	for _, id := range ids {
		if pid, _ := b.findFFmpeg(known, "/renders/"+id+"/"); pid != 0 {
			out[pid] = true
		}
	}
	return out
}

// waitIdle waits until the encoder has no child process (ffmpeg, ffprobe)
// and then a little longer, for the freed slots to be back.
func (b *encodeBench) waitIdle(ctx context.Context) error {
	return waitChildless(ctx, b.encoder, "the encoder")
}

// waitChildless waits until p runs no child process, and then a little
// longer, for what the children held to be released.
func waitChildless(ctx context.Context, p *renderdProc, who string) error {
	deadline := time.Now().Add(60 * time.Second)
	for len(childrenOf(p.cmd.Process.Pid)) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still runs children after 60 s", who)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return sleepCtx(ctx, 300*time.Millisecond)
}

// findFFmpeg returns an ffmpeg child of the encoder, not in known, whose
// command line or open files (the media sandbox hands ffmpeg its files as
// descriptors, docs/renders.md) contain needle, and those as one string.
func (b *encodeBench) findFFmpeg(known map[int]bool, needle string) (int, string) {
	parent := b.encoder.cmd.Process.Pid
	for pid := range pids() {
		if known[pid] {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		cmdline := string(raw)
		args := strings.Split(cmdline, "\x00")
		if filepath.Base(args[0]) != "ffmpeg" {
			continue
		}
		if !strings.Contains(cmdline, needle) {
			cmdline += "\x00" + strings.Join(openFiles(pid), "\x00")
			if !strings.Contains(cmdline, needle) {
				continue
			}
		}
		if ppid, _ := procStat(pid); ppid == parent && !processGone(pid) {
			return pid, cmdline
		}
	}
	return 0, ""
}

// waitGone polls until the process has exited: when it was seen gone.
func waitGone(ctx context.Context, pid int, within, every time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("ffmpeg (pid %d) still runs after %s", pid, within)
		}
		if err := sleepCtx(ctx, every); err != nil {
			return time.Time{}, err
		}
	}
	return time.Now(), nil
}

// openFiles lists the paths a process has open (/proc/<pid>/fd).
func openFiles(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, _ := os.ReadDir(dir)
	var out []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil {
			out = append(out, target)
		}
	}
	return out
}

func pids() map[int]bool {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	out := make(map[int]bool, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			out[pid] = true
		}
	}
	return out
}

func childrenOf(parent int) []int {
	var kids []int
	for pid := range pids() {
		if ppid, state := procStat(pid); ppid == parent && state != "Z" {
			kids = append(kids, pid)
		}
	}
	return kids
}

// procStatFields are the fields of /proc/<pid>/stat after the command
// name, which may hold spaces and parentheses (so they start after the
// last ")"): state first, then ppid; nil when it cannot be read.
func procStatFields(pid int) []string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(raw[i+1:]))
}

// procStat reads a process's parent and state from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state string) {
	f := procStatFields(pid)
	if len(f) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0]
}

// processGone: exited, whether or not its parent has reaped it yet.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	_, state := procStat(pid)
	return state == "" || state == "Z"
}

// renderdProc is one `renderd serve` subprocess.
type renderdProc struct {
	name   string
	cmd    *exec.Cmd
	exited chan error
	log    *procLog
	once   sync.Once
}

// startServe starts `renderd serve --roles roles` on e's database and
// topics, with the benchmark's limits (benchLimits), extra environment last (it wins). Like startRenderd, but with the
// roles and environment of the caller's choosing, and no readiness wait: an
// encoder-only process serves no HTTP.
func startServe(e *env, name, roles string, extra ...string) (*renderdProc, error) {
	prefix := e.topics.Prefix
	environ := append(os.Environ(),
		"DATABASE_URL="+e.pool.Config().ConnString(),
		"KAFKA_BROKERS="+joinBrokers(e.brokers),
		"RENDERD_KAFKA_TOPIC_PREFIX="+prefix,
		"RENDERD_KAFKA_GROUP_PREFIX="+prefix,
		"RENDERD_LOG_LEVEL=warn",
		"RENDERD_SECRETS_KEY="+e.secretsKey,
		// No metrics listener unless a benchmark asks for one: the
		// processes of one benchmark would all want the default port.
		"RENDERD_METRICS_ADDR=",
		// Nor traces exported, whatever the bench's own environment says.
		"OTEL_TRACES_EXPORTER=none",
	)
	environ = append(environ, benchLimits...)
	p := &renderdProc{name: name, exited: make(chan error, 1), log: &procLog{name: name}}
	p.cmd = exec.Command(*renderdBin, "serve", "--roles", roles) //nolint:gosec // the operator's binary
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = append(environ, extra...), p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start renderd serve --roles %s: %w", roles, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	return p, nil
}

// stop sends SIGTERM and waits (SIGKILL after 20 s); safe to call again.
func (p *renderdProc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

func (p *renderdProc) alive() error {
	select {
	case err := <-p.exited:
		p.exited <- err // for stop
		return fmt.Errorf("renderd %s exited early: %v", p.name, err)
	default:
		return nil
	}
}

// procLog keeps the tail of a process's log for a failure report and
// passes its warnings and errors to stderr as they come.
type procLog struct {
	name    string
	mu      sync.Mutex
	buf     []byte // the tail
	partial []byte // a line not yet ended
}

const procLogTail = 32 << 10

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if n := len(l.buf) - procLogTail; n > 0 {
		l.buf = append(l.buf[:0:0], l.buf[n:]...)
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i+1]
		if bytes.Contains(line, []byte("level=WARN")) || bytes.Contains(line, []byte("level=ERROR")) {
			fmt.Fprintf(os.Stderr, "[renderd %s] %s", l.name, line)
		}
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *procLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// rssWatch samples a process's memory from /proc/<pid>/status every 100 ms.
// VmHWM is the kernel's own peak of the resident set, so a peak between
// samples counts too; a child (ffmpeg, ffprobe) has a memory of its own.
type rssWatch struct {
	pid      int
	stopOnce sync.Once
	stopped  chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	hwm, rss int64 // KiB: the last VmHWM, the largest VmRSS
	nSamples int
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{pid: pid, stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			w.sample()
			select {
			case <-w.stopped:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *rssWatch) sample() {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.pid))
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for line := range strings.Lines(string(raw)) {
		k, v, _ := strings.Cut(line, ":")
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmHWM":
			w.hwm = max(w.hwm, kib)
		case "VmRSS":
			w.rss = max(w.rss, kib)
			w.nSamples++
		}
	}
}

// finish stops sampling (a last sample first) and returns the peak VmHWM
// and the largest sampled VmRSS, in KiB, and the number of samples.
func (w *rssWatch) finish() (hwm, rss int64, samples int) {
	w.stopOnce.Do(func() {
		close(w.stopped)
		<-w.done
		w.sample()
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hwm, w.rss, w.nSamples
}
