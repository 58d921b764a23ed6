package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/client"
)

// renderctl (cmd/renderctl), the CLI for people, end to end: its binary
// run against a real renderd in-process on the stack, as a script runs it
// (stdout not a terminal: results only, --json) and, in tmux, as a person
// sees it (progress bars).

// buildRenderctl builds ./cmd/renderctl into dir and returns the binary's
// path.
func buildRenderctl(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "renderctl")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/renderd/renderd/cmd/renderctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/renderctl: %v\n%s", err, out)
	}
	return bin
}

// renderctl runs the binary with an API's URL and key.
type renderctl struct {
	t        *testing.T
	bin      string
	url, key string
}

// as is r reporting to t (a subtest), with key.
func (r renderctl) as(t *testing.T, key string) renderctl {
	r.t, r.key = t, key
	return r
}

func (r renderctl) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = append(os.Environ(), "RENDERD_URL="+r.url, "RENDERD_API_KEY="+r.key)
	return cmd
}

// run runs renderctl to its end and returns its exit code and outputs.
func (r renderctl) run(args ...string) (code int, stdout, stderr string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 3*time.Minute)
	defer cancel()
	cmd := r.command(ctx, args...)
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		r.t.Fatalf("renderctl %q: %v", args, err)
	}
	r.t.Logf("renderctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out.String(), errw.String())
	return code, out.String(), errw.String()
}

// ok runs renderctl, fails the test unless it exits 0, and returns stdout.
func (r renderctl) ok(args ...string) string {
	r.t.Helper()
	code, stdout, stderr := r.run(args...)
	if code != 0 {
		r.t.Fatalf("renderctl %q: exit %d: %s", args, code, stderr)
	}
	// Not a terminal: no bar, no escape, no carriage return.
	if strings.ContainsAny(stdout+stderr, "\r\x1b") {
		r.t.Errorf("renderctl %q drew on a pipe: %q %q", args, stdout, stderr)
	}
	return stdout
}

// started is renderctl running in the background.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr *testenv.LogBuffer
	done           chan int
}

func (r renderctl) start(args ...string) *started {
	r.t.Helper()
	p := &started{stdout: &testenv.LogBuffer{}, stderr: &testenv.LogBuffer{}, done: make(chan int, 1)}
	p.cmd = r.command(context.Background(), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.done <- p.cmd.ProcessState.ExitCode()
	}()
	r.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exit waits for the process's exit code.
func (p *started) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case code := <-p.done:
		p.done <- code // for the cleanup
		t.Logf("%s: exit %d\nstdout: %s\nstderr: %s", p.cmd.Args, code, p.stdout, p.stderr)
		return code
	case <-time.After(within):
		t.Fatalf("%s still running after %s\nstdout: %s\nstderr: %s", p.cmd.Args, within, p.stdout, p.stderr)
		return 0
	}
}

// expectCutAt720p probes a render's output: h264 1280×720 with aac, as
// long as the 1.5 s cut of landscape_1080p.mp4 the SDK's and the CLI's
// tests render.
func expectCutAt720p(t *testing.T, path string) {
	t.Helper()
	info, err := ffmpeg.NewProber("", 30*time.Second, ffmpeg.Limits{}).Probe(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 1280 || info.Height != 720 || info.VideoCodec != "h264" || info.AudioCodec != "aac" {
		t.Errorf("output: %s %dx%d, audio %s; want h264 1280x720, aac", info.VideoCodec, info.Width, info.Height, info.AudioCodec)
	}
	if d := info.Duration - 1500*time.Millisecond; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("output lasts %s, want the cut's 1.5 s", info.Duration)
	}
}

func decode[T any](t *testing.T, line string) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal([]byte(line), v); err != nil {
		t.Fatalf("not one %T in JSON: %q: %v", v, line, err)
	}
	return v
}

// renderctlEnv lets renderd deliver webhooks to loopback over http (as
// make run does), retry them quickly, and take the 5 MB long video.
var renderctlEnv = []string{"RENDERD_WEBHOOK_ALLOW=127.0.0.0/8,::1/128", "RENDERD_WEBHOOK_ALLOW_HTTP=true",
	"RENDERD_WEBHOOK_SCHEDULE=300ms,300ms,300ms", "RENDERD_WEBHOOK_TIMEOUT=5s", bigUploads}

