package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/ports/consumers"
)

// The render pipeline end to end: real uploads, real ffmpeg, the real
// encoder role, checked through the HTTP port and the event store.

// encodeTimeout bounds a short fixture's whole render on a shared 2-core
// machine, with room to spare; speed is `make bench`'s business.
const encodeTimeout = 90 * time.Second

func TestEncoder_renders_each_format_and_serves_the_download(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_CONCURRENCY=2")
	key := s.account(60)
	video := s.readyAsset(key, "video", mediatest.Landscape1080p(t))
	prober := ffmpeg.NewProber("", 30*time.Second, ffmpeg.Limits{})
	cases := []struct {
		output       map[string]any
		video, audio string
		w, h         int
	}{
		{map[string]any{"format": "mp4", "resolution": "720p"}, "h264", "aac", 1280, 720},
		{map[string]any{"format": "mov"}, "h264", "aac", 1920, 1080},
		{map[string]any{"format": "m4a"}, "", "aac", 0, 0},
		{map[string]any{"format": "mp3", "audio_bitrate": 128}, "", "mp3", 0, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.output["format"]), func(t *testing.T) {
			s := s.with(t)
			id := s.do(key, "POST", "/v1/renders", render(video, c.output)).str("id")
			got := s.waitRender(key, id, "completed", encodeTimeout)
			if got.str("progress") != "100" || got.str("size_bytes") == "<nil>" || got.str("started_at") == "<nil>" {
				t.Errorf("completed render: %s", got.raw)
			}
			file := s.download(got.str("download_url"))
			info, err := prober.Probe(t.Context(), file)
			if err != nil {
				t.Fatal(err)
			}
			if info.VideoCodec != c.video || info.AudioCodec != c.audio || info.Width != c.w || info.Height != c.h {
				t.Errorf("output: video %q %dx%d, audio %q; want %q %dx%d, %q", info.VideoCodec, info.Width, info.Height, info.AudioCodec, c.video, c.w, c.h, c.audio)
			}
			if d := info.Duration - 2*time.Second; d < -100*time.Millisecond || d > 100*time.Millisecond {
				t.Errorf("output lasts %s, want 2s", info.Duration)
			}
			// requested, started, any progress, completed: nothing else.
			types := s.renderEventTypes(id)
			n := len(types)
			if n < 3 || types[0] != "render.requested" || types[1] != "render.started" || types[n-1] != "render.completed" {
				t.Fatalf("history %v", types)
			}
			for _, typ := range types[2 : n-1] {
				if typ != "render.progressed" {
					t.Errorf("history %v", types)
				}
			}
		})
	}
}

func TestEncoder_cancel_stops_ffmpeg_and_leaves_no_output(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_CONCURRENCY=1", bigUploads)
	key := s.account(60)
	video := s.readyAsset(key, "video", longVideo(t))
	id := s.do(key, "POST", "/v1/renders", render(video, encodeLong)).str("id")
	testenv.Eventually(t, encodeTimeout, "ffmpeg to run the render", func() bool { return len(ffmpegOf(id)) > 0 })
	for _, pid := range ffmpegOf(id) {
		checkConfined(t, pid)
	}

	s.expect(s.do(key, "DELETE", "/v1/renders/"+id, nil), http.StatusNoContent, "")
	cancelled := time.Now()
	testenv.Eventually(t, 10*time.Second, "ffmpeg to stop", func() bool { return len(ffmpegOf(id)) == 0 })
	t.Logf("DELETE → ffmpeg gone: %s (the 2 s target is make bench's)", time.Since(cancelled).Round(time.Millisecond))

	// Give a wrongly finishing attempt the time to show itself.
	time.Sleep(2 * time.Second)
	if got := s.do(key, "GET", "/v1/renders/"+id, nil); got.str("state") != "cancelled" {
		t.Errorf("state %s", got.str("state"))
	}
	for _, typ := range s.renderEventTypes(id) {
		if typ == "render.completed" || typ == "render.failed" {
			t.Errorf("a cancelled render recorded %s", typ)
		}
	}
	if left := s.outputFiles(id); len(left) > 0 {
		t.Errorf("output left behind: %v", left)
	}
}

