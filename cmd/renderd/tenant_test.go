package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/ports/httpapi"
)

// The tenant-safety rules on the real stack: honest billing of two parts,
// storage quotas and part reservations. One service with small limits.
func TestTenant_billing_and_storage(t *testing.T) {
	const quota = 4_000_000
	s := startService(t, fmt.Sprintf("RENDERD_ACCOUNT_STORAGE_BYTES=%d", quota), "RENDERD_MAX_SOURCE_SECONDS=30")

	t.Run("a_long_source_after_short_audio_is_refused_and_the_audio_stays_cuttable", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.cuttableVideo(key, "1")
		s.expect(s.upload(key, id, "source", smallVideo(t, "20")), http.StatusAccepted, "")
		a := s.waitRefused(key, id)
		if a.str("state") != "uploading" || a.str("cuttable") != "true" || a.str("refusal.part") != "source" || a.str("source") != "<nil>" {
			t.Errorf("after the refusal: %s", a.raw)
		}
		if charged := s.charged(id); charged != 1 {
			t.Errorf("charged %d s, want 1 (the audio only)", charged)
		}
		// The mp4 render the issue found failing output_invalid cannot start.
		s.expect(s.do(key, http.MethodPost, "/v1/renders", map[string]any{"asset_id": id, "output": map[string]any{"format": "mp4"}}),
			http.StatusConflict, "asset_not_ready")
		// A source of the same media is accepted; the refusal is gone.
		s.expect(s.upload(key, id, "source", smallVideo(t, "1")), http.StatusAccepted, "")
		a = s.waitAsset(key, id, "ready", state("ready"))
		if a.str("refusal") != "<nil>" || s.charged(id) != 1 {
			t.Errorf("after a matching source: %s, charged %d", a.raw, s.charged(id))
		}
		s.noBlobsLike(t, id+"/source", 1) // the refused source's blob is gone
	})

	t.Run("eight_seconds_of_audio_and_four_of_video_cannot_make_a_broken_render", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.cuttableVideo(key, "8")
		cut := s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", map[string]any{"segments": []map[string]float64{{"start": 1, "end": 7}}})
		s.expect(cut, http.StatusCreated, "")
		s.expect(s.upload(key, id, "source", smallVideo(t, "4")), http.StatusAccepted, "")
		s.waitRefused(key, id)
		s.expect(s.do(key, http.MethodPost, "/v1/renders", map[string]any{"asset_id": id, "cut_id": cut.str("id"), "output": map[string]any{"format": "mp4"}}),
			http.StatusConflict, "asset_not_ready")
		// Audio renders of the cut still work from the audio.
		r := s.do(key, http.MethodPost, "/v1/renders", map[string]any{"asset_id": id, "cut_id": cut.str("id"), "output": map[string]any{"format": "m4a"}})
		s.expect(r, http.StatusCreated, "")
	})

	t.Run("a_source_within_tolerance_and_longer_is_charged_the_difference", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.cuttableVideo(key, "2")
		s.expect(s.upload(key, id, "source", smallVideo(t, "2.4")), http.StatusAccepted, "")
		s.waitAsset(key, id, "ready", state("ready"))
		if c := s.charged(id); c != 3 {
			t.Errorf("charged %d s, want 3 (2 for the audio, then 1 for the 2.4 s source)", c)
		}
	})

	t.Run("a_tiny_file_declaring_8k_pictures_fails_at_probe_as_too_large", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.newAsset(key, "video")
		s.expect(s.upload(key, id, "source", mediatest.DeclaredSize(t, 7680, 4320)), http.StatusAccepted, "")
		a := s.waitAsset(key, id, "failed", state("failed"))
		if a.str("failure.code") != "source_too_large" || s.charged(id) != 0 {
			t.Errorf("an 8K bomb: %s, charged %d", a.raw, s.charged(id))
		}
		s.noBlobsLike(t, id+"/source", 0) // the failed part's blob is gone
	})

	t.Run("a_source_past_the_duration_limit_fails_at_probe", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.newAsset(key, "audio")
		s.expect(s.upload(key, id, "source", shortAudio(t, "40")), http.StatusAccepted, "")
		a := s.waitAsset(key, id, "failed", state("failed"))
		if a.str("failure.code") != "source_too_large" || !strings.Contains(a.str("failure.message"), "the limit is 30s") {
			t.Errorf("40 s past a 30 s limit: %s", a.raw)
		}
	})

	t.Run("an_upload_longer_than_the_quota_is_refused_before_its_body_is_read", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.newAsset(key, "video")
		// Announce more than the quota and send none of it: the answer must
		// come without the server waiting for the body.
		status, body := s.rawPut(t, key, "/v1/assets/"+id+"/source", quota+1)
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"storage_quota_exceeded"`) {
			t.Errorf("got %d %s", status, body)
		}
		doc, _ := httpapi.LoadOpenAPI()
		if err := doc.ValidateResponse(http.MethodPut, "/v1/assets/"+id+"/source", status, "application/json", []byte(body)); err != nil {
			t.Error(err)
		}
	})

	t.Run("a_body_without_a_length_is_stopped_when_it_passes_the_quota", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.newAsset(key, "video")
		// No Content-Length: a reader the client cannot measure.
		body := io.MultiReader(bytes.NewReader(make([]byte, quota/2)), bytes.NewReader(make([]byte, quota)))
		s.expect(s.do(key, http.MethodPut, "/v1/assets/"+id+"/source", body), http.StatusRequestEntityTooLarge, "storage_quota_exceeded")
		s.noBlobsLike(t, id, 0)
		// The part is free again.
		s.expect(s.upload(key, id, "source", smallVideo(t, "1")), http.StatusAccepted, "")
	})

	t.Run("a_second_upload_of_a_part_in_progress_is_refused_at_once", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.newAsset(key, "video")
		pr, pw := io.Pipe()
		first := make(chan response, 1)
		go func() { first <- s.do(key, http.MethodPut, "/v1/assets/"+id+"/source", pr) }()
		if _, err := pw.Write(make([]byte, 64<<10)); err != nil { // the first upload is streaming
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "the first upload to hold the part", func() bool {
			var held bool
			_ = s.pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM upload_reservations WHERE asset_id = $1 AND part = 'source')`, id).Scan(&held)
			return held
		})
		second := s.do(key, http.MethodPut, "/v1/assets/"+id+"/source", "second")
		s.expect(second, http.StatusConflict, "upload_in_progress")
		// Another account cannot even see the part.
		s.expect(s.do(s.account(10), http.MethodPut, "/v1/assets/"+id+"/source", "x"), http.StatusNotFound, "not_found")
		_ = pw.Close()
		s.expect(<-first, http.StatusAccepted, "")
		s.expect(s.do(key, http.MethodPut, "/v1/assets/"+id+"/source", "third"), http.StatusConflict, "source_already_uploaded")
	})

	t.Run("a_full_storage_gets_no_new_render", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.newAsset(key, "audio")
		s.expect(s.upload(key, id, "source", shortAudio(t, "1")), http.StatusAccepted, "")
		s.waitAsset(key, id, "ready", state("ready"))
		var acc string
		if err := s.pool.QueryRow(t.Context(), `SELECT account_id FROM rm_assets WHERE id = $1`, id).Scan(&acc); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(t.Context(), `UPDATE account_storage SET used_bytes = $2 WHERE account_id = $1`, acc, quota); err != nil {
			t.Fatal(err)
		}
		s.expect(s.do(key, http.MethodPost, "/v1/renders", map[string]any{"asset_id": id, "output": map[string]any{"format": "mp3"}}),
			http.StatusConflict, "storage_quota_exceeded")
	})
}