func TestRenderctl(t *testing.T) {
	s := startService(t, renderctlEnv...)
	key := s.account(60)
	ctl := renderctl{t: t, bin: buildRenderctl(t, t.TempDir()), url: s.base, key: key}
	ctx := t.Context()

	var video *client.Asset // ready, 2 s of 1080p
	t.Run("upload, cut, render and download with --json", func(t *testing.T) {
		ctl := ctl.as(t, key)
		video = decode[client.Asset](t, ctl.ok("upload", mediatest.Landscape1080p(t), "--wait", "--json"))
		if video.State != client.AssetReady || video.Kind != "video" || video.Name != "landscape_1080p.mp4" || video.Source == nil || video.Source.Height != 1080 {
			t.Fatalf("uploaded asset: %+v", video)
		}
		cut := decode[client.Cut](t, ctl.ok("cut", video.ID, "--segment", "0:1", "--segment", "1.5:2", "--json"))
		if cut.State != client.CutCompleted || cut.Duration == nil || *cut.Duration != 1.5 {
			t.Fatalf("cut: %+v", cut)
		}
		out := filepath.Join(t.TempDir(), "out.mp4")
		r := decode[client.Render](t, ctl.ok("render", video.ID, "--format", "mp4", "--resolution", "720p", "--cut", cut.ID, "--download", out, "--json"))
		if r.State != client.RenderCompleted || r.Progress != 100 || r.CutID == nil || *r.CutID != cut.ID || r.SizeBytes == nil {
			t.Fatalf("render: %+v", r)
		}
		st, err := os.Stat(out)
		if err != nil || st.Size() != *r.SizeBytes {
			t.Fatalf("downloaded %v (%v), the render has %d bytes", st, err, *r.SizeBytes)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*renderctl*")); len(left) != 0 {
			t.Errorf("temporary files left: %q", left)
		}
		expectCutAt720p(t, out)

		// renders ls: one JSON line per render, or a table.
		lines := strings.Split(strings.TrimSpace(ctl.ok("renders", "ls", "--asset", video.ID, "--json")), "\n")
		if len(lines) != 1 || decode[client.Render](t, lines[0]).ID != r.ID {
			t.Errorf("renders ls --json: %q", lines)
		}
		table := strings.Split(strings.TrimSpace(ctl.ok("renders", "ls", "--asset", video.ID)), "\n")
		if len(table) != 2 || !strings.HasPrefix(table[0], "ID") || !strings.HasPrefix(table[1], r.ID) || !strings.Contains(table[1], "completed") {
			t.Errorf("renders ls: %q", table)
		}

		// --audio uploads the asset's audio part after its source.
		both := decode[client.Asset](t, ctl.ok("upload", mediatest.Landscape1080p(t), "--audio", mediatest.AudioM4A(t), "--wait", "--json"))
		if both.State != client.AssetReady || both.Audio == nil || both.Audio.HasVideo || !both.Audio.HasAudio {
			t.Errorf("upload with --audio: %+v", both)
		}

		// Plain output is the id alone; the kind goes by the extension.
		id := strings.TrimSpace(ctl.ok("upload", mediatest.AudioM4A(t)))
		c, _ := client.New(s.base, key)
		if a, err := c.GetAsset(ctx, id); err != nil || a.Kind != "audio" {
			t.Errorf("upload of audio.m4a printed %q: %+v, %v", id, a, err)
		}
	})
	if video == nil {
		t.FailNow()
	}

	t.Run("usage errors exit 2 before any request", func(t *testing.T) {
		ctl := ctl.as(t, key)
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"render", video.ID, "--resolution", "720p"}, "--format"},
			{[]string{"cut", video.ID, "--segment", "3:1"}, "must come after"},
			{[]string{"upload", "/no/such/file.mp4"}, "no such file"},
			{[]string{"renders", "ls", "--bogus"}, "unknown flag"},
		} {
			if code, _, stderr := ctl.run(c.args...); code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("%q: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
			}
		}
		noKey := ctl.as(t, "")
		if code, _, stderr := noKey.run("renders", "ls"); code != 2 || !strings.Contains(stderr, "RENDERD_API_KEY") {
			t.Errorf("no key: exit %d, %q", code, stderr)
		}
		// No render was requested by any of them.
		if code, out, _ := ctl.run("renders", "ls", "--asset", video.ID, "--json"); code != 0 || strings.Count(out, "\n") != 1 {
			t.Errorf("renders after the usage errors: %q", out)
		}
	})

	t.Run("API errors exit 3 with the code, message, field and request id", func(t *testing.T) {
		ctl := ctl.as(t, key)
		code, _, stderr := ctl.run("render", "ast_unknown", "--format", "mp4")
		if code != 3 || !regexp.MustCompile(`API error 4\d\d \w+: .+\[request id \S+\]`).MatchString(stderr) {
			t.Errorf("unknown asset: exit %d, %q", code, stderr)
		}
		// Another account's asset is not found.
		other := ctl.as(t, s.account(1))
		if code, _, stderr := other.run("cut", video.ID, "--segment", "0:1"); code != 3 || !strings.Contains(stderr, "not_found") {
			t.Errorf("another account's asset: exit %d, %q", code, stderr)
		}
		// A 4K render of a 1080p source: the field.
		if code, _, stderr := ctl.run("render", video.ID, "--format", "mp4", "--resolution", "4k"); code != 3 ||
			!strings.Contains(stderr, "validation_error") || !strings.Contains(stderr, "(field ") {
			t.Errorf("4k of 1080p: exit %d, %q", code, stderr)
		}
		if code, _, stderr := ctl.as(t, "rk_not_a_key").run("renders", "ls"); code != 3 || !strings.Contains(stderr, "401") {
			t.Errorf("a bad key: exit %d, %q", code, stderr)
		}
	})

	t.Run("a failed asset or cut exits 4", func(t *testing.T) {
		ctl := ctl.as(t, key)
		code, stdout, stderr := ctl.run("upload", mediatest.Corrupt(t), "--wait", "--json")
		if a := decode[client.Asset](t, stdout); code != 4 || a.State != client.AssetFailed || !strings.Contains(stderr, "failed: source_unreadable") {
			t.Errorf("corrupt upload: exit %d, %+v, %q", code, a, stderr)
		}
		// An account without credits: the asset waits for them.
		code, stdout, stderr = ctl.as(t, s.account(0)).run("upload", mediatest.Landscape1080p(t), "--wait", "--json")
		if a := decode[client.Asset](t, stdout); code != 4 || a.State != client.AssetPaymentRequired || !strings.Contains(stderr, "payment_required") {
			t.Errorf("upload without credits: exit %d, %+v, %q", code, a, stderr)
		}
		code, stdout, stderr = ctl.run("cut", video.ID, "--segment", "0:30")
		if code != 4 || strings.TrimSpace(stdout) == "" || !strings.Contains(stderr, "failed: segments_out_of_range") {
			t.Errorf("a cut past the end: exit %d, %q, %q", code, stdout, stderr)
		}
	})

	t.Run("a render cancelled while waited for exits 4, Ctrl-C 130", func(t *testing.T) {
		ctl := ctl.as(t, key)
		long := strings.TrimSpace(ctl.ok("upload", longVideo(t), "--wait"))
		args := []string{"render", long, "--format", "mp4", "--resolution", "720p", "--wait", "--json"}
		// live is the asset's pending or running render other than not.
		live := func(not string) (id string) {
			testenv.Eventually(t, 60*time.Second, "a live render in renders ls", func() bool {
				_, out, _ := ctl.run("renders", "ls", "--asset", long, "--json")
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					if line == "" {
						continue
					}
					if r := decode[client.Render](t, line); r.ID != not && (r.State == client.RenderPending || r.State == client.RenderRunning) {
						id = r.ID
						return true
					}
				}
				return false
			})
			return id
		}

		// The first waiter downloads too: it leaves no file.
		out := filepath.Join(t.TempDir(), "out.mp4")
		waiter := ctl.start(append(args, "--download", out)...)
		id := live("")
		if r := decode[client.Render](t, ctl.ok("cancel", id, "--json")); r.ID != id {
			t.Errorf("cancel printed %+v", r)
		}
		code := waiter.exit(t, 60*time.Second)
		if r := decode[client.Render](t, strings.TrimSpace(waiter.stdout.String())); code != 4 || r.ID != id ||
			r.State != client.RenderCancelled || !strings.Contains(waiter.stderr.String(), "cancelled") {
			t.Errorf("the waiter of a cancelled render: exit %d, %+v", code, r)
		}
		if left, _ := os.ReadDir(filepath.Dir(out)); len(left) != 0 {
			t.Errorf("a cancelled render's download left %v", left)
		}
		// Cancelling it again is no error; an unknown render is one.
		if code, _, _ := ctl.run("cancel", id); code != 0 {
			t.Errorf("cancel again: exit %d", code)
		}
		if code, _, stderr := ctl.run("cancel", "rnd_unknown"); code != 3 || !strings.Contains(stderr, "404") {
			t.Errorf("cancel an unknown render: exit %d, %q", code, stderr)
		}

		// The same request again is a new render (the last one is over);
		// Ctrl-C while waiting for it exits 130 and leaves it going.
		waiter = ctl.start(args...)
		again := live(id)
		if err := waiter.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := waiter.exit(t, 30*time.Second); code != 130 || !strings.Contains(waiter.stderr.String(), "interrupted") {
			t.Errorf("Ctrl-C during the wait: exit %d", code)
		}
		ctl.ok("cancel", again) // the encoder's time for the next tests
	})

	t.Run("webhooks listen prints verified deliveries and refuses forged ones", func(t *testing.T) {
		ctl := ctl.as(t, key)
		addr := freeAddr(t)
		listen := ctl.start("webhooks", "listen", "--addr", addr, "--json")
		testenv.Eventually(t, 30*time.Second, "the receiver to listen", func() bool {
			return strings.Contains(listen.stderr.String(), "listening on http://"+addr)
		})
		c, err := client.New(s.base, key)
		if err != nil {
			t.Fatal(err)
		}
		eps, err := c.ListWebhookEndpoints(ctx, nil)
		if err != nil || len(eps.Data) != 1 || eps.Data[0].URL != "http://"+addr+"/" {
			t.Fatalf("endpoints: %+v, %v", eps, err)
		}

		r := decode[client.Render](t, ctl.ok("render", video.ID, "--format", "mp4", "--resolution", "720p", "--wait", "--json"))
		var ev *client.WebhookEvent
		testenv.Eventually(t, 60*time.Second, "the render's delivery", func() bool {
			for _, line := range strings.Split(strings.TrimSpace(listen.stdout.String()), "\n") {
				if line != "" {
					if e := decode[client.WebhookEvent](t, line); e.Data.Render.ID == r.ID {
						ev = e
						return true
					}
				}
			}
			return false
		})
		if ev.Type != "render.completed" || ev.Data.Render.State != client.RenderCompleted {
			t.Errorf("delivery: %+v", ev)
		}

		// A forged delivery: signed with another secret.
		body := []byte(`{"id":"evt_forged","type":"render.completed","created_at":"2026-01-01T00:00:00Z","data":{"render":{"id":"rnd_forged"}}}`)
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
		req.Header.Set("webhook-id", "msg_forged")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		req.Header.Set("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJlIG9mIHRoaXMgYm9keQ==")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("forged delivery: %d", resp.StatusCode)
		}
		// The pipe from the process may bring its line after the answer.
		testenv.Eventually(t, 10*time.Second, "the refusal on stderr", func() bool {
			return strings.Contains(listen.stderr.String(), "refused a delivery")
		})
		if strings.Contains(listen.stdout.String(), "forged") {
			t.Errorf("the forged delivery printed: %s", listen.stdout)
		}

		// SIGTERM deletes the endpoint and exits 0.
		if err := listen.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := listen.exit(t, 30*time.Second); code != 0 {
			t.Errorf("SIGTERM: exit %d", code)
		}
		if eps, err := c.ListWebhookEndpoints(ctx, nil); err != nil || len(eps.Data) != 0 {
			t.Errorf("endpoints after SIGTERM: %+v, %v", eps, err)
		}

		// The asset has two renders now: --limit pages, --all follows them.
		if out := ctl.ok("renders", "ls", "--asset", video.ID, "--limit", "1", "--json"); strings.Count(out, "\n") != 1 {
			t.Errorf("renders ls --limit 1: %q", out)
		}
		if out := ctl.ok("renders", "ls", "--asset", video.ID, "--limit", "1", "--all", "--json"); strings.Count(out, "\n") != 2 {
			t.Errorf("renders ls --limit 1 --all: %q", out)
		}
	})

	t.Run("a person sees moving bars in tmux", func(t *testing.T) {
		testRenderctlInTmux(t, s, ctl.as(t, s.account(60)))
	})
}

