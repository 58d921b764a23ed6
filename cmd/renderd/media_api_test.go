package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
)

// The media worker's pool and the limits on cuts, end to end: real uploads,
// real ffprobe and silencedetect, the encoder role with only its media
// worker, checked through the HTTP port and the media queue.

func TestMedia_jobs_and_cut_limits(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_RENDERS=false", "RENDERD_MEDIA_CONCURRENCY=2", "RENDERD_ENCODER_POLL_INTERVAL=500ms",
		"RENDERD_ASSET_MAX_CUTS_IN_FLIGHT=2", "RENDERD_ACCOUNT_MAX_AUTO_CUTS=1", bigUploads)

	t.Run("one_accounts_long_silence_detection_does_not_hold_up_another_accounts_probe", func(t *testing.T) {
		s := s.with(t)
		slow, quick := s.account(150), s.account(10)
		long := s.readyAsset(slow, "audio", longAudio(t))
		cut := s.do(slow, http.MethodPost, "/v1/assets/"+long+"/cuts", autoCut)
		s.expect(cut, http.StatusCreated, "")
		testenv.Eventually(t, 60*time.Second, "the long silence detection to run", func() bool { return len(silencedetectOf(long)) > 0 })

		other := s.newAsset(quick, "audio")
		s.expect(s.upload(quick, other, "source", mediatest.AudioM4A(t)), http.StatusAccepted, "")
		s.waitAsset(quick, other, "the other account's asset to be probed and ready", state("ready"))
		if got := s.do(slow, http.MethodGet, "/v1/cuts/"+cut.str("id"), nil).str("state"); got != "processing" {
			t.Errorf("the long detection's cut is %s when the other account's probe finished; want it still processing", got)
		}
		testenv.Eventually(t, 3*time.Minute, "the long detection's cut to complete", func() bool {
			return s.do(slow, http.MethodGet, "/v1/cuts/"+cut.str("id"), nil).str("state") == "completed"
		})
		if n := s.mediaJobs(""); n != 0 {
			t.Errorf("%d media jobs left after every probe and detection", n)
		}
	})

	t.Run("cuts_in_flight_of_one_asset_are_limited_until_one_completes", func(t *testing.T) {
		s := s.with(t)
		key := s.account(10)
		id := s.newAsset(key, "audio")
		explicit := map[string]any{"segments": []map[string]float64{{"start": 0, "end": 1}}}
		for range 2 {
			s.expect(s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", explicit), http.StatusCreated, "")
		}
		refused := s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", explicit)
		s.expectLimit(refused, "cuts_in_flight", 2, 30)

		s.expect(s.upload(key, id, "source", mediatest.WithSilences(t)), http.StatusAccepted, "")
		s.waitAsset(key, id, "ready", state("ready"))
		testenv.Eventually(t, 30*time.Second, "the early cuts to complete", func() bool {
			list := s.do(key, http.MethodGet, "/v1/assets/"+id+"/cuts", nil)
			data, _ := dig(list.body, "data").([]any)
			done := 0
			for _, c := range data {
				if fmt.Sprint(dig(c, "state")) == "completed" {
					done++
				}
			}
			return done == 2
		})
		auto := s.do(key, http.MethodPost, "/v1/assets/"+id+"/cuts", autoCut)
		s.expect(auto, http.StatusCreated, "")
		testenv.Eventually(t, 30*time.Second, "the automatic cut to complete through the pool", func() bool {
			return s.do(key, http.MethodGet, "/v1/cuts/"+auto.str("id"), nil).str("state") == "completed"
		})
	})

	t.Run("automatic_cuts_in_flight_are_limited_per_account_and_other_accounts_are_unaffected", func(t *testing.T) {
		s := s.with(t)
		key, other := s.account(10), s.account(10)
		first, second := s.newAsset(key, "audio"), s.newAsset(key, "audio")
		waiting := s.do(key, http.MethodPost, "/v1/assets/"+first+"/cuts", autoCut)
		s.expect(waiting, http.StatusCreated, "")
		s.expectLimit(s.do(key, http.MethodPost, "/v1/assets/"+second+"/cuts", autoCut), "auto_cuts_in_flight", 1, 10)
		explicit := map[string]any{"segments": []map[string]float64{{"start": 0, "end": 1}}}
		s.expect(s.do(key, http.MethodPost, "/v1/assets/"+second+"/cuts", explicit), http.StatusCreated, "")

		// The other account can neither cut this account's asset nor
		// touch its jobs; its own automatic cut is its own place.
		s.expect(s.do(other, http.MethodPost, "/v1/assets/"+first+"/cuts", autoCut), http.StatusNotFound, "not_found")
		theirs := s.newAsset(other, "audio")
		cut := s.do(other, http.MethodPost, "/v1/assets/"+theirs+"/cuts", autoCut)
		s.expect(cut, http.StatusCreated, "")
		s.expect(s.upload(other, theirs, "source", mediatest.WithSilences(t)), http.StatusAccepted, "")
		testenv.Eventually(t, 30*time.Second, "the other account's automatic cut to complete", func() bool {
			return s.do(other, http.MethodGet, "/v1/cuts/"+cut.str("id"), nil).str("state") == "completed"
		})
		if n := s.mediaJobs(first); n != 1 {
			t.Errorf("this account's first asset has %d media jobs, want its waiting cut's", n)
		}
		var jobState string
		if err := s.pool.QueryRow(t.Context(), `SELECT state FROM media_jobs WHERE cut_id = $1`, waiting.str("id")).Scan(&jobState); err != nil || jobState != "waiting" {
			t.Errorf("the waiting cut's job is %q (%v), want waiting until its asset is uploaded and charged", jobState, err)
		}
	})
}