// cuttableVideo is a video asset made cuttable by seconds of
// client-extracted audio, its source not uploaded yet.
func (s *service) cuttableVideo(key, seconds string) string {
	s.t.Helper()
	id := s.newAsset(key, "video")
	s.expect(s.upload(key, id, "audio", shortAudio(s.t, seconds)), http.StatusAccepted, "")
	s.waitAsset(key, id, "cuttable", func(r response) bool { return r.str("cuttable") == "true" })
	return id
}

// waitRefused waits for the asset's source to be refused for its duration.
func (s *service) waitRefused(key, id string) response {
	s.t.Helper()
	return s.waitAsset(key, id, "the source refused", func(r response) bool { return r.str("refusal.code") == "source_duration_mismatch" })
}

// shortAudio is seconds of a stereo AAC tone in an m4a.
func shortAudio(t *testing.T, seconds string) string {
	return mediatest.Generate(t, "audio.m4a", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+seconds,
		"-c:a", "aac", "-b:a", "64k", "-ac", "2")
}

// smallVideo is seconds of a small H.264 + AAC mp4.
func smallVideo(t *testing.T, seconds string) string {
	return mediatest.Generate(t, "video.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration="+seconds,
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+seconds,
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-ac", "2", "-shortest")
}

// charged is the seconds the ledger charged for an asset.
func (s *service) charged(assetID string) int64 {
	s.t.Helper()
	var n int64
	if err := s.pool.QueryRow(s.t.Context(), `SELECT coalesce(-sum(delta_seconds), 0) FROM credit_ledger WHERE asset_id = $1`, assetID).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// noBlobsLike waits until the blob folder holds want files whose path
// contains part (temporary files included).
func (s *service) noBlobsLike(t *testing.T, part string, want int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the blob folder to settle", func() bool {
		found := 0
		for _, f := range s.blobFiles() {
			if strings.Contains(f, part) {
				found++
			}
		}
		return found == want
	})
}

