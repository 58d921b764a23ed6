package commands_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// The media queue as the commands keep it: which job exists, in which
// state, after each step of an asset's and a cut's life. The claims
// themselves are the Postgres adapter's and the worker's (their tests).

var (
	bob       = commands.Caller{AccountID: "acc_bob", CorrelationID: "req_bob"}
	autoPlan  = &domain.SilenceRemoval{MinSilence: time.Second, ThresholdDB: -35}
	oneSecond = []domain.Segment{{Start: 0, End: time.Second}}
	tone      = domain.MediaInfo{Duration: 2 * time.Second, HasAudio: true}
)

// mediaJob returns a job of the committed media queue.
func (w *world) mediaJob(id string) (commands.MediaJob, bool) {
	for _, j := range w.store.MediaJobs() {
		if j.JobID == id {
			return j, true
		}
	}
	return commands.MediaJob{}, false
}

// wantJob fails unless the job is in state ("" for no job).
func (w *world) wantJob(id string, state commands.MediaJobState) {
	w.t.Helper()
	j, ok := w.mediaJob(id)
	switch {
	case state == "" && ok:
		w.t.Fatalf("job %s is %s, want no job", id, j.State)
	case state != "" && !ok:
		w.t.Fatalf("no job %s, want it %s", id, state)
	case ok && j.State != state:
		w.t.Fatalf("job %s is %s, want %s", id, j.State, state)
	}
}

// runJob runs a claimable job's command as a media worker does.
func (w *world) runJob(id string) {
	w.t.Helper()
	w.runJobAs(id, false)
}

func (w *world) runJobAs(id string, crashed bool) {
	w.t.Helper()
	j, ok := w.mediaJob(id)
	if !ok || j.State != commands.MediaJobPending {
		w.t.Fatalf("job %s is not claimable: %+v", id, j)
	}
	c := commands.Caller{CorrelationID: j.CorrelationID, CausationID: j.CausationID}
	var err error
	switch j.Kind {
	case commands.MediaJobProbe:
		_, err = w.probe.Handle(w.t.Context(), c, commands.ProbeAsset{AssetID: j.AssetID, Part: j.Part, Crashed: crashed})
	case commands.MediaJobSilence:
		_, err = w.finish.Handle(w.t.Context(), c, commands.CompleteCut{CutID: j.CutID, Detect: true, Crashed: crashed})
	}
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) requestCut(c commands.Caller, asset string, auto *domain.SilenceRemoval) (string, error) {
	var segs []domain.Segment
	if auto == nil {
		segs = oneSecond
	}
	res, err := w.cut.Handle(w.t.Context(), c, commands.RequestCut{AssetID: asset, Segments: segs, Auto: auto})
	return res.StreamID, err
}

func (w *world) mustCut(c commands.Caller, asset string, auto *domain.SilenceRemoval) string {
	w.t.Helper()
	id, err := w.requestCut(c, asset, auto)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func TestMediaJobs_an_upload_queues_its_probe_and_the_probe_finishes_it_whatever_the_outcome(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	for _, c := range []struct {
		name  string
		media domain.MediaInfo
		state domain.AssetState
	}{
		{"readable", clip, domain.AssetStateReady},
		{"unreadable", domain.MediaInfo{}, domain.AssetStateFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			asset := w.uploadOnly(alice, domain.AssetKindVideo, domain.AssetPartSource, c.media)
			if c.name == "unreadable" {
				delete(w.media, "/blobs/"+asset+"/source") // the fake prober finds nothing
			}
			id := commands.ProbeJobID(asset, domain.AssetPartSource)
			j, ok := w.mediaJob(id)
			if !ok || j.State != commands.MediaJobPending || j.Kind != commands.MediaJobProbe || j.AccountID != "acc_alice" ||
				j.AssetID != asset || j.Part != domain.AssetPartSource || j.CorrelationID != alice.CorrelationID {
				t.Fatalf("the upload's job = %+v, %v", j, ok)
			}
			recs, _ := w.store.Load(t.Context(), asset)
			if uploaded := recs[len(recs)-1]; j.CausationID != uploaded.ID {
				t.Errorf("the job is caused by %q, want the upload's event %q", j.CausationID, uploaded.ID)
			}
			w.runJob(id)
			w.wantJob(id, "")
			if s := w.asset(asset).State(); s != c.state {
				t.Errorf("asset %s, want %s", s, c.state)
			}
		})
	}
}