var autoCut = map[string]any{"auto": map[string]any{"remove_silence": map[string]float64{"min_silence": 0.5, "threshold_db": -35}}}

// expectLimit checks a 429 too_many_cuts and its limit headers.
func (s *service) expectLimit(r response, policy string, quota, retry int) {
	s.t.Helper()
	s.expect(r, http.StatusTooManyRequests, "too_many_cuts")
	wantPolicy := fmt.Sprintf(`"%s";q=%d`, policy, quota)
	wantLimit := fmt.Sprintf(`"%s";r=0;t=%d`, policy, retry)
	if got := r.header.Get("Retry-After"); got != strconv.Itoa(retry) {
		s.t.Errorf("Retry-After = %q, want %d", got, retry)
	}
	if got := r.header.Get("RateLimit-Policy"); got != wantPolicy {
		s.t.Errorf("RateLimit-Policy = %q, want %q", got, wantPolicy)
	}
	if got := r.header.Get("RateLimit"); got != wantLimit {
		s.t.Errorf("RateLimit = %q, want %q", got, wantLimit)
	}
}

// mediaJobs counts the media queue's jobs, of one asset or all.
func (s *service) mediaJobs(assetID string) int {
	s.t.Helper()
	var n int
	if err := s.pool.QueryRow(s.t.Context(), `SELECT count(*) FROM media_jobs WHERE $1 = '' OR asset_id = $1`, assetID).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// longAudio is a two-hour mono mp3 (16 kHz, 16 kb/s, a steady tone, about
// 14 MB) whose silence detection keeps ffmpeg busy for seconds while its
// probe takes a blink. It is one minute of audio repeated: mp3 frames
// stand alone, so the copies play as one file, and making it costs a
// second rather than two hours of encoding.
func longAudio(t *testing.T) string {
	t.Helper()
	minute := mediatest.Generate(t, "minute.mp3", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=60",
		"-ac", "1", "-c:a", "libmp3lame", "-b:a", "16k", "-write_xing", "0", "-id3v2_version", "0")
	b, err := os.ReadFile(minute)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "two_hours.mp3")
	if err := os.WriteFile(path, bytes.Repeat(b, 120), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// silencedetectOf lists the running ffmpeg processes that detect silences
// in a blob of the asset.
func silencedetectOf(assetID string) []int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "silencedetect") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		// A sandboxed ffmpeg reads the blob through a descriptor (see ffmpegOf).
		blob := "assets/" + assetID + "/"
		if !strings.Contains(string(b), blob) && !opens(pid, blob) {
			continue
		}
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
