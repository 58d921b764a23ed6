package encoders_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
	"github.com/renderd/renderd/eventschema"
)

// Media workers on the real Postgres, reached through a testenv.FaultProxy
// that the tests cut: a database outage is never a media worker's crash,
// and a finished probe is recorded once the database is back, not run
// again (docs/renders.md, "Leases, outages and crashes"). ffprobe is the
// gated fake of media_test.go, so that the outage can fall while it runs.

const outageLease = 1500 * time.Millisecond

type mediaOutageRig struct {
	t      *testing.T
	direct *pgxpool.Pool // the test's own connection, never cut
	setup  commands.Deps
	proxy  *testenv.FaultProxy
	probe  *gatedProbe
}

func newMediaOutageRig(t *testing.T) *mediaOutageRig {
	dsn := testenv.NewDatabase(t)
	direct := pool(t, dsn)
	if err := postgres.Migrate(t.Context(), direct, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	proxy, via := testenv.ProxyPostgres(t, dsn)
	r := &mediaOutageRig{t: t, direct: direct, proxy: proxy,
		probe: &gatedProbe{release: make(chan struct{}), started: make(chan string, 100)}}
	r.setup = deps(direct)
	// Every worker reaches the database through the proxy.
	throughProxy := pool(t, via)
	workers := deps(throughProxy)
	probe, err := commands.NewProbeAssetHandler(workers, r.probe, fakeBlobs{}, domain.SourceLimits{})
	if err != nil {
		t.Fatal(err)
	}
	cuts, err := commands.NewCompleteCutHandler(workers, noSilences{}, fakeBlobs{})
	if err != nil {
		t.Fatal(err)
	}
	queue := postgres.NewMediaJobs(throughProxy)
	for _, id := range []string{"media-a", "media-b"} {
		w, err := encoders.NewMediaWorker(encoders.MediaWorkerConfig{WorkerID: id, Concurrency: 1, Lease: outageLease,
			PollInterval: 50 * time.Millisecond, RetryDelay: time.Second}, probe, cuts, postgres.NewEventStore(throughProxy, eventschema.NewCodec(), nil), queue, time.Now, testenv.Logger(t).With("worker", id))
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(func() { close(r.probe.release) }) // before the workers stop
	if _, err := direct.Exec(t.Context(), `INSERT INTO accounts (id, name) VALUES ($1, 'alice')`, alice.AccountID); err != nil {
		t.Fatal(err)
	}
	grant, _ := commands.NewGrantCreditsHandler(r.setup)
	if _, err := grant.Handle(t.Context(), commands.Caller{}, commands.GrantCredits{AccountID: alice.AccountID, Seconds: 600}); err != nil {
		t.Fatal(err)
	}
	return r
}

func pool(t *testing.T, dsn string) *pgxpool.Pool {
	p, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func deps(p *pgxpool.Pool) commands.Deps {
	var n atomic.Int64
	return commands.Deps{Store: postgres.NewEventStore(p, eventschema.NewCodec(), nil), Now: time.Now,
		NewID: func(prefix string) string { return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano(), n.Add(1)) }}
}

// upload makes an uploaded video asset and waits for a worker's ffprobe to
// start on it.
func (r *mediaOutageRig) upload() string {
	create, _ := commands.NewCreateAssetHandler(r.setup)
	upload, _ := commands.NewUploadAssetPartHandler(r.setup, commands.UploadLimits{})
	a, err := create.Handle(r.t.Context(), alice, commands.CreateAsset{Kind: domain.AssetKindVideo})
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := upload.Handle(r.t.Context(), alice, commands.UploadAssetPart{AssetID: a.StreamID, Part: domain.AssetPartSource,
		BlobKey: "assets/" + a.StreamID + "/source"}); err != nil {
		r.t.Fatal(err)
	}
	select {
	case <-r.probe.started:
	case <-time.After(10 * time.Second):
		r.t.Fatal("no worker claimed the probe")
	}
	return a.StreamID
}

// job is the asset's probe job as the database holds it.
func (r *mediaOutageRig) job(asset string) (commands.MediaJob, bool) {
	jobs, err := postgres.ListMediaJobs(r.t.Context(), r.direct)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, j := range jobs {
		if j.AssetID == asset {
			return j, true
		}
	}
	return commands.MediaJob{}, false
}

// outage cuts the workers off for two leases: every lease runs out.
func (r *mediaOutageRig) outage(during func()) {
	r.proxy.Cut()
	if during != nil {
		during()
	}
	time.Sleep(2 * outageLease)
	r.proxy.Restore()
}

// waitProbed waits for the asset's probe to be recorded and checks it was
// probed once, its job gone.
func (r *mediaOutageRig) waitProbed(asset string) {
	r.t.Helper()
	var a *domain.Asset
	testenv.Eventually(r.t, 20*time.Second, "the probe to be recorded", func() bool {
		recs, err := r.setup.Store.Load(r.t.Context(), asset)
		if err != nil {
			r.t.Fatal(err)
		}
		a, err = domain.RebuildAsset(recs)
		if err != nil {
			r.t.Fatal(err)
		}
		return a.Cuttable() || a.Failure() != nil
	})
	if a.Failure() != nil {
		r.t.Errorf("the asset failed: %+v", a.Failure())
	}
	if n := r.probe.calls.Load(); n != 1 {
		r.t.Errorf("ffprobe ran %d times, want once", n)
	}
	if j, ok := r.job(asset); ok {
		r.t.Errorf("the probe job is left: %+v", j)
	}
}

// ffprobe finishes while the database is away, which stays away longer
// than the lease: the worker keeps the probe and records it once the
// database answers; no other worker takes the job over and probes again.
func TestMediaWorker_a_probe_finished_during_an_outage_is_recorded_once_the_database_is_back(t *testing.T) {
	r := newMediaOutageRig(t)
	asset := r.upload()
	start := time.Now()
	r.outage(func() { r.probe.release <- struct{}{} }) // one probe ends
	restored := time.Now()
	r.waitProbed(asset)
	t.Logf("outage %s with a %s lease; recorded %s after the database came back",
		restored.Sub(start).Round(time.Millisecond), outageLease, time.Since(restored).Round(time.Millisecond))
}

// ffprobe is still running when the database comes back after the lease
// ran out: its worker renews at once, the other worker (which saw the
// outage too) waits a whole lease of answers before taking a run-out lease
// over, so the job stays its first claim and the outage is no crash.
func TestMediaWorker_an_outage_longer_than_the_lease_is_not_a_media_crash(t *testing.T) {
	r := newMediaOutageRig(t)
	asset := r.upload()
	first, _ := r.job(asset)
	r.outage(nil)
	time.Sleep(2 * outageLease) // both workers answered again for longer than a lease
	j, ok := r.job(asset)
	if !ok || j.WorkerID != first.WorkerID || j.Attempts != 1 {
		t.Errorf("after the outage the job is %+v (found %v), want %s's first claim", j, ok, first.WorkerID)
	}
	r.probe.release <- struct{}{}
	r.waitProbed(asset)
}
