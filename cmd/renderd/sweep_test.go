package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
	"github.com/renderd/renderd/eventschema"
)

func TestTempSweep_judges_each_role_s_own_files_by_name_and_age(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	output := encoders.OutputKey("rnd_1", 2, domain.FormatMP4)
	upload := "assets/ast_1/source-0190"
	both := tempSweep{outputs: unusedQueue{}, uploads: true, uploadIdle: 6 * time.Minute, minAge: 5 * time.Minute}
	encoder := both
	encoder.uploads = false
	api := both
	api.outputs = nil
	for name, c := range map[string]struct {
		sweep tempSweep
		key   string
		idle  time.Duration
		want  tempVerdict
	}{
		"an_output_past_the_minimum_age_is_up_to_the_queue":  {sweep: encoder, key: output, idle: 6 * time.Minute, want: askQueue},
		"an_output_younger_than_the_minimum_age_is_kept":     {sweep: encoder, key: output, idle: 4 * time.Minute, want: keepTemp},
		"an_api_process_leaves_outputs_to_the_encoders":      {sweep: api, key: output, idle: 48 * time.Hour, want: keepTemp},
		"an_upload_idle_past_its_longest_pause_is_removed":   {sweep: api, key: upload, idle: 7 * time.Minute, want: removeTemp},
		"an_upload_written_within_its_longest_pause_is_kept": {sweep: api, key: upload, idle: 5 * time.Minute, want: keepTemp},
		"an_encoder_leaves_uploads_to_the_api_processes":     {sweep: encoder, key: upload, idle: 48 * time.Hour, want: keepTemp},
		"an_unnamed_file_of_an_older_renderd_past_an_hour":   {sweep: encoder, idle: legacyTempAge + time.Second, want: removeTemp},
		"an_unnamed_file_within_an_hour_is_kept":             {sweep: api, idle: legacyTempAge - time.Second, want: keepTemp},
		"a_process_of_neither_role_sweeps_nothing":           {sweep: tempSweep{minAge: time.Minute}, idle: 48 * time.Hour, want: keepTemp},
	} {
		t.Run(name, func(t *testing.T) {
			if got := c.sweep.judge(blob.Temp{Key: c.key, ModTime: now.Add(-c.idle)}, now); got != c.want {
				t.Fatalf("judge = %v, want %v", got, c.want)
			}
		})
	}
}

// unusedQueue makes a tempSweep an encoder's for judge, which never asks
// the queue.
type unusedQueue struct{}

func (unusedQueue) Jobs(context.Context, []string) (map[string]commands.RenderJob, error) {
	return nil, errors.New("judge asked the render queue")
}

