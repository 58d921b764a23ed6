//go:build unix

package ffmpeg_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/domain"
)

// The playlist's segment is replaced by a FIFO nobody writes to: if ffprobe
// so much as opened it, the probe would hang until the timeout. The
// allowlist must refuse the playlist before any entry is touched.
func TestProbe_playlist_is_refused_before_its_entries_are_opened(t *testing.T) {
	playlist := mediatest.Playlist(t)
	out, err := exec.Command(mediatest.FFprobe(t), "-v", "error", "-show_entries", "format=format_name",
		"-of", "default=nw=1:nk=1", playlist).Output()
	if err != nil || strings.TrimSpace(string(out)) != "hls" {
		t.Fatalf("the fixture must be a playlist a plain ffprobe follows: %q, %v", out, err)
	}
	segment := filepath.Join(filepath.Dir(playlist), "segment.ts")
	if err := os.Remove(segment); err != nil {
		t.Fatal(err)
	}
	makeFIFO(t, segment)

	_, err = ffmpeg.NewProber(mediatest.FFprobe(t), 5*time.Second, ffmpeg.Limits{}).Probe(context.Background(), playlist)
	assertCode(t, err, domain.FailureContainerNotAllowed)
}

func makeFIFO(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}