func TestMediaJobs_an_automatic_cut_waits_for_the_charge_whichever_comes_first(t *testing.T) {
	t.Run("cut_before_the_upload", func(t *testing.T) {
		w := newWorld(t)
		w.credit("acc_alice", 60)
		created, _ := w.create.Handle(t.Context(), alice, commands.CreateAsset{Kind: domain.AssetKindAudio})
		asset := created.StreamID
		cut := w.mustCut(alice, asset, autoPlan)
		job := commands.SilenceJobID(cut)
		w.wantJob(job, commands.MediaJobWaiting)
		w.media["/blobs/k"] = tone
		if _, err := w.upload.Handle(t.Context(), alice, commands.UploadAssetPart{AssetID: asset, Part: domain.AssetPartSource, BlobKey: "k"}); err != nil {
			t.Fatal(err)
		}
		w.wantJob(job, commands.MediaJobWaiting) // uploaded is not cuttable
		w.runJob(commands.ProbeJobID(asset, domain.AssetPartSource))
		w.wantJob(job, commands.MediaJobPending) // the probe's charge woke it
		w.runJob(job)
		w.wantJob(job, "")
		if c := w.cutState(cut); c.State() != domain.CutStateCompleted || w.detect != 1 {
			t.Errorf("cut %s after %d detections", c.State(), w.detect)
		}
	})
	t.Run("charge_before_the_cut", func(t *testing.T) {
		w := newWorld(t)
		w.credit("acc_alice", 60)
		asset := w.uploaded(domain.AssetKindAudio, domain.AssetPartSource, tone)
		cut := w.mustCut(alice, asset, autoPlan)
		w.wantJob(commands.SilenceJobID(cut), commands.MediaJobPending)
	})
	t.Run("cut_while_waiting_for_credits_then_a_grant", func(t *testing.T) {
		w := newWorld(t)
		asset := w.uploaded(domain.AssetKindAudio, domain.AssetPartSource, tone)
		if s := w.asset(asset).State(); s != domain.AssetStatePaymentRequired {
			t.Fatalf("asset %s", s)
		}
		cut := w.mustCut(alice, asset, autoPlan)
		job := commands.SilenceJobID(cut)
		w.wantJob(job, commands.MediaJobWaiting)
		w.credit("acc_alice", 60)
		w.wantJob(job, commands.MediaJobPending)
	})
	t.Run("a_job_run_before_the_charge_parks_until_it", func(t *testing.T) {
		w := newWorld(t)
		created, _ := w.create.Handle(t.Context(), alice, commands.CreateAsset{Kind: domain.AssetKindAudio})
		asset := created.StreamID
		cut := w.mustCut(alice, asset, autoPlan)
		job := commands.SilenceJobID(cut)
		// As a job back-filled by the migration is: pending on an
		// uploading asset.
		if err := w.store.Transact(t.Context(), []string{asset}, func(ctx context.Context, tx commands.Tx) error {
			return tx.WakeMediaJobs(ctx, asset)
		}); err != nil {
			t.Fatal(err)
		}
		w.runJob(job)
		w.wantJob(job, commands.MediaJobWaiting)
		if w.detect != 0 || w.cutState(cut).State() != domain.CutStateProcessing {
			t.Fatalf("%d detections, cut %s", w.detect, w.cutState(cut).State())
		}
	})
}

