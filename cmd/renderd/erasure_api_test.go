package main

import (
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
)

// Retention and erasure end to end (docs/renders.md, "Retention and
// erasure"): a deleted asset takes its cuts, renders and blobs with it, and
// an expired output goes while its render stays completed.

func TestErasure_deleting_an_asset_removes_it_its_cuts_renders_and_blobs(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_CONCURRENCY=1", bigUploads, "RENDERD_ERASURE_INTERVAL=200ms")
	key, other := s.account(60), s.account(60)
	video := s.readyAsset(key, "video", longVideo(t))
	cut := s.do(key, "POST", "/v1/assets/"+video+"/cuts", map[string]any{"segments": []map[string]float64{{"start": 0, "end": 2}}})
	s.expect(cut, http.StatusCreated, "")
	cutID := cut.str("id")
	testenv.Eventually(t, 30*time.Second, "the cut to complete", func() bool {
		return s.do(key, "GET", "/v1/cuts/"+cutID, nil).str("state") == "completed"
	})
	done := s.do(key, "POST", "/v1/renders", map[string]any{"asset_id": video, "cut_id": cutID, "output": map[string]any{"format": "m4a"}}).str("id")
	completed := s.waitRender(key, done, "completed", encodeTimeout)
	oldDownload := completed.str("download_url")
	running := s.do(key, "POST", "/v1/renders", render(video, encodeLong)).str("id")
	testenv.Eventually(t, encodeTimeout, "ffmpeg to run the long render", func() bool { return len(ffmpegOf(running)) > 0 })
	if len(s.outputFiles(done)) == 0 || len(s.assetFiles(video)) == 0 {
		t.Fatalf("before the deletion the store holds outputs %v, parts %v", s.outputFiles(done), s.assetFiles(video))
	}

	t.Run("another_accounts_delete_is_404_and_changes_nothing", func(t *testing.T) {
		s := s.with(t)
		s.expect(s.do(other, "DELETE", "/v1/assets/"+video, nil), http.StatusNotFound, "not_found")
		s.expect(s.do(key, "GET", "/v1/assets/"+video, nil), http.StatusOK, "")
	})

	s.expect(s.do(key, "DELETE", "/v1/assets/"+video, nil), http.StatusAccepted, "")

	t.Run("the_asset_its_cut_and_renders_answer_404", func(t *testing.T) {
		s := s.with(t)
		for _, path := range []string{"/v1/assets/" + video, "/v1/assets/" + video + "/cuts", "/v1/cuts/" + cutID,
			"/v1/renders/" + done, "/v1/renders/" + running, "/v1/renders/" + done + "/events", "/v1/renders?asset_id=" + video} {
			s.expect(s.do(key, "GET", path, nil), http.StatusNotFound, "not_found")
		}
	})

	t.Run("lists_leave_them_out", func(t *testing.T) {
		s := s.with(t)
		for _, path := range []string{"/v1/assets", "/v1/renders"} {
			for _, item := range s.do(key, "GET", path+"?limit=100", nil).body["data"].([]any) {
				if id := item.(map[string]any)["id"]; id == video || id == done || id == running {
					t.Errorf("%s lists the deleted %s", path, id)
				}
			}
		}
	})

	t.Run("nothing_new_of_the_asset_is_accepted", func(t *testing.T) {
		s := s.with(t)
		s.expect(s.do(key, "POST", "/v1/assets/"+video+"/cuts", map[string]any{"segments": []map[string]float64{{"start": 0, "end": 1}}}),
			http.StatusNotFound, "not_found")
		s.expect(s.do(key, "POST", "/v1/renders", render(video, map[string]any{"format": "mp3"})), http.StatusNotFound, "not_found")
		s.expect(s.upload(key, video, "audio", mediatest.Landscape1080p(t)), http.StatusNotFound, "not_found")
	})

	t.Run("the_running_render_is_cancelled_and_its_ffmpeg_stops", func(t *testing.T) {
		testenv.Eventually(t, 10*time.Second, "ffmpeg to stop", func() bool { return len(ffmpegOf(running)) == 0 })
		types := s.with(t).renderEventTypes(running)
		if n := len(types); n < 2 || types[n-2] != "render.cancelled" || types[n-1] != "render.deleted" {
			t.Errorf("history of the running render: %v", types)
		}
	})

	t.Run("every_blob_is_removed_from_the_store", func(t *testing.T) {
		s := s.with(t)
		testenv.Eventually(t, 30*time.Second, "the queue of blob removals to drain", func() bool {
			var n int
			if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM blob_removals`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 0
		})
		for _, id := range []string{done, running} {
			if left := s.outputFiles(id); len(left) > 0 {
				t.Errorf("render %s left %v", id, left)
			}
		}
		if left := s.assetFiles(video); len(left) > 0 {
			t.Errorf("the asset left %v", left)
		}
		resp, err := http.Get(oldDownload) //nolint:noctx // a test
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("a download URL handed out before the deletion still serves the output")
		}
	})

	t.Run("the_log_keeps_ids_and_no_name", func(t *testing.T) {
		s := s.with(t)
		var name string
		if err := s.pool.QueryRow(t.Context(), `SELECT data->>'name' FROM events WHERE stream_id = $1 AND event_type = 'asset.created.v1'`,
			video).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != "" {
			t.Errorf("asset.created still names the asset %q", name)
		}
		var types []string
		rows, err := s.pool.Query(t.Context(), `SELECT event_type FROM events WHERE stream_id = ANY($1) AND event_type LIKE '%.deleted.v1' ORDER BY event_type, stream_id`,
			[]string{video, cutID, done, running})
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var typ string
			_ = rows.Scan(&typ)
			types = append(types, typ)
		}
		rows.Close()
		if want := []string{"asset.deleted.v1", "cut.deleted.v1", "render.deleted.v1", "render.deleted.v1"}; !slices.Equal(types, want) {
			t.Errorf("deletion events %v, want %v", types, want)
		}
	})

	t.Run("deleting_again_answers_the_same", func(t *testing.T) {
		s := s.with(t)
		s.expect(s.do(key, "DELETE", "/v1/assets/"+video, nil), http.StatusAccepted, "")
		s.expect(s.do(other, "DELETE", "/v1/assets/"+video, nil), http.StatusNotFound, "not_found")
	})
}

func TestRetention_an_expired_output_goes_and_the_same_request_renders_again(t *testing.T) {
	s := startService(t, "RENDERD_OUTPUT_RETENTION=1s", "RENDERD_ERASURE_INTERVAL=200ms")
	key := s.account(60)
	audio := s.readyAsset(key, "audio", mediatest.AudioM4A(t))
	body := render(audio, map[string]any{"format": "mp3"})
	first := s.do(key, "POST", "/v1/renders", body)
	s.expect(first, http.StatusCreated, "")
	id := first.str("id")
	s.waitRender(key, id, "completed", encodeTimeout)

	var expired response
	testenv.Eventually(t, 30*time.Second, "the output to expire", func() bool {
		expired = s.do(key, "GET", "/v1/renders/"+id, nil)
		return expired.str("output_expired") == "true"
	})
	if expired.str("state") != "completed" || expired.str("download_url") != "<nil>" || expired.str("size_bytes") == "<nil>" {
		t.Errorf("expired render: %s", expired.raw)
	}
	testenv.Eventually(t, 30*time.Second, "the output to leave the store", func() bool { return len(s.outputFiles(id)) == 0 })
	if types := s.renderEventTypes(id); types[len(types)-1] != "render.output_expired" {
		t.Errorf("history %v", types)
	}

	again := s.do(key, "POST", "/v1/renders", body)
	s.expect(again, http.StatusCreated, "")
	if again.str("id") == id || again.str("replaces") != id {
		t.Fatalf("the request after expiry: %s", again.raw)
	}
	s.waitRender(key, again.str("id"), "completed", encodeTimeout)
	if !slices.Contains(s.renderEventTypes(again.str("id")), "render.completed") {
		t.Error("the new render did not complete")
	}
}

// assetFiles lists what the asset's parts left in the blob store.
func (s *service) assetFiles(id string) []string {
	return s.dirNames(filepath.Join(s.blobDir(), "assets", id))
}