func TestEncoder_a_long_render_does_not_delay_a_short_one(t *testing.T) {
	// One partition: both renders' messages queue on it.
	s := startService(t, "RENDERD_ENCODER_CONCURRENCY=2", "RENDERD_KAFKA_PARTITIONS=1", bigUploads)
	key := s.account(60)
	long := s.readyAsset(key, "video", longVideo(t))
	short := s.readyAsset(key, "audio", mediatest.AudioM4A(t))
	longID := s.do(key, "POST", "/v1/renders", render(long, encodeLong)).str("id")
	testenv.Eventually(t, encodeTimeout, "the long render to start", func() bool { return len(ffmpegOf(longID)) > 0 })
	shortID := s.do(key, "POST", "/v1/renders", render(short, map[string]any{"format": "mp3"})).str("id")
	s.waitRender(key, shortID, "completed", encodeTimeout)
	if got := s.do(key, "GET", "/v1/renders/"+longID, nil).str("state"); got != "running" {
		t.Errorf("the long render is %s when the short one completed; want it still running", got)
	}
	s.waitRender(key, longID, "completed", 3*encodeTimeout)
}

func TestEncoder_SIGKILL_mid_encode_another_encoder_finishes_the_render(t *testing.T) {
	// The service here only probes; the encoders are separate processes.
	s := startService(t, "RENDERD_ENCODER_RENDERS=false", bigUploads)
	key := s.account(60)
	video := s.readyAsset(key, "video", longVideo(t))
	env := s.encoderEnv("RENDERD_ENCODER_LEASE=3s")
	a := start(t, append(env, "RENDERD_WORKER_ID=encoder-a"), "serve", "--roles", "encoder")

	id := s.do(key, "POST", "/v1/renders", render(video, encodeLong)).str("id")
	testenv.Eventually(t, encodeTimeout, "encoder A's ffmpeg to run the render", func() bool { return len(ffmpegOf(id)) > 0 })
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "A's ffmpeg to die with it", func() bool { return len(ffmpegOf(id)) == 0 })

	start(t, append(env, "RENDERD_WORKER_ID=encoder-b"), "serve", "--roles", "encoder")
	s.waitRender(key, id, "completed", 3*encodeTimeout)
	hist := s.renderHistory(id)
	var completed, crashed int
	for _, e := range hist {
		switch {
		case e.Type == "render.completed":
			completed++
			if e.Data["attempt"] != float64(2) {
				t.Errorf("completed by attempt %v, want 2", e.Data["attempt"])
			}
		case e.Type == "render.retried" && e.Data["reason"] == "lease_expired":
			crashed++
		}
	}
	if completed != 1 || crashed != 1 {
		t.Errorf("%d render.completed and %d lost leases, want 1 and 1: %v", completed, crashed, hist)
	}
}

func TestEncoder_a_render_whose_message_was_taken_by_a_dead_encoder_is_still_encoded(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_RENDERS=false")
	key := s.account(60)
	audio := s.readyAsset(key, "audio", mediatest.AudioM4A(t))
	id := s.do(key, "POST", "/v1/renders", render(audio, map[string]any{"format": "mp3"})).str("id")

	// An encoder receives render.requested, acknowledges it and dies before
	// its claim: the encoders' group has consumed the message for good.
	s.consumeAsEncoder(id)
	start(t, s.encoderEnv("RENDERD_WORKER_ID=encoder-late", "RENDERD_ENCODER_POLL_INTERVAL=500ms"), "serve", "--roles", "encoder")
	s.waitRender(key, id, "completed", encodeTimeout)
}

// bigUploads lets longVideo in.
const bigUploads = "RENDERD_MAX_UPLOAD_BYTES=50000000"

// longVideo is a 1920×1080 source of 20 s whose 720p render takes a few
// seconds to encode, so a test can act while ffmpeg runs. It is made once
// per test binary (TestMain removes it): generating it costs seconds too.
func longVideo(t *testing.T) string {
	t.Helper()
	longVideoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "renderd-media-")
		if err != nil {
			t.Fatal(err)
		}
		longVideoDir = dir
		src := mediatest.Generate(t, "long_1080p_20s.mp4",
			"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=20",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=20",
			"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "4M",
			"-c:a", "aac", "-b:a", "128k", "-ac", "2")
		longVideoPath = filepath.Join(dir, filepath.Base(src))
		if err := os.Rename(src, longVideoPath); err != nil {
			t.Fatal(err)
		}
	})
	if longVideoPath == "" {
		t.Fatal("the long video could not be made (see the first test that asked)")
	}
	return longVideoPath
}