func TestMediaJobs_the_kafka_path_leaves_automatic_cuts_to_their_job_and_fails_them_with_their_asset(t *testing.T) {
	w := newWorld(t)
	w.credit("acc_alice", 60)
	asset := w.uploadOnly(alice, domain.AssetKindAudio, domain.AssetPartSource, tone)
	cut := w.mustCut(alice, asset, autoPlan)
	w.runJob(commands.ProbeJobID(asset, domain.AssetPartSource))
	if _, err := w.finish.Handle(t.Context(), commands.Caller{}, commands.CompleteCut{CutID: cut}); err != nil {
		t.Fatal(err)
	}
	if w.detect != 0 || w.cutState(cut).State() != domain.CutStateProcessing {
		t.Fatalf("the Kafka path ran %d detections; cut %s", w.detect, w.cutState(cut).State())
	}

	broken := w.uploadOnly(alice, domain.AssetKindAudio, domain.AssetPartSource, tone)
	delete(w.media, "/blobs/"+broken+"/source")
	doomed := w.mustCut(alice, broken, autoPlan)
	w.runJob(commands.ProbeJobID(broken, domain.AssetPartSource)) // fails the asset
	if _, err := w.finish.Handle(t.Context(), commands.Caller{}, commands.CompleteCut{CutID: doomed}); err != nil {
		t.Fatal(err)
	}
	if c := w.cutState(doomed); c.State() != domain.CutStateFailed || c.Failure().Code != "asset_failed" {
		t.Fatalf("cut of a failed asset: %s %+v", c.State(), c.Failure())
	}
	w.wantJob(commands.SilenceJobID(doomed), "")
	if cuts, _ := w.store.CutsInFlight(t.Context(), broken); len(cuts) != 0 {
		t.Errorf("a failed cut is still in flight: %v", cuts)
	}
}

func TestMediaJobs_after_three_lost_attempts_the_command_records_media_crashed_without_the_media_tool(t *testing.T) {
	t.Run("probe", func(t *testing.T) {
		w := newWorld(t)
		w.credit("acc_alice", 60)
		asset := w.uploadOnly(alice, domain.AssetKindVideo, domain.AssetPartSource, clip)
		w.runJobAs(commands.ProbeJobID(asset, domain.AssetPartSource), true)
		a := w.asset(asset)
		if f := a.Failure(); f == nil || f.Code != domain.FailureMediaCrashed || w.probes != 0 || a.Charged() {
			t.Fatalf("failure %+v after %d probes, charged %v", f, w.probes, a.Charged())
		}
		w.wantJob(commands.ProbeJobID(asset, domain.AssetPartSource), "")
		if len(w.gone) != 1 || w.gone[0] != asset+"/source" {
			t.Errorf("deleted %v, want the crashing file", w.gone)
		}
	})
	t.Run("automatic_cut", func(t *testing.T) {
		w := newWorld(t)
		w.credit("acc_alice", 60)
		asset := w.uploaded(domain.AssetKindAudio, domain.AssetPartSource, tone)
		cut := w.mustCut(alice, asset, autoPlan)
		w.runJobAs(commands.SilenceJobID(cut), true)
		if c := w.cutState(cut); c.State() != domain.CutStateFailed || c.Failure().Code != domain.FailureMediaCrashed || w.detect != 0 {
			t.Fatalf("cut %s %+v after %d detections", c.State(), c.Failure(), w.detect)
		}
		w.wantJob(commands.SilenceJobID(cut), "")
		if n := w.autoCutsInFlight("acc_alice"); n != 0 {
			t.Errorf("%d automatic cuts in flight after the failure", n)
		}
	})
}

