package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
)

// readmeMarker precedes each README block that TestREADME_try_it_runs runs.
const readmeMarker = "<!-- readme-test -->"

var readmeBlock = regexp.MustCompile("(?s)" + regexp.QuoteMeta(readmeMarker) + "\\s*```sh\\n(.*?)\\n```")

// readmeBlocks returns the marked shell blocks of the README, in order.
func readmeBlocks(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range readmeBlock.FindAllSubmatch(raw, -1) {
		blocks = append(blocks, string(m[1]))
	}
	if n := bytes.Count(raw, []byte(readmeMarker)); n != len(blocks) {
		t.Fatalf("README: %d markers, %d of them before a ```sh block", n, len(blocks))
	}
	return blocks
}

// The README's "Try it" works pasted as a whole: its marked blocks run, in
// order and in one shell as a reader pastes them, from a folder laid out as
// the repository after `make run` (.data/dev-account.json holding the dev
// key, bin/renderctl built), against a real renderd with every role. The
// renders they download are checked: the cut's 2 s at 720p.
func TestREADME_try_it_runs(t *testing.T) {
	blocks := readmeBlocks(t)
	if len(blocks) < 2 {
		t.Fatalf("README: %d blocks to run, want the CLI's and curl's", len(blocks))
	}
	s := startService(t, "RENDERD_MAX_UPLOAD_BYTES=50000000")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".data"), 0o755); err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf(`{"account_id":"acc_readme","api_key":%q}`+"\n", s.account(60))
	if err := os.WriteFile(filepath.Join(dir, ".data", "dev-account.json"), []byte(account), 0o600); err != nil {
		t.Fatal(err)
	}
	buildRenderctl(t, filepath.Join(dir, "bin"))

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.Join(blocks, "\n"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RENDERD_URL="+s.base)
	out, err := cmd.CombinedOutput()
	t.Logf("the README's blocks printed:\n%s", out)
	if err != nil {
		t.Fatalf("the README's blocks: %v", err)
	}
	for _, name := range []string{"demo.mp4", "demo-curl.mp4"} {
		info, err := ffmpeg.NewProber("", 30*time.Second, ffmpeg.Limits{}).Probe(t.Context(), filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if info.Width != 1280 || info.Height != 720 || info.VideoCodec != "h264" || info.AudioCodec != "aac" {
			t.Errorf("%s: %s %dx%d, audio %s; want h264 1280x720, aac", name, info.VideoCodec, info.Width, info.Height, info.AudioCodec)
		}
		if d := info.Duration - 2*time.Second; d < -100*time.Millisecond || d > 100*time.Millisecond {
			t.Errorf("%s lasts %s, want the cut's 2 s", name, info.Duration)
		}
	}
}