var (
	longVideoOnce sync.Once
	longVideoDir  string
	longVideoPath string
)

// encodeLong is an output of longVideo that re-encodes (a remux would be
// over in a blink).
var encodeLong = map[string]any{"format": "mp4", "resolution": "720p"}

// waitRender polls the render until it reaches state, failing on another
// final state.
func (s *service) waitRender(key, id, state string, within time.Duration) response {
	s.t.Helper()
	var last response
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		last = s.do(key, "GET", "/v1/renders/"+id, nil)
		switch got := last.str("state"); {
		case got == state:
			return last
		case got == "completed" || got == "failed" || got == "cancelled":
			s.t.Fatalf("render %s is %s, want %s: %s", id, got, state, last.raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("render %s not %s within %s: %s", id, state, within, last.raw)
	return last
}

// download fetches a download URL into a temp file.
func (s *service) download(url string) string {
	s.t.Helper()
	resp, err := http.Get(url) //nolint:noctx // a test
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s → %d", url, resp.StatusCode)
	}
	f, err := os.CreateTemp(s.t.TempDir(), "download-*")
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		s.t.Fatal(err)
	}
	return f.Name()
}

type historyEntry struct {
	Type string
	Data map[string]any
}

// renderHistory reads the render's events straight from the event store,
// worker-side fields included.
func (s *service) renderHistory(id string) []historyEntry {
	s.t.Helper()
	rows, err := s.pool.Query(s.t.Context(), `SELECT event_type, data FROM events WHERE stream_id = $1 ORDER BY stream_version`, id)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []historyEntry
	for rows.Next() {
		var typ string
		var data []byte
		if err := rows.Scan(&typ, &data); err != nil {
			s.t.Fatal(err)
		}
		e := historyEntry{Type: strings.TrimSuffix(typ, ".v1")}
		_ = json.Unmarshal(data, &e.Data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *service) renderEventTypes(id string) []string {
	var types []string
	for _, e := range s.renderHistory(id) {
		types = append(types, e.Type)
	}
	return types
}

// outputFiles lists what the render left in the blob store, temporary
// files included.
func (s *service) outputFiles(id string) []string {
	return s.dirNames(filepath.Join(s.blobDir(), "renders", id))
}

// dirNames lists a folder's entries by name; none when it does not exist.
func (s *service) dirNames(dir string) []string {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// encoderEnv is the environment of a `renderd serve --roles encoder`
// process working for this service.
func (s *service) encoderEnv(extra ...string) []string {
	var env []string
	for _, k := range []string{"DATABASE_URL", "KAFKA_BROKERS", "RENDERD_KAFKA_TOPIC_PREFIX", "RENDERD_KAFKA_GROUP_PREFIX",
		"RENDERD_KAFKA_PARTITIONS", "RENDERD_BLOB_URL", "RENDERD_SCRATCH_DIR", "RENDERD_SECRETS_KEY"} {
		env = append(env, k+"="+s.env[k])
	}
	return append(append(env, "RENDERD_LOG_LEVEL=info", "RENDERD_ENCODER_CONCURRENCY=1"), extra...)
}

// consumeAsEncoder consumes the render topic in the encoders' consumer
// group up to the render's render.requested and commits, as an encoder that
// died right after acknowledging it would have.
func (s *service) consumeAsEncoder(renderID string) {
	s.t.Helper()
	cfg := kafka.ConsumerConfig("test-dead-encoder")
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	group, err := sarama.NewConsumerGroup(strings.Split(s.env["KAFKA_BROKERS"], ","), s.env["RENDERD_KAFKA_GROUP_PREFIX"]+consumers.RendersEncoderGroup, cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	defer group.Close()
	ctx, cancel := context.WithTimeout(s.t.Context(), 60*time.Second)
	defer cancel()
	h := &takeUntil{key: renderID, done: cancel}
	topic := kafka.Topics{Prefix: s.env["RENDERD_KAFKA_TOPIC_PREFIX"]}.For(domain.AggregateRender)
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
			s.t.Fatal(err)
		}
	}
	if !h.found {
		s.t.Fatalf("render.requested of %s not consumed within 60 s", renderID)
	}
}

// takeUntil marks and commits every message up to the one keyed key.
type takeUntil struct {
	key   string
	found bool
	done  context.CancelFunc
}

func (h *takeUntil) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *takeUntil) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *takeUntil) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		sess.MarkMessage(m, "")
		if string(m.Key) == h.key {
			sess.Commit()
			h.found = true
			h.done()
			return nil
		}
	}
	return nil
}

