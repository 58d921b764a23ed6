package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/client"
)

func TestParseSegment(t *testing.T) {
	for in, want := range map[string]client.Segment{
		"1:3": {Start: 1, End: 3}, "0.5:2.25": {Start: 0.5, End: 2.25}, " 0 : 10 ": {Start: 0, End: 10},
	} {
		got, err := parseSegment(in)
		if err != nil || got != want {
			t.Errorf("parseSegment(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"a:b", "3:1", "2:2", "1", "", ":3", "1:", "-1:2", "1:inf", "NaN:2", "1:2:3", "0x1:3"} {
		if got, err := parseSegment(in); err == nil {
			t.Errorf("parseSegment(%q) = %+v, want an error", in, got)
		}
	}
}

func TestParseSegments(t *testing.T) {
	got, err := parseSegments([]string{"1:3,5:7", "8:9.5"})
	want := []client.Segment{{Start: 1, End: 3}, {Start: 5, End: 7}, {Start: 8, End: 9.5}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseSegments(nil); err == nil || !strings.Contains(err.Error(), "--segment") {
		t.Errorf("no segment: %v", err)
	}
	if _, err := parseSegments([]string{"1:3,"}); err == nil {
		t.Error("a trailing comma: no error")
	}
}

func TestAssetKind(t *testing.T) {
	for _, c := range []struct{ flag, file, want string }{
		{"", "talk.mp4", "video"}, {"", "talk.MOV", "video"}, {"", "noext", "video"},
		{"", "song.mp3", "audio"}, {"", "Voice.M4A", "audio"}, {"", "a.wav", "audio"}, {"", "a.flac", "audio"},
		{"audio", "talk.mp4", "audio"}, {"video", "song.mp3", "video"},
	} {
		if got, err := assetKind(c.flag, c.file); err != nil || got != c.want {
			t.Errorf("assetKind(%q, %q) = %q, %v; want %q", c.flag, c.file, got, err, c.want)
		}
	}
	if _, err := assetKind("image", "a.png"); err == nil {
		t.Error("--kind image: no error")
	}
}

func TestExitCode(t *testing.T) {
	api := &client.APIError{StatusCode: 404, Code: "not_found"}
	for _, c := range []struct {
		err         error
		interrupted bool
		want        int
	}{
		{nil, false, 0},
		{usageErr("bad"), false, 2},
		{errors.New("unknown command \"x\" for \"renderctl\""), false, 2}, // cobra's own
		{apiErr(api), false, 3},
		{apiErr(fmt.Errorf("wrapped: %w", api)), false, 3},
		{failedErr("render failed"), false, 4},
		{localErr(errors.New("disk full")), false, 1},
		{apiErr(fmt.Errorf("waiting: %w", context.Canceled)), true, 130},
		{callErr(fmt.Errorf("resumable upload: %w", &fs.PathError{Op: "read", Path: "a.mp4", Err: errors.New("I/O error")})), false, 1},
		{callErr(api), false, 3},
	} {
		if got := exitCode(c.err, c.interrupted); got != c.want {
			t.Errorf("exitCode(%v, %t) = %d, want %d", c.err, c.interrupted, got, c.want)
		}
	}
}

func TestDescribeError(t *testing.T) {
	err := apiErr(&client.APIError{StatusCode: 422, Code: "validation_error", Message: "must be one of mp4, mov",
		Field: "output.format", RequestID: "req_1", RetryAfter: 0})
	got := describeError(err)
	for _, want := range []string{"422", "validation_error", "must be one of mp4, mov", "field output.format", "request id req_1"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := describeError(errors.New("plain")); got != "plain" {
		t.Errorf("plain error: %q", got)
	}
}

// api is a stand-in for the API that counts the requests it gets: the
// usage errors below must be found before any.
func api(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, `{"error":{"code":"not_found","message":"no such thing"}}`, http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

func runWith(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	a := &app{getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &errw}
	code = run(t.Context(), args, a)
	return code, out.String(), errw.String()
}

func TestRun_usage_errors_come_before_any_request(t *testing.T) {
	url, requests := api(t)
	env := map[string]string{"RENDERD_URL": url, "RENDERD_API_KEY": "key"}
	file := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(file, []byte("not media"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{},
		{"nope"},
		{"upload"},
		{"upload", "/no/such/file.mp4"},
		{"upload", t.TempDir()},
		{"upload", "a.mp4", "b.mp4"},
		{"upload", "--bogus", "a.mp4"},
		{"cut", "ast_1"},
		{"cut", "ast_1", "--segment", "a:b"},
		{"cut", "ast_1", "--segment", "3:1"},
		{"cut", "--segment", "1:3"},
		{"render", "ast_1"},
		{"render", "ast_1", "--resolution", "720p"},
		{"render", "ast_1", "--format", "mp4", "--download", "/no/such/folder/out.mp4"},
		{"render", "ast_1", "--format", "mp4", "--video-bitrate", "fast"},
		{"renders"},
		{"renders", "nope"},
		{"renders", "ls", "extra"},
		{"renders", "ls", "--limit", "500"},
		{"cancel"},
		{"cancel", ""},
		{"webhooks"},
		{"webhooks", "listen", "--events", ""},
		{"webhooks", "listen", "--addr", "nohost"},
		{"upload", file, "--audio", "/no/such/audio.m4a"},
		{"upload", file, "--kind", "image"},
	} {
		code, stdout, stderr := runWith(t, env, args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, "renderctl: ") {
			t.Errorf("renderctl %q: exit %d, stdout %q, stderr %q; want exit 2 and a message", args, code, stdout, stderr)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests made, want none", n)
	}
}

func TestRun_missing_configuration_is_a_usage_error(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"RENDERD_URL": "http://127.0.0.1:1"},
		{"RENDERD_API_KEY": "key"},
		{"RENDERD_URL": "ftp://x", "RENDERD_API_KEY": "key"},
	} {
		code, _, stderr := runWith(t, env, "renders", "ls")
		if code != exitUsage || !strings.Contains(stderr, "RENDERD_") {
			t.Errorf("env %v: exit %d, stderr %q", env, code, stderr)
		}
	}
}

func TestRun_API_and_network_errors_exit_3(t *testing.T) {
	url, requests := api(t)
	code, _, stderr := runWith(t, map[string]string{"RENDERD_URL": url, "RENDERD_API_KEY": "key"}, "cancel", "rnd_1")
	if code != exitAPI || !strings.Contains(stderr, "404 not_found: no such thing") || requests.Load() != 1 {
		t.Errorf("exit %d, stderr %q, %d requests", code, stderr, requests.Load())
	}
	code, _, stderr = runWith(t, map[string]string{"RENDERD_URL": "http://127.0.0.1:1", "RENDERD_API_KEY": "key"}, "cancel", "rnd_1")
	if code != exitAPI || !strings.Contains(stderr, "cannot reach the API") {
		t.Errorf("unreachable: exit %d, stderr %q", code, stderr)
	}
}

func TestRun_help_documents_the_exit_codes(t *testing.T) {
	code, stdout, _ := runWith(t, nil, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"RENDERD_URL", "RENDERD_API_KEY", "--json", "upload", "cut", "render", "renders", "cancel", "webhooks",
		"0    success", "2    a usage error", "3    an API error", "4    the asset, cut or render ended failed", "130"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, stdout)
		}
	}
}

func TestRenderTable(t *testing.T) {
	cut := "cut_1"
	var b bytes.Buffer
	err := renderTable(&b, []client.Render{
		{ID: "rnd_1", State: "running", Progress: 42, Output: client.RenderOutput{Format: "mp4", Resolution: "720p"}, AssetID: "ast_1", CutID: &cut},
		{ID: "rnd_2", State: "completed", Progress: 100, Output: client.RenderOutput{Format: "mp3"}, AssetID: "ast_1"},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") ||
		!strings.Contains(lines[1], "42%") || !strings.Contains(lines[1], "mp4 720p") || !strings.Contains(lines[1], "cut_1") ||
		!strings.Contains(lines[2], "mp3") || !strings.Contains(lines[2], " - ") {
		t.Errorf("table %v:\n%s", err, b.String())
	}
}

func TestResultPrintsJSONOrAPlainLine(t *testing.T) {
	var b bytes.Buffer
	a := &app{stdout: &b, json: true}
	r := &client.Render{ID: "rnd_1", State: "completed"}
	if err := a.result(r, r.ID); err != nil || !strings.HasPrefix(b.String(), `{"id":"rnd_1"`) || strings.Count(b.String(), "\n") != 1 {
		t.Errorf("JSON: %q, %v", b.String(), err)
	}
	b.Reset()
	a.json = false
	if err := a.result(r, r.ID); err != nil || b.String() != "rnd_1\n" {
		t.Errorf("plain: %q, %v", b.String(), err)
	}
}

func TestETAText(t *testing.T) {
	eta := 12.4
	for _, c := range []struct {
		r    client.Render
		want string
	}{
		{client.Render{State: "pending"}, "queued"},
		{client.Render{State: "running"}, ""},
		{client.Render{State: "running", ETASeconds: &eta}, "ETA 12s"},
	} {
		if got := etaText(&c.r); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

func TestBarsOnlyOnATerminal(t *testing.T) {
	var b bytes.Buffer
	quiet := &app{stderr: &b}
	for _, x := range []*bar{quiet.bytesBar("up", 10), quiet.percentBar("render"), quiet.spinnerBar("probe")} {
		x.set(5)
		x.describe("x")
		x.stop()
		x.done()
	}
	if b.Len() != 0 {
		t.Errorf("not a terminal, yet %q", b.String())
	}
	tty := &app{stderr: &b, tty: true}
	x := tty.bytesBar("upload", 1000)
	x.set(500)
	time.Sleep(150 * time.Millisecond) // past the throttle
	x.set(600)
	x.done()
	if s := b.String(); !strings.Contains(s, "upload") || !strings.Contains(s, "100%") || !strings.HasSuffix(s, "\n") {
		t.Errorf("bar drew %q", s)
	}
}

// sign signs body as renderd does (Standard Webhooks: HMAC-SHA256 of
// id.timestamp.body with the secret's bytes), for the receiver's tests.
func sign(secret, id string, ts time.Time, body []byte) http.Header {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts.Unix(), body)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return h
}

func TestReceiver(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	v, err := client.NewWebhookVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"evt_1","type":"render.completed","created_at":"2026-01-02T03:04:05Z",
		"data":{"render":{"id":"rnd_1","state":"completed","output":{"format":"mp4","resolution":"720p"}}}}`)
	post := func(rc *receiver, h http.Header, b []byte) int {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
		for k, vs := range h {
			req.Header[k] = vs
		}
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	for _, asJSON := range []bool{false, true} {
		var out, errw bytes.Buffer
		rc := &receiver{a: &app{stdout: &out, stderr: &errw, json: asJSON}, verifier: v, seen: map[string]bool{}}
		h := sign(secret, "msg_1", time.Now(), body)
		if code := post(rc, h, body); code != http.StatusNoContent {
			t.Fatalf("signed delivery: %d", code)
		}
		if code := post(rc, h, body); code != http.StatusNoContent { // the same again: printed once
			t.Fatalf("repeated delivery: %d", code)
		}
		forged := append([]byte{}, body...)
		forged = bytes.Replace(forged, []byte("completed"), []byte("failed\x20\x20\x20"), 1)
		if code := post(rc, h, forged); code != http.StatusBadRequest {
			t.Errorf("forged delivery: %d", code)
		}
		if code := post(rc, sign("whsec_"+base64.StdEncoding.EncodeToString([]byte("another secret of 32 bytes......")), "msg_2", time.Now(), body), body); code != http.StatusBadRequest {
			t.Errorf("another secret's delivery: %d", code)
		}
		if code := post(rc, sign(secret, "msg_3", time.Now().Add(-time.Hour), body), body); code != http.StatusBadRequest {
			t.Errorf("a stale delivery: %d", code)
		}
		if code := post(rc, nil, body); code != http.StatusBadRequest {
			t.Errorf("an unsigned delivery: %d", code)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		w := httptest.NewRecorder()
		if rc.ServeHTTP(w, req); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", w.Code)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 1 {
			t.Fatalf("json %t: printed %q", asJSON, out.String())
		}
		if asJSON && !strings.HasPrefix(lines[0], `{"id":"evt_1","type":"render.completed"`) ||
			!asJSON && lines[0] != "2026-01-02T03:04:05Z  render.completed  rnd_1  completed mp4 720p" {
			t.Errorf("json %t: printed %q", asJSON, lines[0])
		}
		if n := strings.Count(errw.String(), "refused a delivery"); n != 4 {
			t.Errorf("json %t: %d refusals on stderr:\n%s", asJSON, n, errw.String())
		}
	}
}

func TestParseEvents(t *testing.T) {
	if got, err := parseEvents([]string{"render.completed", " render.failed", "render.completed"}); err != nil || len(got) != 2 {
		t.Errorf("%q, %v", got, err)
	}
	for _, in := range [][]string{nil, {""}, {"render.failed", " "}} {
		if _, err := parseEvents(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestShortName(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b/clip.mp4": "clip.mp4",
		"/x/a_very_long_file_name_of_a_recording.mp4": "a_very_long_file_name_o…",
		"été_à_la_plage_en_août_2026.mp4":             "été_à_la_plage_en_août_…",
	} {
		if got := shortName(in); got != want {
			t.Errorf("shortName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A render's bar, poll by poll: the server's ETA beside it, one line
// ended once, whatever follows the last poll.
func TestRenderBar(t *testing.T) {
	var b bytes.Buffer
	a := &app{stderr: &b, tty: true}
	x := a.percentBar("rendering")
	eta := 30.0
	for _, r := range []client.Render{
		{State: "pending"},
		{State: "running", Progress: 10, ETASeconds: &eta},
		{State: "running", Progress: 55},
		{State: "completed", Progress: 100},
	} {
		showRender(x, &r)
	}
	x.done()
	x.stop()
	s := b.String()
	for _, want := range []string{"queued", "ETA 30s", "10%", "55%", "rendered", "100%"} {
		if !strings.Contains(s, want) {
			t.Errorf("the bar never showed %q: %q", want, s)
		}
	}
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("the bar's line ended %d times: %q", strings.Count(s, "\n"), s)
	}
}

func TestWebhooksListen_failures(t *testing.T) {
	url, requests := api(t)
	env := map[string]string{"RENDERD_URL": url, "RENDERD_API_KEY": "key"}
	// An address taken: a local failure, before any request.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if code, _, stderr := runWith(t, env, "webhooks", "listen", "--addr", taken.Addr().String()); code != exitLocal || !strings.Contains(stderr, "--addr") {
		t.Errorf("address taken: exit %d, %q", code, stderr)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests", n)
	}
	// The API refuses the endpoint.
	if code, _, stderr := runWith(t, env, "webhooks", "listen"); code != exitAPI || !strings.Contains(stderr, "404") {
		t.Errorf("endpoint refused: exit %d, %q", code, stderr)
	}
}

// After Ctrl-C, listen deletes its endpoint; when that fails, the API's
// error is the exit code (3), not the interruption's; when it works, 0.
func TestWebhooksListen_deletes_its_endpoint_on_interrupt(t *testing.T) {
	for _, deleteStatus := range []int{http.StatusNoContent, http.StatusInternalServerError} {
		var deleted atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPost && r.URL.Path == "/v1/webhook-endpoints":
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				fmt.Fprint(w, `{"id":"whe_1","object":"webhook_endpoint","url":"http://x/","events":["render.completed"],`+
					`"state":"enabled","secret":"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=","created_at":"2026-01-01T00:00:00Z"}`)
			case r.Method == http.MethodDelete && r.URL.Path == "/v1/webhook-endpoints/whe_1":
				deleted.Add(1)
				if deleteStatus != http.StatusNoContent {
					http.Error(w, `{"error":{"code":"internal","message":"something went wrong"}}`, deleteStatus)
					return
				}
				w.WriteHeader(deleteStatus)
			default:
				http.NotFound(w, r)
			}
		}))
		var out bytes.Buffer
		var errw testenv.LogBuffer
		env := map[string]string{"RENDERD_URL": srv.URL, "RENDERD_API_KEY": "key"}
		a := &app{getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &errw}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan int, 1)
		go func() { done <- run(ctx, []string{"webhooks", "listen"}, a) }()
		for !strings.Contains(errw.String(), "listening on") {
			time.Sleep(10 * time.Millisecond)
		}
		cancel() // Ctrl-C
		code := <-done
		srv.Close()
		want := exitOK
		if deleteStatus != http.StatusNoContent {
			want = exitAPI
		}
		if code != want || deleted.Load() != 1 {
			t.Errorf("delete answered %d: exit %d (want %d), %d deletes; stderr %q", deleteStatus, code, want, deleted.Load(), errw.String())
		}
	}
}

func TestReceiver_refuses_a_huge_body(t *testing.T) {
	v, err := client.NewWebhookVerifier("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	rc := &receiver{a: &app{stdout: &out, stderr: &errw}, verifier: v, seen: map[string]bool{}}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, maxWebhookBody+1))))
	if w.Code != http.StatusRequestEntityTooLarge || out.Len() != 0 {
		t.Errorf("%d, printed %q", w.Code, out.String())
	}
}

// fakeAPI answers the given paths with a status and a body; any other
// path is a 404.
func fakeAPI(t *testing.T, routes map[string]func(w http.ResponseWriter)) *client.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := routes[r.Method+" "+r.URL.Path]; ok {
			f(w)
			return
		}
		http.Error(w, `{"error":{"code":"not_found","message":"no such resource"}}`, http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "key", client.WithRetry(client.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func answer(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func TestWaitAsset_a_refused_part_exits_4(t *testing.T) {
	c := fakeAPI(t, map[string]func(http.ResponseWriter){
		"GET /v1/assets/ast_1": answer(200, `{"id":"ast_1","object":"asset","kind":"video","state":"uploading",`+
			`"refusal":{"part":"audio","code":"audio_too_long","message":"the audio outlasts the source"}}`),
	})
	var out, errw bytes.Buffer
	err := (&app{stdout: &out, stderr: &errw}).waitAsset(t.Context(), c, "ast_1")
	if exitCode(err, false) != exitFailed || !strings.Contains(err.Error(), "audio upload was refused: audio_too_long") || out.String() != "ast_1\n" {
		t.Errorf("exit %d, %v, printed %q", exitCode(err, false), err, out.String())
	}
}

func TestDownload_failures(t *testing.T) {
	render := `{"id":"rnd_1","object":"render","state":"completed","progress":100,"download_url":"/v1/downloads/tok","size_bytes":5}`
	path := filepath.Join(t.TempDir(), "out.mp4")
	tmp := func() *os.File {
		f, err := os.CreateTemp(filepath.Dir(path), ".out.mp4.renderctl-*")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := &app{stdout: io.Discard, stderr: io.Discard}

	// The output cannot be written: a local failure.
	c := fakeAPI(t, map[string]func(http.ResponseWriter){
		"GET /v1/renders/rnd_1": answer(200, render),
		"GET /v1/downloads/tok": answer(200, "bytes"),
	})
	f := tmp()
	f.Close()
	err := a.download(t.Context(), c, &client.Render{ID: "rnd_1"}, f, path)
	if exitCode(err, false) != exitLocal || !strings.Contains(err.Error(), "writing "+path) {
		t.Errorf("unwritable output: exit %d, %v", exitCode(err, false), err)
	}

	// The download is refused: an API error, and no output.
	c = fakeAPI(t, map[string]func(http.ResponseWriter){
		"GET /v1/renders/rnd_1": answer(200, render),
		"GET /v1/downloads/tok": answer(410, `{"error":{"code":"download_expired","message":"the link expired"}}`),
	})
	err = a.download(t.Context(), c, &client.Render{ID: "rnd_1"}, tmp(), path)
	if exitCode(err, false) != exitAPI || client.ErrorCode(err) != "download_expired" {
		t.Errorf("refused download: exit %d, %v", exitCode(err, false), err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an output after failures: %v", err)
	}

	// And when it works, the output is renamed into place.
	c = fakeAPI(t, map[string]func(http.ResponseWriter){
		"GET /v1/renders/rnd_1": answer(200, render),
		"GET /v1/downloads/tok": answer(200, "bytes"),
	})
	if err := a.download(t.Context(), c, &client.Render{ID: "rnd_1"}, tmp(), path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "bytes" {
		t.Errorf("output %q, %v", b, err)
	}
}
