package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/postgres/readmodel"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/projections"
)

// The auditors' and analysts' commands on a real service's store and topics.

func TestAudit_history_verify_and_tail(t *testing.T) {
	debug := freeAddr(t)
	s := startService(t, "RENDERD_ENCODER_RENDERS=false", "RENDERD_DEBUG_ADDR="+debug)
	key := s.account(60)
	asset := s.readyAsset(key, "audio", mediatest.AudioM4A(t))
	id := s.do(key, "POST", "/v1/renders", render(asset, map[string]any{"format": "mp3"})).str("id")
	s.crashThenComplete(id)
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(t.Context(), args, func(k string) string { return s.env[k] }, &out, testWriter{t})
		return out.String(), err
	}

	t.Run("the_debug_address_serves_pprof_and_the_api_does_not", func(t *testing.T) {
		res, err := http.Get("http://" + debug + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET /debug/pprof/ on the debug address: %d", res.StatusCode)
		}
		if got := s.do("", "GET", "/debug/pprof/", nil); got.status != http.StatusNotFound {
			t.Errorf("the API port answers /debug/pprof/ with %d", got.status)
		}
	})
	t.Run("history_shows_a_lost_lease_and_the_completion", func(t *testing.T) {
		out, err := cli("history", id)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("renderd history %s:\n%s", id, out)
		var types []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			types = append(types, strings.Fields(line)[2])
		}
		want := "render.requested render.started render.retried render.started render.completed"
		if strings.Join(types, " ") != want {
			t.Errorf("history types %v, want %s\n%s", types, want, out)
		}
		if !strings.Contains(out, "reason=lease_expired") || !strings.Contains(out, "worker_id=crashed") {
			t.Errorf("the key data misses the retry's reason or the worker:\n%s", out)
		}
	})
	t.Run("history_as_json_lines_by_asset", func(t *testing.T) {
		out, err := cli("history", "--asset", asset, "--json")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 5 {
			t.Fatalf("%d lines:\n%s", len(lines), out)
		}
		var last auditEvent
		if err := json.Unmarshal([]byte(lines[4]), &last); err != nil || last.Type != "render.completed" || last.Version != 5 || last.StreamID != id {
			t.Errorf("last line %s (%v)", lines[4], err)
		}
	})
	t.Run("history_of_an_unknown_render_fails", func(t *testing.T) {
		if _, err := cli("history", "rnd_nope"); err == nil {
			t.Error("no error")
		}
		if _, err := cli("history"); !errors.Is(err, errUsage) {
			t.Errorf("err = %v, want a usage error", err)
		}
	})
	t.Run("tail_filters_by_type", func(t *testing.T) {
		out, err := cli("events", "tail", "--type", "render.*", "--from-beginning", "--limit", "5")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 5 {
			t.Fatalf("%d lines:\n%s", len(lines), out)
		}
		for _, l := range lines {
			var e tailLine
			if err := json.Unmarshal([]byte(l), &e); err != nil || !strings.HasPrefix(e.Type, "render.") || e.Key != id || len(e.Data) == 0 {
				t.Errorf("line %s (%v)", l, err)
			}
		}
		out, err = cli("events", "tail", "--type", "asset.ready", "--from-beginning", "--limit", "1")
		if err != nil || !strings.Contains(out, `"type":"asset.ready.v1"`) {
			t.Errorf("asset.ready: %v\n%s", err, out)
		}
	})
	t.Run("verify_passes_on_a_sound_log_and_reports_a_corrupted_one", func(t *testing.T) {
		testenv.Eventually(t, 30*time.Second, "the relay to publish everything", func() bool {
			out, err := cli("verify")
			return err == nil && strings.Contains(out, "no violations")
		})
		// Corrupt the log by hand: an event after the terminal one, and a
		// version gap in another stream.
		_, err := s.pool.Exec(t.Context(), `INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, account_id, occurred_at, data)
			SELECT gen_random_uuid(), stream_id, stream_type, 7, 'render.progressed.v1', account_id, now(), '{"attempt":2,"percent":50}'
			FROM events WHERE stream_id = $1 AND stream_version = 1`, id)
		if err != nil {
			t.Fatal(err)
		}
		out, err := cli("verify")
		if !errors.Is(err, errVerify) {
			t.Fatalf("verify of a corrupted log: %v\n%s", err, out)
		}
		for _, rule := range []string{"contiguous_versions", "nothing_after_a_terminal_event"} {
			if !strings.Contains(out, rule) || !strings.Contains(out, id) {
				t.Errorf("the report misses %s for %s:\n%s", rule, id, out)
			}
		}
	})
}

