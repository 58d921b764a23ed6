package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
)

// These tests run the API on a real net/http server: deadlines need a real
// connection (httptest's recorder has none). Their time bounds are generous
// waits for an event, never a measure of speed.

// patience bounds every wait for an event in these tests.
const patience = 30 * time.Second

// trickleTimeouts demand far more than a trickling client sends.
var trickleTimeouts = Timeouts{JSON: 300 * time.Millisecond, MinRate: 1 << 20, Window: 200 * time.Millisecond}

func serveReal(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// createAsset creates a video asset through the API and returns its id.
func createAsset(t *testing.T, base string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/assets", strings.NewReader(`{"kind":"video"}`))
	req.Header.Set("Authorization", "Bearer "+oaKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create asset: %d %v", resp.StatusCode, err)
	}
	return body.ID
}

// trickle sends a request's head announcing length body bytes, then a few
// bytes at a time, far below any sane rate, until the server answers or
// hangs up. It returns the response, or nil if the connection closed
// without one.
func trickle(t *testing.T, base, method, path string, length int, first string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(patience))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: renderd\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		method, path, oaKey, length, first)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := conn.Write([]byte("xxxx")); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Logf("no response, the connection closed: %v", err)
		return nil
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// wantCode checks an error answer, and that openapi.json documents it.
func wantCode(t *testing.T, resp *http.Response, method, path string, status int, code string) {
	t.Helper()
	var body errorBody
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || json.Unmarshal(raw, &body) != nil || body.Error.Code != code {
		t.Fatalf("got %d %s, want %d %s", resp.StatusCode, raw, status, code)
	}
	if err := oaLoad(t).ValidateResponse(method, path, resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
		t.Errorf("%s %s → %d does not match openapi.json: %v", method, path, status, err)
	}
}

// storedFiles lists every file under dir, hidden temporary files included.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newBlobStore(t *testing.T) (*blob.Local, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store, dir
}

func TestUpload_trickled_below_the_minimum_rate_is_cut_off_with_408_and_leaves_no_temp_file(t *testing.T) {
	store, dir := newBlobStore(t)
	base := serveReal(t, oaServer(t, oaServerOpts{blobs: store, timeouts: trickleTimeouts, maxUpload: 1 << 20}))
	id := createAsset(t, base)

	path := "/v1/assets/" + id + "/source"
	resp := trickle(t, base, http.MethodPut, path, 1<<19, "")
	if resp == nil {
		t.Fatal("the connection closed without an answer; this client keeps reading, so it must get one")
	}
	wantCode(t, resp, http.MethodPut, path, http.StatusRequestTimeout, "upload_too_slow")
	if got := storedFiles(t, dir); len(got) != 0 {
		t.Fatalf("the cut-off upload left %v", got)
	}

	// Nothing was recorded: the part can still be uploaded.
	put, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, base+"/v1/assets/"+id+"/source", strings.NewReader("media"))
	put.Header.Set("Authorization", "Bearer "+oaKey)
	ok, err := http.DefaultClient.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	ok.Body.Close()
	if ok.StatusCode != http.StatusAccepted {
		t.Fatalf("upload after the cut-off one: %d, want 202", ok.StatusCode)
	}
	if got := storedFiles(t, dir); len(got) != 1 || strings.Contains(got[0], ".tmp-") {
		t.Fatalf("store holds %v, want the one blob", got)
	}
}

// paced is a body that hands out size bytes, step at a time, pausing
// between steps.
type paced struct {
	left, step int
	pause      time.Duration
}

func (p *paced) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(p.pause)
	n := min(len(b), p.step, p.left)
	clear(b[:n])
	p.left -= n
	return n, nil
}

func TestUpload_at_a_healthy_rate_passes_over_many_windows(t *testing.T) {
	store, dir := newBlobStore(t)
	// 32 KiB are due per window; the client sends ten times that.
	timeouts := Timeouts{JSON: 30 * time.Second, MinRate: 64 << 10, Window: 500 * time.Millisecond}
	base := serveReal(t, oaServer(t, oaServerOpts{blobs: store, timeouts: timeouts, maxUpload: 4 << 20}))
	id := createAsset(t, base)

	const size = 1 << 20 // ~1.6 s at the client's pace: several windows
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, base+"/v1/assets/"+id+"/source",
		&paced{left: size, step: 16 << 10, pause: 25 * time.Millisecond})
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+oaKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202", resp.StatusCode, raw)
	}
	got := storedFiles(t, dir)
	if len(got) != 1 {
		t.Fatalf("store holds %v", got)
	}
	if info, err := os.Stat(filepath.Join(dir, got[0])); err != nil || info.Size() != size {
		t.Fatalf("stored %v, %v; want %d bytes", info, err, size)
	}
}

func TestJSON_route_whose_body_arrives_slower_than_the_timeout_is_cut_off(t *testing.T) {
	base := serveReal(t, oaServer(t, oaServerOpts{timeouts: trickleTimeouts}))
	resp := trickle(t, base, http.MethodPost, "/v1/assets", 1<<10, `{"kind":"video","name":"`)
	if resp == nil {
		t.Fatal("the connection closed without an answer; this client keeps reading, so it must get one")
	}
	wantCode(t, resp, http.MethodPost, "/v1/assets", http.StatusRequestTimeout, "request_timeout")
}

