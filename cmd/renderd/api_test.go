package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/ports/httpapi"
)

// service is renderd with every role, started in-process on the real stack
// (its own database, topics and blob folder), driven through its HTTP port.
type service struct {
	t     *testing.T
	base  string
	pool  *pgxpool.Pool
	blobs blob.Store         // the service's store, as the test reaches it
	env   map[string]string  // the service's configuration
	logs  *testenv.LogBuffer // what serve logged (warn and above by default)
}

func startService(t *testing.T, extraEnv ...string) *service {
	t.Helper()
	dsn := testenv.NewDatabase(t)
	addr, prefix := freeAddr(t), testenv.TopicPrefix(t)
	env := map[string]string{
		"DATABASE_URL": dsn, "KAFKA_BROKERS": strings.Join(testenv.KafkaBrokers(t), ","),
		"RENDERD_HTTP_ADDR": addr, "RENDERD_KAFKA_TOPIC_PREFIX": prefix, "RENDERD_KAFKA_GROUP_PREFIX": prefix, "RENDERD_KAFKA_PARTITIONS": "3",
		"RENDERD_BLOB_URL": "file:" + t.TempDir(), "RENDERD_SCRATCH_DIR": t.TempDir(),
		"RENDERD_RELAY_POLL_INTERVAL": "200ms", "RENDERD_LOG_LEVEL": "warn",
		"RENDERD_MAX_UPLOAD_BYTES": "5000000", "RENDERD_MAX_JSON_BYTES": "10000",
		// Generous for a shared machine; the bound itself is covered by the
		// handler tests with a read model that never catches up.
		"RENDERD_READ_YOUR_WRITES_TIMEOUT": "10s",
		"RENDERD_SECRETS_KEY":              testSecretsKey,
	}
	for _, kv := range extraEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	s := runService(t, env)
	// Warm up: on a fresh broker the consumer groups take a few seconds to
	// join; wait until a write shows in the read model.
	key := s.account(1)
	id := s.do(key, http.MethodPost, "/v1/assets", map[string]string{"kind": "audio", "name": "warm-up"}).str("id")
	testenv.Eventually(t, 60*time.Second, "the read model to serve a first write", func() bool {
		return s.do(key, http.MethodGet, "/v1/assets/"+id, nil).status == http.StatusOK
	})
	return s
}