// aged creates a temporary file for key as its writer would (CreateTemp,
// with some bytes) and sets its last write age ago; it returns its path.
func aged(t *testing.T, blobs *blob.Local, key string, age time.Duration) string {
	t.Helper()
	p, err := blobs.CreateTemp(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("a partial write"), 0o640); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTempSweep_removes_only_the_files_of_writes_that_no_longer_run(t *testing.T) {
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	queue := func(id string, state domain.RenderState, attempt int, leaseUntil time.Time) {
		t.Helper()
		j := commands.RenderJob{RenderID: id, AccountID: "acc_1", State: state, Attempt: attempt, Since: time.Now()}
		if state == domain.RenderStateRunning {
			j.WorkerID, j.LeaseUntil = "encoder-1", leaseUntil
		}
		if err := store.Transact(t.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) error { return tx.SetRenderJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
	}
	queue("rnd_live", domain.RenderStateRunning, 2, time.Now().Add(time.Minute))
	queue("rnd_expired", domain.RenderStateRunning, 1, time.Now().Add(-time.Hour))
	queue("rnd_requeued", domain.RenderStatePending, 1, time.Time{})
	queue("rnd_moved_on", domain.RenderStateRunning, 3, time.Now().Add(time.Minute))
	// rnd_done has no row: it completed (by another attempt), failed or
	// was cancelled.

	dir := t.TempDir()
	blobs, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blobs.Close() })
	out := func(id string, attempt int) string { return encoders.OutputKey(id, attempt, domain.FormatMP4) }
	const old = time.Hour
	kept := []string{
		aged(t, blobs, out("rnd_live", 2), old),    // the running attempt, lease live
		aged(t, blobs, out("rnd_expired", 1), old), // running, lease expired: the reaper's to end
		aged(t, blobs, out("rnd_moved_on", 3), old),
		aged(t, blobs, out("rnd_done", 2), time.Minute), // younger than the minimum age
		aged(t, blobs, "assets/ast_1/audio-0190", 5*time.Minute),
	}
	gone := []string{
		aged(t, blobs, out("rnd_requeued", 1), old),
		aged(t, blobs, out("rnd_moved_on", 2), old),
		aged(t, blobs, out("rnd_done", 1), old),
		aged(t, blobs, "assets/ast_1/source-0190", 7*time.Minute),
	}
	// A file of an older renderd, whose name does not say whose it is.
	legacy := filepath.Join(dir, "renders", "rnd_live", ".tmp-0123456789abcdef")
	if err := os.WriteFile(legacy, []byte("a partial write"), 0o640); err != nil {
		t.Fatal(err)
	}
	if at := time.Now().Add(-2 * legacyTempAge); os.Chtimes(legacy, at, at) != nil {
		t.Fatal("age the legacy file")
	}
	gone = append(gone, legacy)

	// An upload being written: Put holds its temporary file open.
	writing, release := make(chan struct{}), make(chan struct{})
	put := make(chan error, 1)
	go func() {
		body := io.MultiReader(strings.NewReader("the first bytes"), blockingReader{writing, release})
		_, err := blobs.Put(context.Background(), "assets/ast_2/source-0191", body, 1<<20)
		put <- err
	}()
	<-writing

	sweep := tempSweep{store: blobs, outputs: postgres.NewRenderJobs(pool), uploads: true,
		uploadIdle: 6 * time.Minute, minAge: 5 * time.Minute, now: time.Now}
	// Two processes sweep at once: each file goes once, and neither fails.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var removed int
	var bytes int64
	for range 2 {
		wg.Go(func() {
			n, b, err := sweep.sweep(t.Context())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			removed, bytes = removed+n, bytes+b
		})
	}
	wg.Wait()
	if removed != len(gone) || bytes != int64(len(gone)*len("a partial write")) {
		t.Errorf("the sweeps removed %d files, %d bytes; want %d, %d", removed, bytes, len(gone), len(gone)*len("a partial write"))
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	for _, p := range gone {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left: %v", p, err)
		}
	}
	temps, err := blobs.Temps(t.Context())
	if err != nil || !slices.ContainsFunc(temps, func(tmp blob.Temp) bool { return tmp.Key == "assets/ast_2/source-0191" }) {
		t.Errorf("the upload in progress lost its file: %+v, %v", temps, err)
	}
	close(release)
	if err := <-put; err != nil {
		t.Errorf("the upload in progress failed: %v", err)
	}
	if n, _, err := sweep.sweep(t.Context()); n != 0 || err != nil {
		t.Errorf("a second sweep removed %d (%v), want nothing", n, err)
	}
}

// blockingReader reports its first read on reading, then blocks until
// release, then ends.
type blockingReader struct{ reading, release chan struct{} }

func (b blockingReader) Read([]byte) (int, error) {
	close(b.reading)
	<-b.release
	return 0, io.EOF
}

func TestTempSweep_reports_a_failed_queue_lookup_and_removes_no_output(t *testing.T) {
	pool := testenv.Postgres(t)
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blobs.Close() })
	orphan := aged(t, blobs, encoders.OutputKey("rnd_gone", 1, domain.FormatMP3), time.Hour)
	sweep := tempSweep{store: blobs, outputs: postgres.NewRenderJobs(pool), minAge: time.Minute, now: time.Now}
	pool.Close() // the database is away
	if n, _, err := sweep.sweep(t.Context()); n != 0 || err == nil {
		t.Fatalf("sweep = %d, %v; want nothing removed and the error", n, err)
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatalf("the output was removed without the queue's word: %v", err)
	}
}
