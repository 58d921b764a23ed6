package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
)

// The TypeScript client (clients/typescript, README "TypeScript client")
// through its own tests: its generated types checked against openapi.json
// (npm run check:types), then `npm test` (node --test) against a real
// renderd on the stack's S3 store: a resumable upload with progress, the
// wait for the probe, a cut, a render of it, the wait, the download through
// the 302 to the object store, and typed errors on the way.
func TestTypeScriptClient(t *testing.T) {
	npm := nodeTools(t)
	dir, err := filepath.Abs(filepath.Join("..", "..", "clients", "typescript"))
	if err != nil {
		t.Fatal(err)
	}
	if stale, why := npmInstallStale(dir); stale {
		t.Logf("npm ci: %s", why)
		runNpm(t, npm, dir, nil, 5*time.Minute, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	}
	runNpm(t, npm, dir, nil, time.Minute, "run", "check:types")

	s := startS3Service(t)
	env := []string{
		"RENDERD_URL=" + s.base,
		"RENDERD_API_KEY=" + s.account(60),
		"RENDERD_OTHER_API_KEY=" + s.account(60),
		"RENDERD_TEST_MEDIA=" + mediatest.Landscape1080p(t),
		"RENDERD_REQUIRE_STACK=1",
	}
	runNpm(t, npm, dir, env, 5*time.Minute, "test")
}

// nodeTools returns npm's path once node and npm are both on PATH; without
// them the test is skipped, or fails under RENDERD_REQUIRE_STACK=1 (make
// test), like the stack's other tools (adapters/testenv).
func nodeTools(t *testing.T) string {
	t.Helper()
	var npm string
	for _, name := range []string{"node", "npm"} {
		path, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("RENDERD_REQUIRE_STACK") == "1" {
				t.Fatalf("%s is required for the TypeScript client's tests: %v", name, err)
			}
			t.Skipf("test skipped: %s not found (%v); install Node.js 20 or later", name, err)
		}
		npm = path
	}
	return npm
}

// npmInstallStale reports whether dir's node_modules must be installed
// again: it is missing, or older than package-lock.json (npm ci writes
// node_modules/.package-lock.json last).
func npmInstallStale(dir string) (bool, string) {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return true, err.Error()
	}
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return true, "node_modules is missing"
	}
	if err != nil {
		return true, err.Error()
	}
	if installed.ModTime().Before(lock.ModTime()) {
		return true, "node_modules is older than package-lock.json"
	}
	return false, ""
}

// runNpm runs `npm args…` in dir with env added to the test's environment,
// streaming its output into the test log line by line, and fails the test
// when it fails or outlasts timeout.
func runNpm(t *testing.T, npm, dir string, env []string, timeout time.Duration, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// npm's children (sh, node) may outlive a killed npm holding the
	// output pipe: Run stops waiting for them after this.
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr) // a line past the buffer: keep npm unblocked
	}()
	err := cmd.Run()
	_ = pw.Close()
	<-lines
	if ctx.Err() != nil {
		t.Fatalf("npm %s in %s: not done within %s: %v", strings.Join(args, " "), dir, timeout, err)
	}
	if err != nil {
		t.Fatalf("npm %s in %s: %v", strings.Join(args, " "), dir, err)
	}
}
