package postgres_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// queueJobs queues jobs, one transaction each, in the order given.
func queueJobs(t *testing.T, pool *pgxpool.Pool, jobs ...commands.MediaJob) {
	t.Helper()
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	for _, j := range jobs {
		err := store.Transact(t.Context(), []string{j.AssetID}, func(ctx context.Context, tx commands.Tx) error {
			return tx.QueueMediaJob(ctx, j)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func probeJob(asset, account string, queued time.Time) commands.MediaJob {
	return commands.MediaJob{JobID: commands.ProbeJobID(asset, domain.AssetPartSource), Kind: commands.MediaJobProbe,
		AccountID: account, AssetID: asset, Part: domain.AssetPartSource, State: commands.MediaJobPending, Since: queued}
}

func claim(t *testing.T, q *postgres.MediaJobs, worker string) (commands.MediaJob, bool) {
	t.Helper()
	j, ok, err := q.Claim(t.Context(), worker, time.Minute, false, true)
	if err != nil {
		t.Fatal(err)
	}
	return j, ok
}

// Claims take turns across accounts: the account with the fewest running
// jobs goes first, then the oldest job, so one account's burst of uploads
// does not queue another account's single one behind it.
func TestMediaJobs_claims_take_turns_across_accounts(t *testing.T) {
	pool := testenv.Postgres(t)
	q := postgres.NewMediaJobs(pool)
	base := time.Now().Add(-time.Hour)
	var jobs []commands.MediaJob
	for i := range 4 {
		jobs = append(jobs, probeJob(fmt.Sprint("ast_a", i), "acc_a", base.Add(time.Duration(i)*time.Second)))
	}
	jobs = append(jobs, probeJob("ast_b0", "acc_b", base.Add(time.Minute)), probeJob("ast_c0", "acc_c", base.Add(2*time.Minute)))
	queueJobs(t, pool, jobs...)

	var order []string
	for {
		j, ok := claim(t, q, "w1")
		if !ok {
			break
		}
		if j.State != commands.MediaJobRunning || j.WorkerID != "w1" || j.Attempts != 1 {
			t.Errorf("claimed %+v", j)
		}
		order = append(order, j.AssetID)
	}
	// a0 is the oldest; then B and C have none running against A's one;
	// then A's in order.
	if want := []string{"ast_a0", "ast_b0", "ast_c0", "ast_a1", "ast_a2", "ast_a3"}; !slices.Equal(order, want) {
		t.Errorf("claim order %v, want %v", order, want)
	}
}

// A worker that vanished stops renewing: once its lease has run out, the
// job is claimed again with one more attempt, and the vanished worker's
// claim can no longer renew, release or end it.
func TestMediaJobs_a_lost_lease_is_claimed_again_with_one_more_attempt(t *testing.T) {
	pool := testenv.Postgres(t)
	q := postgres.NewMediaJobs(pool)
	queueJobs(t, pool, probeJob("ast_lost", "acc_a", time.Now()))
	first, _ := claim(t, q, "w1")
	if _, ok := claim(t, q, "w2"); ok {
		t.Fatal("a job under a live lease was claimed twice")
	}
	if _, err := pool.Exec(t.Context(), `UPDATE media_jobs SET lease_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	second, ok := claim(t, q, "w2")
	if !ok || second.JobID != first.JobID || second.Attempts != 2 || second.WorkerID != "w2" {
		t.Fatalf("claim after the lost lease: %+v, %v", second, ok)
	}
	if held, err := q.Renew(t.Context(), first, time.Minute); err != nil || held {
		t.Errorf("the lost claim renewed: %v, %v", held, err)
	}
	if err := q.Release(t.Context(), first, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	jobs, _ := postgres.ListMediaJobs(t.Context(), pool)
	if len(jobs) != 1 || jobs[0].State != commands.MediaJobRunning || jobs[0].WorkerID != "w2" {
		t.Fatalf("the lost claim touched the job: %+v", jobs)
	}
	if held, err := q.Renew(t.Context(), second, time.Minute); err != nil || !held {
		t.Errorf("the live claim's renewal: %v, %v", held, err)
	}
}

// A claimer that has not seen the database answer for a whole lease does
// not take over a lease that ran out (it may have run out during an
// outage), and the worker whose lease it is renews it when it can: the job
// stays its claim, one attempt.
func TestMediaJobs_a_run_out_lease_is_taken_over_only_when_asked_and_renewed_until_then(t *testing.T) {
	pool := testenv.Postgres(t)
	q := postgres.NewMediaJobs(pool)
	queueJobs(t, pool, probeJob("ast_outage", "acc_a", time.Now()))
	first, _ := claim(t, q, "w1")
	if _, err := pool.Exec(t.Context(), `UPDATE media_jobs SET lease_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if j, ok, err := q.Claim(t.Context(), "w2", time.Minute, false, false); err != nil || ok {
		t.Fatalf("a claim without takeOver took the run-out lease: %+v, %v, %v", j, ok, err)
	}
	if held, err := q.Renew(t.Context(), first, time.Minute); err != nil || !held {
		t.Fatalf("renewing the run-out lease: %v, %v", held, err)
	}
	if j, ok := claim(t, q, "w2"); ok {
		t.Fatalf("a renewed lease was taken over: %+v", j)
	}
	jobs, _ := postgres.ListMediaJobs(t.Context(), pool)
	if len(jobs) != 1 || jobs[0].WorkerID != "w1" || jobs[0].Attempts != 1 {
		t.Fatalf("jobs %+v, want w1's claim with one attempt", jobs)
	}
}

// A hand-back does not count as an attempt and may hold the job back for a
// while; a parked job waits, its claim not counted either, until woken.
func TestMediaJobs_release_and_park_do_not_count_attempts(t *testing.T) {
	pool := testenv.Postgres(t)
	q := postgres.NewMediaJobs(pool)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	job := commands.MediaJob{JobID: commands.SilenceJobID("cut_p"), Kind: commands.MediaJobSilence, AccountID: "acc_a",
		AssetID: "ast_p", CutID: "cut_p", State: commands.MediaJobPending, Since: time.Now(), CorrelationID: "req_p"}
	queueJobs(t, pool, job)

	j, _ := claim(t, q, "w1")
	if err := q.Release(t.Context(), j, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(t, q, "w1"); ok {
		t.Fatal("a job held back for an hour was claimed")
	}
	if _, err := pool.Exec(t.Context(), `UPDATE media_jobs SET not_before = now()`); err != nil {
		t.Fatal(err)
	}
	j, ok := claim(t, q, "w1")
	if !ok || j.Attempts != 1 || j.CorrelationID != "req_p" || j.CutID != "cut_p" {
		t.Fatalf("claim after the hand-back: %+v, %v (want attempt 1 again)", j, ok)
	}
	err := store.Transact(t.Context(), []string{"ast_p"}, func(ctx context.Context, tx commands.Tx) error {
		return tx.ParkMediaJob(ctx, j.JobID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(t, q, "w1"); ok {
		t.Fatal("a parked job was claimed")
	}
	if err := q.Done(t.Context(), j); err != nil { // the worker ends its claim: the parked job stays
		t.Fatal(err)
	}
	err = store.Transact(t.Context(), []string{"ast_p"}, func(ctx context.Context, tx commands.Tx) error {
		return tx.WakeMediaJobs(ctx, "ast_p")
	})
	if err != nil {
		t.Fatal(err)
	}
	if j, ok := claim(t, q, "w1"); !ok || j.Attempts != 1 {
		t.Fatalf("claim after the wake: %+v, %v (want attempt 1 again)", j, ok)
	}
}

// Racing claimers (several workers' pools) never take one job twice, and
// between them take every job.
func TestMediaJobs_concurrent_claimers_never_take_one_job_twice(t *testing.T) {
	pool := testenv.Postgres(t)
	q := postgres.NewMediaJobs(pool)
	const jobs, claimers = 40, 8
	var queued []commands.MediaJob
	for i := range jobs {
		queued = append(queued, probeJob(fmt.Sprint("ast_race", i), fmt.Sprint("acc_", i%3), time.Now()))
	}
	queueJobs(t, pool, queued...)
	var (
		mu      sync.Mutex
		claimed = map[string]string{}
		wg      sync.WaitGroup
	)
	for c := range claimers {
		wg.Go(func() {
			worker := fmt.Sprint("w", c)
			for {
				j, ok, err := q.Claim(t.Context(), worker, time.Minute, false, true)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				if other, twice := claimed[j.JobID]; twice {
					t.Errorf("%s claimed by %s and %s", j.JobID, other, worker)
				}
				claimed[j.JobID] = worker
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(claimed), jobs)
	}
}

// The migration back-fills what the commands would have written: a probe
// job for each uploaded part not probed or refused of an asset that has not
// failed, a silence job for each automatic cut still processing (pending:
// the job parks itself if its asset is not cuttable yet), and the cut
// index's account, kind and state.
func TestMediaJobs_the_migration_back_fills_the_queue_and_the_cut_index_from_the_events(t *testing.T) {
	pool := testenv.Postgres(t)
	ctx := t.Context()
	acc, err := postgres.NewAccounts(pool).Create(ctx, "backfill", 600)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var n int
	d := commands.Deps{Store: postgres.NewEventStore(pool, eventschema.NewCodec(), nil), Now: func() time.Time { return now },
		NewID: func(p string) string { n++; return fmt.Sprintf("%s_%d_%s", p, n, acc.AccountID) }}
	blobs := fakeBlobs{"/b/good": {Duration: 3 * time.Second, HasAudio: true}}
	create, _ := commands.NewCreateAssetHandler(d)
	upload, _ := commands.NewUploadAssetPartHandler(d, commands.UploadLimits{})
	probe, _ := commands.NewProbeAssetHandler(d, blobs, blobs, domain.SourceLimits{})
	cut, _ := commands.NewRequestCutHandler(d, commands.CutLimits{})
	finish, _ := commands.NewCompleteCutHandler(d, blobs, blobs)
	c := commands.Caller{AccountID: acc.AccountID, CorrelationID: "req_backfill"}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	asset := func(blob string, probed bool) string {
		t.Helper()
		a, err := create.Handle(ctx, c, commands.CreateAsset{Kind: domain.AssetKindAudio})
		must(a, err)
		if blob != "" {
			must(upload.Handle(ctx, c, commands.UploadAssetPart{AssetID: a.StreamID, Part: domain.AssetPartSource, BlobKey: blob}))
		}
		if probed {
			must(probe.Handle(ctx, commands.Caller{}, commands.ProbeAsset{AssetID: a.StreamID, Part: domain.AssetPartSource}))
		}
		return a.StreamID
	}
	auto := &domain.SilenceRemoval{MinSilence: time.Second, ThresholdDB: -35}
	asset("good", false)                                                                                            // uploaded, not probed: a probe job
	ready := asset("good", true)                                                                                    // probed: none
	asset("broken", true)                                                                                           // failed: none
	waiting := asset("", false)                                                                                     // not uploaded yet
	must(cut.Handle(ctx, c, commands.RequestCut{AssetID: waiting, Auto: auto}))                                     // processing, waiting
	must(cut.Handle(ctx, c, commands.RequestCut{AssetID: waiting, Segments: []domain.Segment{{End: time.Second}}})) // processing
	must(cut.Handle(ctx, c, commands.RequestCut{AssetID: ready, Segments: []domain.Segment{{End: time.Second}}}))   // completed at once
	done, err := cut.Handle(ctx, c, commands.RequestCut{AssetID: ready, Auto: auto})
	must(done, err)
	must(finish.Handle(ctx, commands.Caller{}, commands.CompleteCut{CutID: done.StreamID, Detect: true})) // completed
	must(cut.Handle(ctx, c, commands.RequestCut{AssetID: ready, Auto: auto}))                             // pending

	snapshot := func() ([]commands.MediaJob, []string) {
		t.Helper()
		jobs, err := postgres.ListMediaJobs(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		for i := range jobs {
			jobs[i].Since = jobs[i].Since.UTC()
		}
		rows, err := pool.Query(ctx, `SELECT format('%s %s %s auto=%s processing=%s', asset_id, cut_id, account_id, auto, processing)
			FROM asset_cuts ORDER BY cut_id`)
		if err != nil {
			t.Fatal(err)
		}
		var cuts []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			cuts = append(cuts, s)
		}
		return jobs, cuts
	}
	jobs, cuts := snapshot()
	if len(jobs) != 3 || len(cuts) != 5 {
		t.Fatalf("the commands wrote %d jobs and %d cut rows, want 3 and 5: %+v %v", len(jobs), len(cuts), jobs, cuts)
	}
	for i := range jobs {
		jobs[i].State = commands.MediaJobPending // the back-fill leaves parking to the job
	}

	sql, err := os.ReadFile("migrations/00010_media_jobs.sql")
	if err != nil {
		t.Fatal(err)
	}
	up, down, ok := strings.Cut(string(sql), "-- +goose Down")
	if !ok {
		t.Fatal("no Down section")
	}
	for _, part := range []string{down, strings.TrimPrefix(up, "-- +goose Up")} {
		if _, err := pool.Exec(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	gotJobs, gotCuts := snapshot()
	if !reflect.DeepEqual(gotJobs, jobs) {
		t.Errorf("back-filled jobs\n%+v\nwant\n%+v", gotJobs, jobs)
	}
	if !slices.Equal(gotCuts, cuts) {
		t.Errorf("back-filled cut index\n%v\nwant\n%v", gotCuts, cuts)
	}
}

// fakeBlobs probes and detects by path: a known path is media, any other
// is unreadable.
type fakeBlobs map[string]domain.MediaInfo

func (b fakeBlobs) Fetch(_ context.Context, key string) (string, func(), error) {
	return "/b/" + key, func() {}, nil
}
func (b fakeBlobs) Delete(context.Context, string) error { return nil }

func (b fakeBlobs) Probe(_ context.Context, path string) (domain.MediaInfo, error) {
	if m, ok := b[path]; ok {
		return m, nil
	}
	return domain.MediaInfo{}, unreadable{}
}

func (b fakeBlobs) DetectSilences(_ context.Context, path string, _ domain.SilenceRemoval) ([]domain.Segment, time.Duration, error) {
	return []domain.Segment{{End: time.Second}}, b[path].Duration, nil
}

type unreadable struct{}

func (unreadable) Error() string          { return "source_unreadable" }
func (unreadable) FailureCode() string    { return "source_unreadable" }
func (unreadable) FailureMessage() string { return "not media" }

// A worker whose other slots detect silences claims only probes: an older
// detection waits, the probe behind it does not.
func TestMediaJobs_a_probes_only_claim_passes_over_detections(t *testing.T) {
	pool := testenv.Postgres(t)
	q := postgres.NewMediaJobs(pool)
	base := time.Now().Add(-time.Hour)
	detection := commands.MediaJob{JobID: commands.SilenceJobID("cut_1"), Kind: commands.MediaJobSilence, AccountID: "acc_a",
		AssetID: "ast_1", CutID: "cut_1", State: commands.MediaJobPending, Since: base}
	queueJobs(t, pool, detection, probeJob("ast_2", "acc_a", base.Add(time.Minute)))
	j, ok, err := q.Claim(t.Context(), "w1", time.Minute, true, true)
	if err != nil || !ok || j.Kind != commands.MediaJobProbe {
		t.Fatalf("probes only: %+v %v %v", j, ok, err)
	}
	if _, ok, _ := q.Claim(t.Context(), "w1", time.Minute, true, true); ok {
		t.Error("a probes-only claim took the detection")
	}
	if j, ok := claim(t, q, "w1"); !ok || j.Kind != commands.MediaJobSilence {
		t.Errorf("an ordinary claim: %+v %v", j, ok)
	}
}
