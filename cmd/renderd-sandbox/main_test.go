package main

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/renderd/renderd/adapters/ffmpeg"
)

// The built helper confines and execs a tool, as renderd starts it.
func TestHelper_runs_a_tool_in_the_sandbox(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "renderd-sandbox")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sb, err := ffmpeg.NewSandbox(ffmpeg.SandboxConfig{Mode: ffmpeg.SandboxAuto, User: "nobody", Helper: []string{bin}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ffmpeg.LandlockABI(); err == nil && !slices.Contains(sb.Layers(), "landlock") {
		t.Errorf("the kernel has Landlock but the helper was not taken: layers %v", sb.Layers())
	}
	if os.Geteuid() == 0 {
		out, err := exec.Command(bin, "--uid", "65534", "--gid", "65534", "--", "/usr/bin/id", "-u").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "65534" {
			t.Errorf("id -u through the helper: %q %v", out, err)
		}
	}
	out, err := exec.Command(bin, "--", "relative-tool").CombinedOutput()
	if code := exitCode(err); code != 125 || !strings.HasPrefix(string(out), "renderd sandbox-exec: ") {
		t.Errorf("a bad call: exit %d %q, want 125 and one line", code, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}