// waitingOut is a read model that never catches up: every wait lasts its
// whole bound and reports why it ended.
type waitingOut struct{}

func (waitingOut) WaitFor(ctx context.Context, _ string, _ int64) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}
func (w waitingOut) WaitForAppended(ctx context.Context, id string, v int64) (bool, error) {
	return w.WaitFor(ctx, id, v)
}

func TestWrite_may_wait_for_the_read_model_past_the_body_timeout_and_the_transfer_window(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"json", http.MethodPost, "/v1/assets", `{"kind":"video"}`, http.StatusCreated},
		{"upload", http.MethodPut, "/v1/assets/ast_1/source", "media", http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testenv.LogBuffer{}
			// The read-your-writes wait (1 s in oaServer) outlasts the
			// body timeout and the window.
			base := serveReal(t, oaServer(t, oaServerOpts{waiter: waitingOut{}, log: slog.New(slog.NewTextHandler(logs, nil)),
				timeouts: Timeouts{JSON: 300 * time.Millisecond, MinRate: 1, Window: 300 * time.Millisecond}}))
			path := tc.path
			if tc.method == http.MethodPut {
				path = strings.Replace(path, "ast_1", createAsset(t, base), 1)
			}
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, base+path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+oaKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Renderd-Read-Your-Writes") != "timeout" {
				t.Fatalf("got %d %v, want %d after the whole wait", resp.StatusCode, resp.Header, tc.status)
			}
			// The wait ended at its own bound, not because a connection
			// deadline cancelled the request.
			if strings.Contains(logs.String(), "read-your-writes wait failed") {
				t.Fatalf("the wait was cut short:\n%s", logs)
			}
		})
	}
}

// bigDownload serves one large file behind the token "big" and reports
// when its handler returns.
func bigDownload(t *testing.T, size int64, logs io.Writer) (http.Handler, <-chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.mp4"))
	if err == nil {
		err = f.Truncate(size) // sparse: cheap to make, real to send
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	tokens := &dlTokens{known: map[string]dlResult{
		"big": {grant: domain.DownloadGrant{Key: "big.mp4", Filename: "big.mp4", Expires: time.Now().Add(time.Hour)}},
	}}
	h := DownloadHandler(tokens, dlBlobs(t, dir), slog.New(slog.NewTextHandler(logs, nil)), nil)
	returned := make(chan struct{}, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			select {
			case returned <- struct{}{}:
			default:
			}
		}()
		h.ServeHTTP(w, r)
	}), returned
}

func TestDownload_reader_that_stops_reading_is_cut_off_and_its_connection_closed(t *testing.T) {
	const size = 64 << 20 // far more than the socket buffers hold
	logs := &testenv.LogBuffer{}
	h, returned := bigDownload(t, size, io.Discard)
	base := serveReal(t, oaServer(t, oaServerOpts{downloads: h, timeouts: trickleTimeouts, log: slog.New(slog.NewTextHandler(logs, nil))}))

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(patience))
	fmt.Fprintf(conn, "GET /v1/downloads/big HTTP/1.1\r\nHost: renderd\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %v %v", resp, err)
	}
	// The client reads nothing more.
	select {
	case <-returned:
	case <-time.After(patience):
		t.Fatal("the download handler still runs for a client that stopped reading")
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= size {
		t.Fatalf("read %d bytes, %v after the cut-off; want a closed connection short of %d", n, err, size)
	}
	if !strings.Contains(logs.String(), "download cut off below the minimum transfer rate") {
		t.Errorf("the cut-off is not logged:\n%s", logs)
	}
}

// pacedReader pauses after every step bytes it reads.
type pacedReader struct {
	r     io.Reader
	step  int
	pause time.Duration
	since int
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.since >= p.step {
		time.Sleep(p.pause)
		p.since = 0
	}
	n, err := p.r.Read(b[:min(len(b), p.step-p.since)])
	p.since += n
	return n, err
}

func TestDownload_read_at_a_normal_pace_is_untouched(t *testing.T) {
	const size = 24 << 20 // more than the socket buffers: the client's pace matters
	logs := &testenv.LogBuffer{}
	h, _ := bigDownload(t, size, io.Discard)
	// 512 KiB are due per window; the client reads about 25 MB/s.
	timeouts := Timeouts{JSON: 30 * time.Second, MinRate: 1 << 20, Window: 500 * time.Millisecond}
	base := serveReal(t, oaServer(t, oaServerOpts{downloads: h, timeouts: timeouts, log: slog.New(slog.NewTextHandler(logs, nil))}))

	resp, err := http.Get(base + "/v1/downloads/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, &pacedReader{r: resp.Body, step: 256 << 10, pause: 10 * time.Millisecond})
	if resp.StatusCode != http.StatusOK || err != nil || n != size {
		t.Fatalf("got %d, %d bytes, %v; want 200 and all %d bytes", resp.StatusCode, n, err, size)
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/v1/downloads/big", nil)
	req.Header.Set("Range", "bytes=10-19")
	part, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Body.Close()
	raw, _ := io.ReadAll(part.Body)
	if part.StatusCode != http.StatusPartialContent || len(raw) != 10 {
		t.Fatalf("range: %d, %d bytes; want 206 and 10 bytes", part.StatusCode, len(raw))
	}
	if strings.Contains(logs.String(), "cut off") {
		t.Errorf("a healthy download was cut off:\n%s", logs)
	}
}