func (w *world) autoCutsInFlight(acc string) int {
	var n int
	err := w.store.Transact(w.t.Context(), []string{commands.AutoCutsStream(acc)}, func(ctx context.Context, tx commands.Tx) (err error) {
		n, err = tx.AutoCutsInFlight(ctx, acc)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// wantLimit fails unless err is a too_many_cuts refusal of policy.
func wantLimit(t *testing.T, err error, policy string, quota int64) {
	t.Helper()
	var le *domain.LimitError
	if !errors.As(err, &le) || le.Code != "too_many_cuts" || le.Policy != policy || le.Quota != quota || le.RetryAfter <= 0 || le.Message == "" {
		t.Fatalf("err = %v (%+v), want too_many_cuts of %s, quota %d", err, le, policy, quota)
	}
}

func TestRequestCut_beyond_the_assets_cuts_in_flight_is_too_many_cuts(t *testing.T) {
	w := newWorld(t)
	w.cut, _ = commands.NewRequestCutHandler(w.d, commands.CutLimits{MaxPerAsset: 2})
	w.credit("acc_alice", 60)
	asset := w.uploadOnly(alice, domain.AssetKindAudio, domain.AssetPartSource, tone)
	first := w.mustCut(alice, asset, nil)
	w.mustCut(alice, asset, autoPlan)
	_, err := w.requestCut(alice, asset, nil)
	wantLimit(t, err, "cuts_in_flight", 2)

	other := w.uploadOnly(alice, domain.AssetKindAudio, domain.AssetPartSource, tone)
	w.mustCut(alice, other, nil) // another asset has places of its own

	// The asset is charged and the explicit cut completes: its place is
	// free (the automatic cut's job has not run, so that one still holds
	// its own), and a cut decided at once never takes one.
	w.runJob(commands.ProbeJobID(asset, domain.AssetPartSource))
	if _, err := w.finish.Handle(t.Context(), commands.Caller{}, commands.CompleteCut{CutID: first}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.requestCut(alice, asset, autoPlan); err != nil {
		t.Fatalf("after a cut completed: %v", err)
	}
	_, err = w.requestCut(alice, asset, autoPlan)
	wantLimit(t, err, "cuts_in_flight", 2)
	for range 3 {
		w.mustCut(alice, asset, nil) // explicit on a cuttable asset: decided at once
	}
}

func TestRequestCut_beyond_the_accounts_automatic_cuts_in_flight_is_too_many_cuts(t *testing.T) {
	w := newWorld(t)
	w.cut, _ = commands.NewRequestCutHandler(w.d, commands.CutLimits{MaxAutoPerAccount: 1})
	w.credit("acc_alice", 60)
	w.credit("acc_bob", 60)
	a1 := w.uploadOnly(alice, domain.AssetKindAudio, domain.AssetPartSource, tone)
	a2 := w.uploadOnly(alice, domain.AssetKindAudio, domain.AssetPartSource, tone)
	first := w.mustCut(alice, a1, autoPlan)
	_, err := w.requestCut(alice, a2, autoPlan) // another asset, the same account
	wantLimit(t, err, "auto_cuts_in_flight", 1)
	w.mustCut(alice, a2, nil) // explicit cuts do not count
	if n := len(w.store.MediaJobs()); n != 3 {
		t.Errorf("%d media jobs, want 2 probes and the first automatic cut's", n)
	}

	// Another account's automatic cuts are its own.
	theirs := w.uploadOnly(bob, domain.AssetKindAudio, domain.AssetPartSource, tone)
	w.mustCut(bob, theirs, autoPlan)
	// And it cannot reach this account's assets at all.
	if _, err := w.requestCut(bob, a2, autoPlan); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("bob's cut of alice's asset: %v, want not found", err)
	}

	// The first cut is decided: its place is free.
	w.runJob(commands.ProbeJobID(a1, domain.AssetPartSource))
	w.runJob(commands.SilenceJobID(first))
	if c := w.cutState(first); c.State() != domain.CutStateCompleted {
		t.Fatalf("first cut %s", c.State())
	}
	if _, err := w.requestCut(alice, a2, autoPlan); err != nil {
		t.Fatalf("after the first automatic cut completed: %v", err)
	}
}
