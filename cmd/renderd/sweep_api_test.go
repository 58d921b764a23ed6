package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
)

// temps lists the hidden temporary files in a render's output folder.
func (s *service) temps(id string) []string {
	var out []string
	for _, f := range s.outputFiles(id) {
		if strings.HasPrefix(f, ".tmp-") {
			out = append(out, f)
		}
	}
	return out
}

func TestEncoder_SIGKILL_mid_encode_leaves_a_partial_output_that_the_next_encoder_sweeps(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_RENDERS=false", bigUploads)
	key := s.account(60)
	video := s.readyAsset(key, "video", longVideo(t))
	env := s.encoderEnv("RENDERD_ENCODER_LEASE=3s", "RENDERD_BLOB_SWEEP_INTERVAL=1s", "RENDERD_BLOB_SWEEP_MIN_AGE=1s")
	a := start(t, append(env, "RENDERD_WORKER_ID=encoder-a"), "serve", "--roles", "encoder")

	id := s.do(key, "POST", "/v1/renders", render(video, encodeLong)).str("id")
	testenv.Eventually(t, encodeTimeout, "encoder A's ffmpeg to write the output", func() bool {
		return len(ffmpegOf(id)) > 0 && len(s.temps(id)) > 0
	})
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "A's ffmpeg to die with it", func() bool { return len(ffmpegOf(id)) == 0 })
	left := s.temps(id)
	if len(left) != 1 || !strings.HasSuffix(left[0], "-attempt-1.mp4") {
		t.Fatalf("A left %v in the render's folder, want its partial attempt-1 output", left)
	}
	// What an encoder killed earlier left of a render that has finished
	// since (it has no row in the render queue).
	earlier := filepath.Join(s.blobDir(), filepath.FromSlash(encoders.OutputKey("rnd_finished", 1, domain.FormatMP4)))
	earlier = filepath.Join(filepath.Dir(earlier), ".tmp-0123456789abcdef-"+filepath.Base(earlier))
	leaveTemp(t, filepath.Dir(earlier), filepath.Base(earlier), 10*time.Minute)

	b := start(t, append(env, "RENDERD_WORKER_ID=encoder-b"), "serve", "--roles", "encoder")
	testenv.Eventually(t, 30*time.Second, "B's first sweep to remove the earlier leftover", func() bool {
		_, err := os.Stat(earlier)
		return os.IsNotExist(err)
	})
	// B's own attempt 2 writes next to A's leftover and survives every
	// sweep; A's goes once its attempt is over (the lease expired and the
	// render was claimed again).
	s.waitRender(key, id, "completed", 3*encodeTimeout)
	testenv.Eventually(t, 30*time.Second, "A's partial output to be swept", func() bool { return len(s.temps(id)) == 0 })
	if files := s.outputFiles(id); strings.Join(files, ",") != "attempt-2.mp4" {
		t.Errorf("the render's folder holds %v, want only attempt 2's output", files)
	}
	logs := b.stderr.String()
	if !strings.Contains(logs, "swept temporary blob files") || !strings.Contains(logs, "bytes=") {
		t.Errorf("B logged no sweep with its count and bytes:\n%s", logs)
	}
}

func TestAPI_SIGKILL_mid_upload_leaves_a_partial_upload_that_the_next_API_process_sweeps(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_RENDERS=false")
	key := s.account(60)
	id := s.newAsset(key, "audio")
	uploads := filepath.Join(s.blobDir(), "assets", id)
	partial := func() []string {
		names, _ := filepath.Glob(filepath.Join(uploads, ".tmp-*-source-*"))
		return names
	}

	addr := freeAddr(t)
	a := start(t, s.encoderEnv("RENDERD_HTTP_ADDR="+addr), "serve", "--roles", "api")
	testenv.Eventually(t, 30*time.Second, "API process A to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/assets/%s/source HTTP/1.1\r\nHost: renderd\r\nAuthorization: Bearer %s\r\nContent-Length: 100000000\r\n\r\n", id, key)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // well above the minimum rate, and never done
		chunk := make([]byte, 64<<10)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	testenv.Eventually(t, 30*time.Second, "A to write the upload to the blob store", func() bool { return len(partial()) == 1 })
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = a.wait(t, 10*time.Second)
	if len(partial()) != 1 {
		t.Fatalf("A left %v, want its partial upload", partial())
	}

	// B measures uploads over 300 ms windows: A's file, unwritten for
	// 2 × 300 ms + 1 s, is a dead upload's.
	b := start(t, s.encoderEnv("RENDERD_HTTP_ADDR="+freeAddr(t), "RENDERD_TRANSFER_WINDOW=300ms",
		"RENDERD_BLOB_SWEEP_MIN_AGE=1s", "RENDERD_BLOB_SWEEP_INTERVAL=1s"), "serve", "--roles", "api")
	testenv.Eventually(t, 30*time.Second, "B to sweep A's partial upload", func() bool { return len(partial()) == 0 })
	testenv.Eventually(t, 10*time.Second, "B to log the sweep", func() bool {
		return strings.Contains(b.stderr.String(), "swept temporary blob files")
	})
}