// testRenderctlInTmux runs renderctl upload --wait and render --wait in a
// detached tmux session, as a person would in a terminal, and captures the
// pane until each command ends: each bar must have been seen at two
// different intermediate states at least. The upload goes through a proxy
// throttled to 4 MiB/s, of a 24 MB file: on loopback it would be over
// before a second capture, and the first 4 MB or so vanish at once into
// the kernel's socket buffers (net.ipv4.tcp_wmem), whatever the rate.
func testRenderctlInTmux(t *testing.T, s *service, ctl renderctl) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("RENDERD_REQUIRE_STACK") == "1" {
			t.Fatalf("tmux is required for this test: %v", err)
		}
		t.Skipf("test skipped: tmux not found (%v); deployments/local/up installs it", err)
	}
	proxy := throttle(t, strings.TrimPrefix(s.base, "http://"), 4<<20)
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tm := func(args ...string) (string, error) {
		cmd := exec.Command(tmux, append([]string{"-S", sock}, args...)...)
		cmd.Env = append(os.Environ(), "RENDERD_URL=http://"+proxy, "RENDERD_API_KEY="+ctl.key)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tm("kill-server") })

	// session runs line in a new 120×30 session and captures its pane
	// until the line's exit status shows; it returns every distinct
	// percent seen on lines holding marker in the order seen, those
	// lines, and the last capture.
	session := func(name, line, marker string) (percents []int, lines map[string]bool, last string) {
		t.Helper()
		script := line + `; echo "exit status $?"; sleep 600`
		if out, err := tm("new-session", "-d", "-x", "120", "-y", "30", "-s", name, script); err != nil {
			t.Fatalf("tmux new-session: %v\n%s", err, out)
		}
		seen, lines := map[int]bool{}, map[string]bool{}
		percent := regexp.MustCompile(`(\d+)%`)
		deadline := time.Now().Add(4 * time.Minute)
		for time.Now().Before(deadline) {
			pane, err := tm("capture-pane", "-p", "-t", name)
			if err != nil {
				t.Fatalf("tmux capture-pane: %v\n%s", err, pane)
			}
			last = pane
			for _, l := range strings.Split(pane, "\n") {
				if m := percent.FindStringSubmatch(l); m != nil && strings.Contains(l, marker) {
					lines[strings.TrimSpace(l)] = true
					if p, _ := strconv.Atoi(m[1]); !seen[p] {
						seen[p] = true
						percents = append(percents, p)
					}
				}
			}
			if strings.Contains(pane, "exit status ") {
				return percents, lines, last
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s did not end within 4 minutes; the pane:\n%s", line, last)
		return nil, nil, ""
	}
	intermediate := func(ps []int) (n int) {
		for _, p := range ps {
			if p > 0 && p < 100 {
				n++
			}
		}
		return n
	}

	// 6 s of static bars at a constant 32 Mb/s: 24 MB, cheap to encode.
	big := mediatest.Generate(t, "bars_1080p_6s.mp4",
		"-f", "lavfi", "-i", "smptehdbars=size=1920x1080:rate=30:duration=6",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30",
		"-b:v", "32M", "-minrate", "32M", "-maxrate", "32M", "-bufsize", "16M", "-x264-params", "nal-hrd=cbr",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2")
	percents, lines, pane := session("upload", ctl.bin+" upload "+big+" --wait", "source ")
	t.Logf("upload: percents seen %v; the pane at the end:\n%s", percents, pane)
	if !strings.Contains(pane, "exit status 0") || intermediate(percents) < 2 || anyLine(lines, "100%") == "" {
		t.Errorf("upload: percents %v, want two between 0 and 100, then 100 %%, and exit status 0", percents)
	}
	if !strings.Contains(pane, "probing") || !strings.Contains(pane, "MB/s") {
		t.Errorf("the pane shows no probe, or no upload rate")
	}

	// The render: of the 20 s video (uploaded without a terminal), long
	// enough for several polls.
	long := strings.TrimSpace(ctl.ok("upload", longVideo(t), "--wait"))
	percents, lines, pane = session("render", ctl.bin+" render "+long+" --format mp4 --resolution 720p --wait", "render")
	t.Logf("render: percents seen %v; the pane at the end:\n%s", percents, pane)
	if !strings.Contains(pane, "exit status 0") || intermediate(percents) < 2 || !strings.Contains(pane, "rendered 100%") {
		t.Errorf("render: percents %v, want two between 0 and 100, then 100 %%, and exit status 0", percents)
	}
	if anyLine(lines, "ETA ") == "" {
		t.Errorf("the render's bar never showed the server's ETA: %v", lines)
	}
}

// anyLine is one of lines holding s, or "".
func anyLine(lines map[string]bool, s string) string {
	for l := range lines {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// throttle is a TCP proxy to target whose client-to-target direction
// carries about rate bytes a second; it returns its address.
func throttle(t *testing.T, target string, rate int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				// A small receive buffer: the sender's bytes wait on its side
				// rather than piling up in the kernel here.
				_ = in.(*net.TCPConn).SetReadBuffer(32 << 10)
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() {
					_, _ = io.Copy(in, out)
					in.Close()
				}()
				const chunk = 16 << 10
				buf := make([]byte, chunk)
				per := time.Duration(float64(time.Second) * chunk / float64(rate))
				for {
					start := time.Now()
					n, err := in.Read(buf)
					if n > 0 {
						if _, werr := out.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						_ = out.(*net.TCPConn).CloseWrite()
						return
					}
					time.Sleep(time.Duration(float64(per)*float64(n)/chunk) - time.Since(start))
				}
			}()
		}
	}()
	return ln.Addr().String()
}
