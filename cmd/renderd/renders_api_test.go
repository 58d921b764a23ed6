package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// readyAsset uploads file as a new asset of kind and waits until it is ready.
func (s *service) readyAsset(key, kind, file string) string {
	s.t.Helper()
	id := s.newAsset(key, kind)
	s.expect(s.upload(key, id, "source", file), http.StatusAccepted, "")
	s.waitAsset(key, id, "ready", state("ready"))
	return id
}

func render(asset string, output map[string]any) map[string]any {
	return map[string]any{"asset_id": asset, "output": output}
}

func TestAPI_renders(t *testing.T) {
	// The encoder only probes: these tests drive renders through the worker
	// commands themselves (failRender, completeRender); the render
	// pipeline's own tests are in encode_api_test.go.
	s := startService(t, "RENDERD_ENCODER_RENDERS=false")
	key, other := s.account(60), s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))

	t.Run("a_repeat_returns_the_same_render_and_a_different_output_is_new", func(t *testing.T) {
		s := s.with(t)
		first := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4", "resolution": "720p"}))
		s.expect(first, 201, "")
		if first.str("state") != "pending" || first.str("plan.width") != "1280" || first.str("plan.height") != "720" {
			t.Fatalf("new render: %s", first.raw)
		}
		if got := s.do(key, "GET", "/v1/renders/"+first.str("id"), nil); got.status != 200 {
			t.Fatalf("GET right after POST: %d", got.status)
		}
		again := s.do(key, "POST", "/v1/renders", `{"output":{"resolution":"720p","format":"mp4","audio_bitrate":null},"asset_id":"`+video+`"}`)
		if again.status != 200 || again.str("id") != first.str("id") {
			t.Fatalf("repeat (fields reordered, null = absent): %d %s", again.status, again.raw)
		}
		other := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp4", "resolution": "720p", "audio_bitrate": 192}))
		if other.status != 201 || other.str("id") == first.str("id") {
			t.Fatalf("an explicit Auto value: %d %s, want a new render", other.status, other.raw)
		}
	})

	// A new render's answer is built from the events the request appended,
	// not read back: it must be exactly what a GET then shows.
	t.Run("a_new_renders_answer_is_what_a_get_shows", func(t *testing.T) {
		s := s.with(t)
		cut := s.do(key, "POST", "/v1/assets/"+video+"/cuts",
			map[string]any{"segments": []map[string]float64{{"start": 0.1234567, "end": 0.7654321}, {"start": 1.25, "end": 1.9000004}}})
		s.expect(cut, 201, "")
		for _, body := range []map[string]any{
			render(video, map[string]any{"format": "mov", "resolution": "720p", "audio_bitrate": 256}),
			{"asset_id": video, "cut_id": cut.str("id"), "output": map[string]any{"format": "m4a"}},
		} {
			posted := s.do(key, "POST", "/v1/renders", body)
			s.expect(posted, 201, "")
			got := s.do(key, "GET", "/v1/renders/"+posted.str("id"), nil)
			if !reflect.DeepEqual(posted.body, got.body) {
				t.Errorf("POST answered\n%s\nGET shows\n%s", posted.raw, got.raw)
			}
		}
	})

	t.Run("fifty_identical_requests_at_once_make_one_render", func(t *testing.T) {
		s := s.with(t)
		statuses, ids := s.postAtOnce(key, 50, render(video, map[string]any{"format": "mov"}), nil)
		if statuses[201] != 1 || statuses[200] != 49 || len(ids) != 1 {
			t.Fatalf("statuses %v, %d distinct ids; want one 201, 49 200, one id", statuses, len(ids))
		}
		var requested int
		for id := range ids {
			_ = s.pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'render.requested.v1'`, id).Scan(&requested)
		}
		if requested != 1 {
			t.Errorf("%d render.requested events, want 1", requested)
		}
	})

	t.Run("plans_follow_the_displayed_picture", func(t *testing.T) {
		s := s.with(t)
		for _, c := range []struct {
			file string
			w, h string
		}{{mediatest.Vertical1080x1920(t), "720", "1280"}, {mediatest.Rotated90(t), "720", "1280"}} {
			id := s.readyAsset(key, "video", c.file)
			r := s.do(key, "POST", "/v1/renders", render(id, map[string]any{"format": "mp4", "resolution": "720p"}))
			if r.str("plan.width") != c.w || r.str("plan.height") != c.h {
				t.Errorf("720p of a vertical source: %s", r.raw)
			}
		}
		low := s.readyAsset(key, "video", mediatest.LowBitrate(t))
		r := s.do(key, "POST", "/v1/renders", render(low, map[string]any{"format": "mp4"}))
		if vb := dig(r.body, "plan.video_bitrate_bps"); vb == nil || vb.(float64) > 500_000 {
			t.Errorf("Auto on a low-bitrate source is not capped: %s", r.raw)
		}
	})

	t.Run("refusals_follow_the_pinned_order_with_stable_codes", func(t *testing.T) {
		s := s.with(t)
		audio := s.readyAsset(key, "audio", mediatest.AudioM4A(t))
		uploading := s.newAsset(key, "video")
		cases := []struct {
			name, key string
			body      any
			status    int
			code      string
		}{
			{"no_key", "", render(video, map[string]any{"format": "mp4"}), 401, "unauthorized"},
			{"malformed", key, `{"asset_id":`, 400, "invalid_request"},
			{"bitrate_as_string", key, render(video, map[string]any{"format": "mp4", "video_bitrate": "5"}), 400, "invalid_request"},
			{"unknown_asset_with_bad_format", key, render("ast_nope", map[string]any{"format": "avi"}), 404, "not_found"},
			{"foreign_asset", other, render(video, map[string]any{"format": "mp4"}), 404, "not_found"},
			{"4K_is_case_sensitive", key, render(video, map[string]any{"format": "mp4", "resolution": "4K"}), 422, "validation_error"},
			{"explicit_zero_bitrate", key, render(video, map[string]any{"format": "mp4", "video_bitrate": 0}), 422, "validation_error"},
			{"video_of_audio", key, render(audio, map[string]any{"format": "mp4"}), 422, "validation_error"},
			{"resolution_on_audio_format", key, render(video, map[string]any{"format": "m4a", "resolution": "720p"}), 422, "validation_error"},
			{"unknown_cut", key, map[string]any{"asset_id": video, "cut_id": "cut_nope", "output": map[string]any{"format": "mp4"}}, 422, "validation_error"},
			{"video_of_an_uploading_asset", key, render(uploading, map[string]any{"format": "mp4"}), 409, "asset_not_ready"},
			{"audio_of_an_uploading_asset", key, render(uploading, map[string]any{"format": "m4a"}), 409, "asset_processing"},
			{"4k_of_1080p", key, render(video, map[string]any{"format": "mp4", "resolution": "4k"}), 422, "validation_error"},
			{"50_mbps_above_the_source", key, render(video, map[string]any{"format": "mp4", "video_bitrate": 50}), 422, "validation_error"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := s.with(t)
				s.expect(s.do(c.key, "POST", "/v1/renders", c.body), c.status, c.code)
			})
		}
	})

	t.Run("cancel_and_retry_after_cancel_replaces", func(t *testing.T) {
		s := s.with(t)
		out := map[string]any{"format": "m4a", "audio_bitrate": 128}
		r := s.do(key, "POST", "/v1/renders", render(video, out))
		id := r.str("id")
		s.expect(s.do(other, "DELETE", "/v1/renders/"+id, nil), 404, "not_found")
		s.expect(s.do(key, "DELETE", "/v1/renders/"+id, nil), 204, "")
		if got := s.do(key, "GET", "/v1/renders/"+id, nil); got.str("state") != "cancelled" || got.str("cancelled_at") == "<nil>" {
			t.Fatalf("after DELETE: %s", got.raw)
		}
		s.expect(s.do(key, "DELETE", "/v1/renders/"+id, nil), 204, "")
		again := s.do(key, "POST", "/v1/renders", render(video, out))
		if again.status != 201 || again.str("replaces") != id {
			t.Fatalf("after a cancel: %d %s, want a new render replacing %s", again.status, again.raw, id)
		}
		if old := s.do(key, "GET", "/v1/renders/"+id, nil); old.status != 200 {
			t.Error("a replaced render is no longer readable")
		}
	})

	t.Run("fifty_retries_of_a_failed_render_make_one_replacement", func(t *testing.T) {
		s := s.with(t)
		out := map[string]any{"format": "mp4", "video_bitrate": 5}
		failed := s.do(key, "POST", "/v1/renders", render(video, out)).str("id")
		s.failRender(failed, "encode_failed", "ffmpeg exited with status 1: [libx264 @ 0x1] broken")
		testenv.Eventually(t, 20*time.Second, "failed", func() bool {
			return s.do(key, "GET", "/v1/renders/"+failed, nil).str("state") == "failed"
		})
		got := s.do(key, "GET", "/v1/renders/"+failed, nil)
		if got.str("failure.code") != "encode_failed" || strings.Contains(string(got.raw), "libx264") {
			t.Errorf("failed render shows %s (ffmpeg's words must stay private)", got.raw)
		}
		statuses, ids := s.postAtOnce(key, 50, render(video, out), func(r response) {
			if r.str("replaces") != failed {
				t.Errorf("replacement %s replaces %q, want %s", r.str("id"), r.str("replaces"), failed)
			}
		})
		if statuses[201] != 1 || statuses[200] != 49 || len(ids) != 1 || ids[failed] {
			t.Fatalf("statuses %v, ids %v; want exactly one new render", statuses, ids)
		}
	})

	t.Run("a_completed_render_downloads_through_a_fresh_signed_url", func(t *testing.T) {
		s := s.with(t)
		r := s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp3"}))
		id := r.str("id")
		// The encoder arrives with issue 5: complete the render through its
		// commands, with a real file in the blob store.
		s.completeRender(id, "renders/"+id+"/out.mp3", []byte("ID3-not-really-an-mp3-but-bytes"))
		var got response
		testenv.Eventually(t, 20*time.Second, "completed", func() bool {
			got = s.do(key, "GET", "/v1/renders/"+id, nil)
			return got.str("state") == "completed"
		})
		url := got.str("download_url")
		if !strings.HasPrefix(url, s.base+"/v1/downloads/") || got.str("progress") != "100" || got.str("size_bytes") == "<nil>" {
			t.Fatalf("completed render: %s", got.raw)
		}
		list := s.do(key, "GET", "/v1/renders?state=completed", nil)
		if strings.Contains(string(list.raw), "download_url") {
			t.Error("the list shows a download_url")
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Range", "bytes=4-6")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 206 || string(body) != "not" || !strings.Contains(resp.Header.Get("Content-Disposition"), id+".mp3") {
			t.Errorf("ranged download: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		tampered := url[:len(url)-2] + "xx"
		if resp, err := http.Get(tampered); err != nil || resp.StatusCode != 403 {
			t.Errorf("tampered token: %v %v", resp.StatusCode, err)
		}
		s.expect(s.do(key, "DELETE", "/v1/renders/"+id, nil), 409, "render_not_cancellable")
		events := s.do(key, "GET", "/v1/renders/"+id+"/events", nil)
		if n := len(dig(events.body, "data").([]any)); n < 3 || strings.Contains(string(events.raw), "worker") || strings.Contains(string(events.raw), "blob") {
			t.Errorf("history: %s", events.raw)
		}
		s.expect(s.do(other, "GET", "/v1/renders/"+id+"/events", nil), 404, "not_found")
		s.expect(s.do(other, "GET", "/v1/renders/"+id, nil), 404, "not_found")
	})

	t.Run("the_list_filters_by_asset_and_state", func(t *testing.T) {
		s := s.with(t)
		r := s.do(key, "GET", "/v1/renders?asset_id="+video+"&state=cancelled&limit=100", nil)
		s.expect(r, 200, "")
		for _, item := range dig(r.body, "data").([]any) {
			m := item.(map[string]any)
			if m["asset_id"] != video || m["state"] != "cancelled" {
				t.Errorf("filtered list has %v", m)
			}
		}
		s.expect(s.do(key, "GET", "/v1/renders?state=done", nil), 422, "validation_error")
		if r := s.do(other, "GET", "/v1/renders?limit=100", nil); len(dig(r.body, "data").([]any)) != 0 {
			t.Errorf("another account lists renders: %s", r.raw)
		}
	})
}

// postAtOnce sends n identical POST /v1/renders at once and counts the
// statuses and distinct render ids; check, if given, sees every response.
func (s *service) postAtOnce(key string, n int, body any, check func(response)) (map[int]int, map[string]bool) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		ids      = map[string]bool{}
	)
	for range n {
		wg.Go(func() {
			r := s.do(key, "POST", "/v1/renders", body)
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			ids[r.str("id")] = true
			if check != nil {
				check(r)
			}
		})
	}
	wg.Wait()
	return statuses, ids
}

// failRender plays an encoder whose ffmpeg failed.
func (s *service) failRender(id, code, message string) {
	s.t.Helper()
	ctx := context.Background()
	d := writeDeps(s.pool, nil)
	start, _ := commands.NewStartRenderHandler(d, 0)
	fail, _ := commands.NewFailRenderHandler(d)
	attempt, _, err := start.Handle(ctx, commands.Caller{}, commands.StartRender{RenderID: id, WorkerID: "test", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := fail.Handle(ctx, commands.Caller{}, commands.FailRender{RenderID: id, Attempt: attempt, Code: code, Message: message}); err != nil {
		s.t.Fatal(err)
	}
	_ = postgres.NotifyCommitted(ctx, s.pool) // wake the relay, as an encoder's notifier would
}

// completeRender plays the encoder: start, store the output, complete.
func (s *service) completeRender(id, blobKey string, data []byte) {
	s.t.Helper()
	ctx := context.Background()
	d := writeDeps(s.pool, nil)
	start, _ := commands.NewStartRenderHandler(d, 0)
	complete, _ := commands.NewCompleteRenderHandler(d)
	attempt, _, err := start.Handle(ctx, commands.Caller{}, commands.StartRender{RenderID: id, WorkerID: "test", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.blobs.Put(ctx, blobKey, strings.NewReader(string(data)), 1<<20); err != nil {
		s.t.Fatal(err)
	}
	_, err = complete.Handle(ctx, commands.Caller{}, commands.CompleteRender{RenderID: id, Result: domain.RenderCompleted{
		Attempt: attempt, BlobKey: blobKey, SizeBytes: int64(len(data)), Duration: 2 * time.Second}})
	if err != nil {
		s.t.Fatal(fmt.Errorf("complete: %w", err))
	}
	_ = postgres.NotifyCommitted(ctx, s.pool)
}