// runService migrates env's database, serves renderd with env until the
// test ends, and returns it once /readyz answers 200.
func runService(t *testing.T, env map[string]string) *service {
	t.Helper()
	dsn := env["DATABASE_URL"]
	getenv := func(k string) string {
		if v, ok := env[k]; ok || k != "RENDERD_METRICS_ADDR" {
			return v
		}
		return "127.0.0.1:0" // a free port: see env (config_test.go)
	}
	var logs bytes.Buffer
	if err := run(t.Context(), []string{"migrate"}, getenv, io.Discard, &logs); err != nil {
		t.Fatalf("migrate: %v\n%s", err, logs.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	served := &testenv.LogBuffer{}
	go func() { done <- run(ctx, []string{"serve"}, getenv, io.Discard, io.MultiWriter(testWriter{t}, served)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	s := &service{t: t, base: "http://" + env["RENDERD_HTTP_ADDR"], env: env, logs: served}
	testenv.Eventually(t, 30*time.Second, "the API to be ready", func() bool {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.pool = pool
	// The store the service's configuration names, with a scratch folder of
	// the test's own.
	cfg, _, err := loadConfig("serve", nil, getenv, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ScratchDir = t.TempDir()
	if s.blobs, err = openBlobs(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.blobs.Close() })
	return s
}

// blobDir is the folder of the service's local blob store.
func (s *service) blobDir() string {
	s.t.Helper()
	dir, local := blob.LocalDir(s.env["RENDERD_BLOB_URL"])
	if !local {
		s.t.Fatalf("the service's blob store is no local folder: %q", s.env["RENDERD_BLOB_URL"])
	}
	return dir
}

// with returns the service reporting failures to t (a subtest).
func (s *service) with(t *testing.T) *service {
	c := *s
	c.t = t
	return &c
}

// documented reports whether path matches a path of the OpenAPI document.
func documented(doc *httpapi.OpenAPI, path string) bool {
	for _, op := range doc.Operations() {
		if matchTemplate(op.Path, path) {
			return true
		}
	}
	return false
}

func matchTemplate(tmpl, path string) bool {
	a, b := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !strings.HasPrefix(a[i], "{") {
			return false
		}
	}
	return true
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// account creates an account with minutes of free credits and returns its key.
func (s *service) account(minutes int64) string {
	acc, err := postgres.NewAccounts(s.pool).Create(s.t.Context(), "test", minutes*60)
	if err != nil {
		s.t.Fatal(err)
	}
	return acc.APIKey
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(path string) string { return fmt.Sprint(dig(r.body, path)) }

// dig walks "a.b.0.c" through decoded JSON.
func dig(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func (s *service) do(key, method, path string, body any) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	// Every real response must be what the OpenAPI document promises: its
	// status, body and headers.
	doc, err := httpapi.LoadOpenAPI()
	if err != nil {
		s.t.Fatal(err)
	}
	validate := func() error {
		if err := doc.ValidateResponse(method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
			return err
		}
		return doc.ValidateHeaders(method, req.URL.Path, resp.StatusCode, resp.Header)
	}
	if resp.StatusCode == http.StatusNotFound && !documented(doc, req.URL.Path) {
		validate = func() error { return doc.ValidateSchema("Error", raw) } // an unknown route
	}
	if err := validate(); err != nil {
		s.t.Errorf("%s %s → %d does not match openapi.json: %v\n%s", method, path, resp.StatusCode, err, raw)
	}
	return out
}

func (s *service) expect(r response, status int, code string) {
	s.t.Helper()
	if r.status != status || (code != "" && r.str("error.code") != code) {
		s.t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
}

func (s *service) upload(key, assetID, part, file string) response {
	s.t.Helper()
	f, err := os.Open(file)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	return s.do(key, http.MethodPut, "/v1/assets/"+assetID+"/"+part, f)
}

// waitAsset polls the asset until cond holds.
func (s *service) waitAsset(key, id string, what string, cond func(response) bool) response {
	s.t.Helper()
	var last response
	testenv.Eventually(s.t, 30*time.Second, what, func() bool {
		last = s.do(key, http.MethodGet, "/v1/assets/"+id, nil)
		return cond(last)
	})
	return last
}

func state(want string) func(response) bool {
	return func(r response) bool { return r.str("state") == want }
}

func (s *service) newAsset(key, kind string) string {
	s.t.Helper()
	r := s.do(key, http.MethodPost, "/v1/assets", map[string]string{"kind": kind, "name": "clip " + kind})
	s.expect(r, http.StatusCreated, "")
	if r.str("state") != "uploading" {
		s.t.Fatalf("new asset: %s", r.raw)
	}
	return r.str("id")
}

func TestAPI_assets_and_cuts_end_to_end(t *testing.T) {
	s := startService(t)
	key := s.account(60)

	t.Run("a_video_upload_is_probed_charged_and_ready", func(t *testing.T) {
		s := s.with(t)
		id := s.newAsset(key, "video")
		if got := s.do(key, http.MethodGet, "/v1/assets/"+id, nil); got.status != 200 {
			t.Fatalf("GET right after POST: %d (read your writes)", got.status)
		}
		s.expect(s.upload(key, id, "source", mediatest.Landscape1080p(t)), http.StatusAccepted, "")
		a := s.waitAsset(key, id, "the asset to be ready", state("ready"))
		if a.str("cuttable") != "true" || a.str("source.width") != "1920" || a.str("source.height") != "1080" || a.str("source.has_audio") != "true" {
			t.Errorf("ready asset: %s", a.raw)
		}
		s.expect(s.upload(key, id, "source", mediatest.Landscape1080p(t)), http.StatusConflict, "source_already_uploaded")
		credits := s.do(key, http.MethodGet, "/v1/credits", nil)
		if credits.str("balance.seconds") != "3598" {
			t.Errorf("credits after a 2 s asset: %s", credits.raw)
		}
	})

	t.Run("the_request_id_becomes_the_events_correlation_id", func(t *testing.T) {
		s := s.with(t)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.base+"/v1/assets", strings.NewReader(`{"kind":"audio","name":"traced"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Request-Id", "trace-me-42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.Header.Get("X-Request-Id") != "trace-me-42" {
			t.Errorf("X-Request-Id echoed as %q", resp.Header.Get("X-Request-Id"))
		}
		var corr string
		if err := s.pool.QueryRow(t.Context(), `SELECT correlation_id FROM events WHERE stream_id = $1 AND stream_version = 1`, body["id"]).Scan(&corr); err != nil || corr != "trace-me-42" {
			t.Errorf("correlation id %q (%v), want the request id", corr, err)
		}
	})

	t.Run("another_accounts_lists_never_show_this_accounts_assets", func(t *testing.T) {
		s := s.with(t)
		other := s.account(1)
		list := s.do(other, http.MethodGet, "/v1/assets?limit=100", nil)
		if data, _ := dig(list.body, "data").([]any); len(data) != 0 {
			t.Errorf("a fresh account lists %d assets: %s", len(data), list.raw)
		}
		if c := s.do(other, http.MethodGet, "/v1/credits", nil); c.str("balance.seconds") != "60" {
			t.Errorf("a fresh account's credits: %s", c.raw)
		}
	})

	t.Run("sources_probe_as_displayed", func(t *testing.T) {
		s := s.with(t)
		for _, c := range []struct {
			name, kind, file string
			width, height    string
			audio, video     string
		}{
			{"vertical", "video", mediatest.Vertical1080x1920(t), "1080", "1920", "true", "true"},
			{"rotated_phone_clip", "video", mediatest.Rotated90(t), "1080", "1920", "true", "true"},
			{"mp3", "audio", mediatest.AudioMP3(t), "<nil>", "<nil>", "true", "false"},
			{"m4a", "audio", mediatest.AudioM4A(t), "<nil>", "<nil>", "true", "false"},
		} {
			id := s.newAsset(key, c.kind)
			s.expect(s.upload(key, id, "source", c.file), http.StatusAccepted, "")
			a := s.waitAsset(key, id, c.name+" ready", state("ready"))
			if a.str("source.width") != c.width || a.str("source.height") != c.height ||
				a.str("source.has_audio") != c.audio || a.str("source.has_video") != c.video || a.str("cuttable") != "true" {
				t.Errorf("%s: %s", c.name, a.raw)
			}
		}
	})

	t.Run("bad_media_fails_the_asset_with_a_code", func(t *testing.T) {
		s := s.with(t)
		for _, c := range []struct{ kind, file, code string }{
			{"video", mediatest.Corrupt(t), "source_unreadable"},
			{"video", mediatest.Empty(t), "source_unreadable"},
			{"video", mediatest.AudioMP3WithCoverArt(t), "no_video_stream"},
			{"audio", mediatest.VideoNoAudio(t), "no_audio_stream"},
			{"video", mediatest.Playlist(t), "container_not_allowed"},
			{"video", mediatest.SnowVideo(t), "codec_not_allowed"},
		} {
			id := s.newAsset(key, c.kind)
			s.expect(s.upload(key, id, "source", c.file), http.StatusAccepted, "")
			a := s.waitAsset(key, id, "failed", state("failed"))
			if a.str("failure.code") != c.code {
				t.Errorf("%s: failure %s, want %s", c.file, a.raw, c.code)
			}
		}
	})

	t.Run("client_extracted_audio_makes_an_uploading_video_cuttable", func(t *testing.T) {
		s := s.with(t)
		id := s.newAsset(key, "video")
		s.expect(s.upload(key, id, "audio", mediatest.AudioM4A(t)), http.StatusAccepted, "")
		a := s.waitAsset(key, id, "cuttable", func(r response) bool { return r.str("cuttable") == "true" })
		if a.str("state") != "uploading" {
			t.Errorf("state %s, want uploading while the video has not arrived", a.str("state"))
		}
		cut := s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", map[string]any{"segments": []map[string]float64{{"start": 0.5, "end": 1.5}}})
		s.expect(cut, http.StatusCreated, "")
		if cut.str("state") != "completed" || cut.str("duration") != "1" {
			t.Errorf("cut on a cuttable asset: %s", cut.raw)
		}
	})

	t.Run("cuts_complete_fail_or_wait_as_their_asset_allows", func(t *testing.T) {
		s := s.with(t)
		id := s.newAsset(key, "audio")
		early := s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", map[string]any{"segments": []map[string]float64{{"start": 0, "end": 1}, {"start": 1.5, "end": 2}}})
		s.expect(early, http.StatusCreated, "")
		if early.str("state") != "processing" {
			t.Fatalf("a cut before the upload: %s", early.raw)
		}
		s.upload(key, id, "source", mediatest.WithSilences(t))
		s.waitAsset(key, id, "ready", state("ready"))
		testenv.Eventually(t, 30*time.Second, "the early cut to complete", func() bool {
			return s.do(key, http.MethodGet, "/v1/cuts/"+early.str("id"), nil).str("state") == "completed"
		})
		late := s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", map[string]any{"segments": []map[string]float64{{"start": 2, "end": 9}}})
		if late.str("state") != "failed" || late.str("failure.code") != "segments_out_of_range" {
			t.Errorf("a cut past the end: %s", late.raw)
		}
		auto := s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", map[string]any{"auto": map[string]any{"remove_silence": map[string]float64{"min_silence": 0.5, "threshold_db": -35}}})
		s.expect(auto, http.StatusCreated, "")
		var got response
		testenv.Eventually(t, 30*time.Second, "the auto cut to complete", func() bool {
			got = s.do(key, http.MethodGet, "/v1/cuts/"+auto.str("id"), nil)
			return got.str("state") == "completed"
		})
		if segs, _ := dig(got.body, "segments").([]any); len(segs) != 2 {
			t.Errorf("auto cut kept %s, want 2 segments", got.raw)
		}
		list := s.do(key, http.MethodGet, "/v1/assets/"+id+"/cuts", nil)
		if data, _ := dig(list.body, "data").([]any); len(data) != 3 {
			t.Errorf("cuts of the asset: %s", list.raw)
		}
	})

	t.Run("an_asset_waits_for_payment_and_resumes_after_a_grant", func(t *testing.T) {
		s := s.with(t)
		poor := s.account(0)
		id := s.newAsset(poor, "video")
		s.upload(poor, id, "source", mediatest.Landscape1080p(t))
		s.waitAsset(poor, id, "payment_required", state("payment_required"))
		var acc string
		if err := s.pool.QueryRow(t.Context(), `SELECT account_id FROM awaiting_payment WHERE asset_id = $1`, id).Scan(&acc); err != nil {
			t.Fatal(err)
		}
		out, errOut := bytes.Buffer{}, bytes.Buffer{}
		getenv := func(k string) string {
			if k == "DATABASE_URL" {
				return s.pool.Config().ConnString()
			}
			return ""
		}
		if err := run(t.Context(), []string{"credits", "grant", "--account", acc, "--minutes", "1"}, getenv, &out, &errOut); err != nil {
			t.Fatalf("grant: %v %s", err, errOut.String())
		}
		s.waitAsset(poor, id, "ready after the grant", state("ready"))
	})
}

func TestAPI_rejects_bad_requests_with_stable_codes(t *testing.T) {
	s := startService(t)
	key, other := s.account(60), s.account(60)
	id := s.newAsset(key, "video")
	cutID := s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", `{"segments":[{"start":0,"end":1}]}`).str("id")

	cases := []struct {
		name, key, method, path string
		body                    any
		status                  int
		code, field             string
	}{
		{"no_key", "", "GET", "/v1/assets", nil, 401, "unauthorized", ""},
		{"wrong_key", "rdk_nope", "GET", "/v1/assets", nil, 401, "unauthorized", ""},
		{"unknown_route", key, "GET", "/v1/nothing", nil, 404, "not_found", ""},
		{"wrong_method", key, "DELETE", "/v1/assets", nil, 405, "method_not_allowed", ""},
		{"malformed_json", key, "POST", "/v1/assets", `{"kind":`, 400, "invalid_request", ""},
		{"unknown_field", key, "POST", "/v1/assets", `{"kind":"video","colour":"red"}`, 400, "invalid_request", "colour"},
		{"wrong_type", key, "POST", "/v1/assets", `{"kind":7}`, 400, "invalid_request", "kind"},
		{"two_objects", key, "POST", "/v1/assets", `{"kind":"video"}{}`, 400, "invalid_request", ""},
		{"unknown_kind", key, "POST", "/v1/assets", `{"kind":"image"}`, 422, "validation_error", "kind"},
		{"json_too_large", key, "POST", "/v1/assets", `{"kind":"video","name":"` + strings.Repeat("x", 20000) + `"}`, 413, "payload_too_large", ""},
		{"upload_too_large", key, "PUT", "/v1/assets/" + id + "/source", bytes.Repeat([]byte{0}, 5_000_001), 413, "payload_too_large", ""},
		{"foreign_asset", other, "GET", "/v1/assets/" + id, nil, 404, "not_found", ""},
		{"foreign_upload", other, "PUT", "/v1/assets/" + id + "/source", "x", 404, "not_found", ""},
		{"foreign_cut_request", other, "POST", "/v1/assets/" + id + "/cuts", `{"segments":[{"start":0,"end":1}]}`, 404, "not_found", ""},
		{"foreign_cut_list", other, "GET", "/v1/assets/" + id + "/cuts", nil, 404, "not_found", ""},
		{"foreign_audio_upload", other, "PUT", "/v1/assets/" + id + "/audio", "x", 404, "not_found", ""},
		{"foreign_cut", other, "GET", "/v1/cuts/" + cutID, nil, 404, "not_found", ""},
		{"unknown_cut", key, "GET", "/v1/cuts/cut_nope", nil, 404, "not_found", ""},
		{"audio_part_of_an_audio_asset", key, "PUT", "/v1/assets/" + s.newAsset(key, "audio") + "/audio", "x", 409, "audio_not_applicable", ""},
		{"overlapping_segments", key, "POST", "/v1/assets/" + id + "/cuts", `{"segments":[{"start":0,"end":2},{"start":1,"end":3}]}`, 422, "validation_error", "segments[1].start"},
		{"no_plan", key, "POST", "/v1/assets/" + id + "/cuts", `{}`, 422, "validation_error", "segments"},
		{"segment_as_string", key, "POST", "/v1/assets/" + id + "/cuts", `{"segments":[{"start":"0","end":1}]}`, 400, "invalid_request", "segments.start"},
		{"limit_above_100", key, "GET", "/v1/assets?limit=101", nil, 422, "validation_error", "limit"},
		{"limit_not_a_number", key, "GET", "/v1/assets?limit=ten", nil, 422, "validation_error", "limit"},
		{"bad_cursor", key, "GET", "/v1/assets?cursor=bm90LWEtY3Vyc29y", nil, 400, "invalid_request", "cursor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(c.key, c.method, c.path, c.body)
			if r.status != c.status || r.str("error.code") != c.code || (c.field != "" && r.str("error.field") != c.field) {
				t.Errorf("got %d %s, want %d %s field %q", r.status, r.raw, c.status, c.code, c.field)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id echoed")
			}
		})
	}
}

func TestAPI_lists_assets_newest_first_with_a_stable_cursor(t *testing.T) {
	s := startService(t)
	key := s.account(60)
	var ids []string
	for range 5 {
		ids = append(ids, s.newAsset(key, "audio"))
	}
	var seen []string
	cursor := ""
	for {
		r := s.do(key, http.MethodGet, "/v1/assets?limit=2"+cursor, nil)
		s.expect(r, 200, "")
		for _, a := range dig(r.body, "data").([]any) {
			seen = append(seen, fmt.Sprint(a.(map[string]any)["id"]))
		}
		// A new asset arriving mid-pagination must not shift the pages.
		if len(seen) == 2 {
			s.newAsset(key, "audio")
		}
		next := r.str("next_cursor")
		if next == "<nil>" {
			break
		}
		cursor = "&cursor=" + next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("pages gave %v, want %v", seen, want)
	}
}
