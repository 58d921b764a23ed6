package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
)

// blobFiles lists every file in the service's blob folder, hidden
// temporary files included.
func (s *service) blobFiles() []string {
	s.t.Helper()
	dir := s.blobDir()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// leaveTemp writes a temporary blob file as a crashed writer leaves it,
// last modified age ago.
func leaveTemp(t *testing.T, dir, rel string, age time.Duration) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("half an upload"), 0o640); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestAPI_slow_clients_oversized_heads_and_leftover_temp_files(t *testing.T) {
	blobDir := t.TempDir()
	leaveTemp(t, blobDir, "assets/ast_crashed/.tmp-0123456789abcdef", 2*legacyTempAge)
	leaveTemp(t, blobDir, "renders/rnd_crashed/.tmp-fedcba9876543210", 2*legacyTempAge)
	// An upload a killed API process left: idle for longer than twice the
	// window plus RENDERD_BLOB_SWEEP_MIN_AGE (5m).
	leaveTemp(t, blobDir, "assets/ast_crashed/.tmp-0123456789abcdef-source-0190", 6*time.Minute)
	// Other processes' uploads, still being written (an older renderd's
	// file named without its key, and a current one's).
	leaveTemp(t, blobDir, "assets/ast_live/.tmp-00112233445566ff", time.Minute)
	leaveTemp(t, blobDir, "assets/ast_live/.tmp-00112233445566ff-source-0191", time.Minute)
	// A window's worth of bytes (1 MiB/s × 300 ms) is far more than the
	// trickling client below sends.
	s := startService(t, "RENDERD_BLOB_URL=file:"+blobDir, "RENDERD_TRANSFER_MIN_RATE=1048576", "RENDERD_TRANSFER_WINDOW=300ms")
	key := s.account(60)

	t.Run("temp_files_older_than_the_sweep_age_are_gone_after_start", func(t *testing.T) {
		s := s.with(t)
		testenv.Eventually(t, 30*time.Second, "the leftover temporary files to be swept", func() bool {
			for _, f := range s.blobFiles() {
				if strings.Contains(f, "_crashed/.tmp-") {
					return false
				}
			}
			return true
		})
		if files := s.blobFiles(); strings.Count(strings.Join(files, ","), "ast_live/.tmp-") != 2 {
			t.Fatalf("the sweep removed a temporary file in use: %v", files)
		}
	})

	t.Run("a_trickled_upload_is_cut_off_leaves_no_temp_file_and_the_part_can_be_uploaded_again", func(t *testing.T) {
		s := s.with(t)
		id := s.newAsset(key, "audio")
		before := s.blobFiles()

		conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(conn, "PUT /v1/assets/%s/source HTTP/1.1\r\nHost: renderd\r\nAuthorization: Bearer %s\r\nContent-Length: 1000000\r\n\r\n", id, key)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := conn.Write([]byte("ID3.")); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		close(stop)
		if err != nil {
			t.Fatalf("no answer to a client that keeps reading: %v", err)
		}
		var body struct{ Error struct{ Code string } }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || body.Error.Code != "upload_too_slow" {
			t.Fatalf("got %d %q, want 408 upload_too_slow", resp.StatusCode, body.Error.Code)
		}
		if after := s.blobFiles(); strings.Join(after, ",") != strings.Join(before, ",") {
			t.Fatalf("the cut-off upload left files: before %v, after %v", before, after)
		}

		s.expect(s.upload(key, id, "source", mediatest.AudioMP3(t)), http.StatusAccepted, "")
		s.waitAsset(key, id, "the uploaded audio to be probed", state("ready"))
	})

	t.Run("a_request_head_above_64_KiB_is_refused_with_431", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.base+"/v1/assets", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Padding", strings.Repeat("p", maxHeaderBytes+8<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("got %d, want 431", resp.StatusCode)
		}
	})
}