// crashThenComplete plays two encoders: the first claims the render and
// vanishes (its lease is reaped), the second completes it.
func (s *service) crashThenComplete(id string) {
	s.t.Helper()
	ctx := context.Background()
	d := writeDeps(s.pool, nil)
	start, _ := commands.NewStartRenderHandler(d, 0)
	lose, _ := commands.NewLoseRenderLeaseHandler(d)
	complete, _ := commands.NewCompleteRenderHandler(d)
	if _, _, err := start.Handle(ctx, commands.Caller{}, commands.StartRender{RenderID: id, WorkerID: "crashed", LeaseUntil: time.Now().Add(-time.Second)}); err != nil {
		s.t.Fatal(err)
	}
	if _, _, err := lose.Handle(ctx, commands.Caller{}, commands.LoseRenderLease{RenderID: id, Attempt: 1}); err != nil {
		s.t.Fatal(err)
	}
	attempt, _, err := start.Handle(ctx, commands.Caller{}, commands.StartRender{RenderID: id, WorkerID: "healthy", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		s.t.Fatal(err)
	}
	_, err = complete.Handle(ctx, commands.Caller{}, commands.CompleteRender{RenderID: id, Result: domain.RenderCompleted{
		Attempt: attempt, BlobKey: "renders/" + id + "/attempt-2.mp3", SizeBytes: 3, Duration: 2 * time.Second}})
	if err != nil {
		s.t.Fatal(err)
	}
	_ = postgres.NotifyCommitted(ctx, s.pool)
}

func TestReplay_rebuilds_read_models_equal_to_the_live_ones_twice_and_swap_repairs_a_broken_row(t *testing.T) {
	s := startService(t, "RENDERD_ENCODER_RENDERS=false")
	key := s.account(60)
	asset := s.readyAsset(key, "audio", mediatest.AudioM4A(t))
	s.do(key, "POST", "/v1/assets/"+asset+"/cuts", map[string]any{"segments": []map[string]float64{{"start": 0.2, "end": 1.5}}})
	done := s.do(key, "POST", "/v1/renders", render(asset, map[string]any{"format": "mp3"})).str("id")
	s.crashThenComplete(done)
	cancelled := s.do(key, "POST", "/v1/renders", render(asset, map[string]any{"format": "m4a"})).str("id")
	s.expect(s.do(key, "DELETE", "/v1/renders/"+cancelled, nil), 204, "")
	testenv.Eventually(t, 30*time.Second, "the read models to show the last write", func() bool {
		return s.do(key, "GET", "/v1/renders/"+done, nil).str("state") == "completed"
	})
	var live int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM rm_renders`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		var out, progress bytes.Buffer
		if err := run_(t, s, &out, &progress, "replay"); err != nil {
			t.Fatalf("replay %d: %v\n%s", run+1, err, out.String())
		}
		for _, table := range readmodel.ReplayTables {
			if !regexp.MustCompile(`(?m)^` + table + ` +0 rows differ`).MatchString(out.String()) {
				t.Errorf("replay %d: %s differs:\n%s", run+1, table, out.String())
			}
		}
		t.Logf("replay %d:\n%s%s", run+1, progress.String(), out.String())
		if !strings.Contains(progress.String(), "replay: ") {
			t.Errorf("no progress lines on a non-terminal: %q", progress.String())
		}
	}
	// A live row gone wrong (as a projection bug would leave it) shows as a
	// difference, and --swap puts the replayed row in its place.
	if _, err := s.pool.Exec(t.Context(), `UPDATE rm_renders SET progress = 42, state = 'running' WHERE id = $1`, done); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run_(t, s, &out, &errOut, "replay", "--swap"); err != nil {
		t.Fatalf("replay --swap: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`(?m)^rm_renders +1 rows differ`).MatchString(out.String()) || !strings.Contains(out.String(), done) ||
		!strings.Contains(out.String(), "swapped") {
		t.Errorf("replay --swap:\n%s", out.String())
	}
	if got := s.do(key, "GET", "/v1/renders/"+done, nil); got.str("state") != "completed" || got.str("progress") != "100" {
		t.Errorf("after the swap: %s", got.raw)
	}

	t.Run("swap_keeps_what_was_written_during_the_replay", func(t *testing.T) {
		ctx := t.Context()
		rpool, err := readmodel.PrepareReplay(ctx, s.pool, replaySchema)
		if err != nil {
			t.Fatal(err)
		}
		defer rpool.Close()
		codec, log := eventschema.NewCodec(), testenv.Logger(t)
		res, err := readmodel.ReplayAll(ctx, rpool, codec, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Written after the replay's snapshot: caught up by position.
		during := s.do(key, "POST", "/v1/renders", render(asset, map[string]any{"format": "mp3", "audio_bitrate": 128}))
		s.expect(during, 201, "")
		store := postgres.NewEventStore(s.pool, codec, nil)
		replayed := readmodel.NewStore(rpool)
		projectors := []readmodel.Replayer{projections.NewAssetProjector(replayed, store, log),
			projections.NewCutProjector(replayed, store, log), projections.NewRenderProjector(replayed, store, log)}
		cp, n, err := readmodel.CatchUp(ctx, rpool, codec, log, res.Checkpoint, projectors...)
		if err != nil || n < 1 {
			t.Fatalf("catch up: %d events, %v", n, err)
		}
		// Written after the catch-up, and applied live before the swap
		// (the DELETE returns once the live row shows it): the swap's last
		// step must carry it, or the live row would go back to pending.
		s.expect(s.do(key, "DELETE", "/v1/renders/"+during.str("id"), nil), 204, "")
		streams, err := readmodel.Swap(ctx, rpool, codec, log, replaySchema, cp, projectors...)
		if err != nil || streams != 1 {
			t.Fatalf("swap: %d streams caught up, %v; want 1", streams, err)
		}
		if got := s.do(key, "GET", "/v1/renders/"+during.str("id"), nil); got.str("state") != "cancelled" {
			t.Errorf("a render cancelled during the replay, after the swap: %s", got.raw)
		}
		for _, table := range readmodel.ReplayTables {
			if ids, n, err := readmodel.Differences(ctx, s.pool, replaySchema, table, 5); err != nil || n != 0 {
				t.Errorf("%s after the swap: %d rows differ from the replay (%v), %v", table, n, ids, err)
			}
		}
		// The live projectors carry on on the swapped tables.
		more := s.do(key, "POST", "/v1/renders", render(asset, map[string]any{"format": "m4a", "audio_bitrate": 128}))
		s.expect(more, 201, "")
		if got := s.do(key, "GET", "/v1/renders/"+more.str("id"), nil); got.status != 200 || got.str("state") != "pending" {
			t.Errorf("a render made after the swap: %d %s", got.status, got.raw)
		}
		var rows int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM rm_renders`).Scan(&rows); err != nil || rows != live+2 {
			t.Errorf("%d live renders, want %d (%v)", rows, live+2, err)
		}
	})
}

// run_ runs a renderd command against the service with its output in out
// and its stderr in errOut.
func run_(t *testing.T, s *service, out, errOut *bytes.Buffer, args ...string) error {
	return run(t.Context(), args, func(k string) string { return s.env[k] }, out, errOut)
}