// rawPut sends the request line and headers of a PUT announcing length
// bytes, and none of the body, then reads the answer.
func (s *service) rawPut(t *testing.T, key, path string, length int64) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: renderd\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", path, key, length)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The render queue per account on the real stack: one encoder slot, four
// places per account. A fills its places; B's one render then starts right
// after the render A had running, before A's other three.
func TestTenant_render_queue_is_fair_and_bounded(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_CONCURRENCY=1", "RENDERD_ACCOUNT_MAX_QUEUED=4")
	keyA, keyB := s.account(10), s.account(10)
	ready := func(key string) string {
		id := s.newAsset(key, "video")
		s.expect(s.upload(key, id, "source", smallVideo(t, "10")), http.StatusAccepted, "")
		s.waitAsset(key, id, "ready", state("ready"))
		return id
	}
	assetA, assetB := ready(keyA), ready(keyB)
	// Each render applies its own cut: distinct, and a real encode (a cut
	// is never a remux), so the renders queue behind the one slot.
	cut := func(key, asset string, start float64) string {
		r := s.do(key, http.MethodPost, "/v1/assets/"+asset+"/cuts", map[string]any{"segments": []map[string]float64{{"start": start, "end": start + 8}}})
		s.expect(r, http.StatusCreated, "")
		return r.str("id")
	}
	cutsA := []string{cut(keyA, assetA, 0), cut(keyA, assetA, 0.5), cut(keyA, assetA, 1), cut(keyA, assetA, 1.5)}
	cutB := cut(keyB, assetB, 0)
	post := func(key, asset, cutID string) response {
		return s.do(key, http.MethodPost, "/v1/renders", map[string]any{"asset_id": asset, "cut_id": cutID, "output": map[string]any{"format": "mp4"}})
	}
	var a []string
	for _, c := range cutsA {
		r := post(keyA, assetA, c)
		s.expect(r, http.StatusCreated, "")
		a = append(a, r.str("id"))
	}
	// A fifth render of A does not fit; a repeat of a queued one does.
	full := s.do(keyA, http.MethodPost, "/v1/renders", map[string]any{"asset_id": assetA, "output": map[string]any{"format": "mov"}})
	s.expect(full, http.StatusTooManyRequests, "too_many_renders")
	if h := full.header; h.Get("Retry-After") == "" || h.Get("RateLimit-Policy") != `"renders_queued";q=4` || !strings.HasPrefix(h.Get("RateLimit"), `"renders_queued";r=0;t=`) {
		t.Errorf("429 headers: Retry-After %q, RateLimit-Policy %q, RateLimit %q", h.Get("Retry-After"), h.Get("RateLimit-Policy"), h.Get("RateLimit"))
	}
	s.expect(post(keyA, assetA, cutsA[0]), http.StatusOK, "")
	// B's places are its own.
	b := post(keyB, assetB, cutB)
	s.expect(b, http.StatusCreated, "")

	started := map[string]time.Time{}
	for _, id := range append(a, b.str("id")) {
		key := keyA
		if id == b.str("id") {
			key = keyB
		}
		r := s.waitRender(key, id, "completed", 3*time.Minute)
		at, err := time.Parse(time.RFC3339Nano, r.str("started_at"))
		if err != nil {
			t.Fatalf("started_at of %s: %s", id, r.raw)
		}
		started[id] = at
	}
	first := a[0]
	for _, id := range a {
		if started[id].Before(started[first]) {
			first = id
		}
	}
	for _, id := range a {
		if id != first && !started[b.str("id")].Before(started[id]) {
			t.Errorf("B's render started at %s, after A's %s (%s); want it right after A's first", started[b.str("id")], id, started[id])
		}
	}
	// Finished renders free their places.
	s.expect(s.do(keyA, http.MethodPost, "/v1/renders", map[string]any{"asset_id": assetA, "output": map[string]any{"format": "mov"}}), http.StatusCreated, "")
}