// ffmpegOf returns the pids of ffmpeg processes writing the render's output.
func ffmpegOf(renderID string) []int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if args := strings.Split(string(b), "\x00"); filepath.Base(args[0]) != "ffmpeg" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		// The media sandbox hands ffmpeg its output as a descriptor
		// (/proc/self/fd/N): the render's path is in its fd table then.
		if !strings.Contains(string(b), "renders/"+renderID+"/") && !opens(pid, "renders/"+renderID+"/") {
			continue
		}
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// checkConfined checks the service's ffmpeg runs in the media sandbox's
// layers that this machine allows (docs/renders.md, "The media sandbox"): another network
// namespace, and the unprivileged user when the service is root.
func checkConfined(t *testing.T, pid int) {
	t.Helper()
	self, _ := os.Readlink("/proc/self/ns/net")
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err == nil && theirs == self {
		t.Errorf("ffmpeg %d shares renderd's network namespace %s", pid, self)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return // it ended meanwhile
	}
	for _, line := range strings.Split(string(status), "\n") {
		if uids, ok := strings.CutPrefix(line, "Uid:"); ok && os.Geteuid() == 0 && strings.Fields(uids)[0] == "0" {
			t.Errorf("ffmpeg %d runs as root: %s", pid, line)
		}
		if groups, ok := strings.CutPrefix(line, "Groups:"); ok && os.Geteuid() == 0 && strings.TrimSpace(groups) != "" {
			t.Errorf("ffmpeg %d keeps supplementary groups: %s", pid, line)
		}
	}
}

// opens reports whether one of pid's descriptors is a file whose path
// holds part.
func opens(pid int, part string) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.Contains(target, part) {
			return true
		}
	}
	return false
}

// zombie reports a process that exited and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// A cut at the documented maximum of segments renders: its filter graph
// (about 160 KB for video and audio) is past the kernel's 128 KiB limit on
// one argument, so it reaches ffmpeg through a file. The source is cheap to
// cut 1000 ways: 100 s of 1 fps video and one-second PCM packets, since the
// graph's cost grows with frames × segments.
func TestEncoder_a_cut_of_1000_segments_renders(t *testing.T) {
	s := startService(t, "RENDERD_MAX_JSON_BYTES=200000")
	key := s.account(60)
	src := mediatest.Generate(t, "thousand.mkv",
		"-f", "lavfi", "-i", "testsrc2=size=64x36:rate=1:duration=100",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:samples_per_frame=8000:duration=100",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-ac", "1")
	video := s.readyAsset(key, "video", src)
	segments := make([]map[string]float64, domain.MaxSegments)
	for i := range segments {
		segments[i] = map[string]float64{"start": float64(i) / 10, "end": float64(i+1) / 10}
	}
	cut := s.do(key, "POST", "/v1/assets/"+video+"/cuts", map[string]any{"segments": segments})
	s.expect(cut, http.StatusCreated, "")
	testenv.Eventually(t, 30*time.Second, "the cut to complete", func() bool {
		return s.do(key, "GET", "/v1/cuts/"+cut.str("id"), nil).str("state") == "completed"
	})
	id := s.do(key, "POST", "/v1/renders", map[string]any{"asset_id": video, "cut_id": cut.str("id"),
		"output": map[string]any{"format": "mp4"}}).str("id")
	got := s.waitRender(key, id, "completed", 5*time.Minute)
	info, err := ffmpeg.NewProber("", 30*time.Second, ffmpeg.Limits{}).Probe(t.Context(), s.download(got.str("download_url")))
	if err != nil {
		t.Fatal(err)
	}
	if d := info.Duration - 100*time.Second; d < -time.Second || d > time.Second || !info.HasVideo || !info.HasAudio {
		t.Errorf("output: %+v, want 100 s of video and audio", info)
	}
}
