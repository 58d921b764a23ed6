// Package eventstoretest is the contract every commands.EventStore
// implementation must honour. Each implementation's tests call Run.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// Subject is an empty store for one subtest, and an account it accepts
// ledger entries for (a store backed by real tables creates it).
type Subject struct {
	Store   commands.EventStore
	Account string
	// MediaJobs reads the committed media queue, ordered by job id, as the
	// media workers see it.
	MediaJobs func(ctx context.Context) ([]commands.MediaJob, error)
}

// NewStore returns a fresh subject.
type NewStore func(t *testing.T) Subject

// Run runs the contract suite against the stores newStore returns.
func Run(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		test func(t *testing.T, s Subject)
	}{
		{"appends_start_at_version_1_and_load_in_order", events(appendsStartAtVersion1)},
		{"metadata_and_event_data_round_trip", events(metadataRoundTrips)},
		{"wrong_expected_version_is_a_concurrency_error", events(wrongExpectedVersion)},
		{"failed_transaction_appends_nothing", events(failedTransactionAppendsNothing)},
		{"append_to_an_unlocked_stream_is_rejected", events(unlockedStreamRejected)},
		{"append_without_account_or_time_is_rejected", events(metadataRequired)},
		{"one_transaction_appends_to_several_streams_atomically", events(multiStreamAtomic)},
		{"racing_writers_on_one_stream_win_each_version_once", events(racingWritersOneStream)},
		{"racing_writers_on_many_streams_keep_every_stream_contiguous", events(racingWritersManyStreams)},
		{"overlapping_multi_stream_transactions_do_not_deadlock", events(overlappingTransactions)},
		{"credits_are_granted_debited_and_roll_back", creditsContract},
		{"assets_awaiting_payment_are_listed_in_order_and_cleared_by_a_debit", awaitingContract},
		{"the_cut_index_counts_cuts_in_flight_per_asset_and_automatic_ones_per_account", cutIndexContract},
		{"the_media_queue_follows_its_jobs_and_rolls_back_with_their_transaction", mediaQueueContract},
		{"one_live_render_per_signature_and_release_frees_it", signatureContract},
		{"the_render_queue_follows_a_render_and_rolls_back_with_its_transaction", renderQueueContract},
		{"an_account_has_max_places_in_the_render_queue_freed_when_its_renders_end", renderSlotsContract},
		{"storage_counts_stored_bytes_and_live_upload_reservations", storageContract},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.test(t, newStore(t)) })
	}
}

// events adapts a test of the event store alone.
func events(test func(t *testing.T, s commands.EventStore)) func(t *testing.T, s Subject) {
	return func(t *testing.T, s Subject) { test(t, s.Store) }
}

var at = time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC)

func meta() domain.Metadata {
	return domain.Metadata{AccountID: "acc_1", CorrelationID: "req_1", CausationID: "cmd_1", OccurredAt: at}
}

func progressed(i int) domain.Event {
	return domain.RenderProgressed{Attempt: 1, Percent: i % 100, ETA: time.Duration(i) * time.Second, Position: time.Duration(i) * time.Millisecond}
}

// appendOne appends events to streamID in a transaction of its own.
func appendOne(ctx context.Context, s commands.EventStore, streamID string, exp commands.ExpectedVersion, events ...domain.Event) ([]domain.Recorded, error) {
	var recs []domain.Recorded
	err := s.Transact(ctx, []string{streamID}, func(ctx context.Context, tx commands.Tx) error {
		var err error
		recs, err = tx.Append(ctx, streamID, exp, meta(), events...)
		return err
	})
	return recs, err
}

func mustLoad(t *testing.T, s commands.EventStore, streamID string) []domain.Recorded {
	t.Helper()
	recs, err := s.Load(t.Context(), streamID)
	if err != nil {
		t.Fatalf("load %s: %v", streamID, err)
	}
	return recs
}

// checkContiguous fails unless recs are versions 1..n of one stream with
// increasing positions and distinct ids.
func checkContiguous(t *testing.T, recs []domain.Recorded) {
	t.Helper()
	ids := map[string]bool{}
	for i, r := range recs {
		if r.StreamVersion != int64(i+1) {
			t.Fatalf("event %d of %s has version %d", i, r.StreamID, r.StreamVersion)
		}
		if i > 0 && r.Position <= recs[i-1].Position {
			t.Fatalf("%s: position %d after %d", r.StreamID, r.Position, recs[i-1].Position)
		}
		if ids[r.ID] || r.ID == "" {
			t.Fatalf("%s: event id %q missing or repeated", r.StreamID, r.ID)
		}
		ids[r.ID] = true
	}
}

func appendsStartAtVersion1(t *testing.T, s commands.EventStore) {
	ctx := t.Context()
	if _, err := appendOne(ctx, s, "rnd_a", commands.NoStream(), progressed(1), progressed(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := appendOne(ctx, s, "rnd_a", commands.Exactly(2), progressed(3)); err != nil {
		t.Fatal(err)
	}
	recs := mustLoad(t, s, "rnd_a")
	if len(recs) != 3 {
		t.Fatalf("loaded %d events, want 3", len(recs))
	}
	checkContiguous(t, recs)
	for i, r := range recs {
		if !reflect.DeepEqual(r.Event, progressed(i+1)) {
			t.Errorf("event %d = %#v, want %#v", i, r.Event, progressed(i+1))
		}
	}
	if got := mustLoad(t, s, "rnd_unknown"); len(got) != 0 {
		t.Errorf("unknown stream loaded %d events", len(got))
	}
}

func metadataRoundTrips(t *testing.T, s commands.EventStore) {
	ctx := t.Context()
	ev := domain.RenderRequested{
		AssetID: "ast_1", CutID: "cut_1",
		Output:    domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p, AudioBitrate: 192},
		Plan:      domain.RenderPlan{Width: 1280, Height: 720, VideoBitrate: 5_000_000, AudioBitrate: 192_000, Segments: []domain.Segment{{Start: 1500 * time.Millisecond, End: 9 * time.Second}}, Duration: 7500 * time.Millisecond},
		Signature: "sig", Replaces: "rnd_old",
	}
	appended, err := appendOne(ctx, s, "rnd_meta", commands.NoStream(), ev)
	if err != nil {
		t.Fatal(err)
	}
	got := mustLoad(t, s, "rnd_meta")
	if len(got) != 1 {
		t.Fatalf("loaded %d events", len(got))
	}
	r := got[0]
	if r.ID != appended[0].ID || r.StreamType != domain.AggregateRender || r.Metadata != meta() {
		t.Errorf("loaded %+v, appended %+v", r, appended[0])
	}
	if !reflect.DeepEqual(r.Event, ev) {
		t.Errorf("event = %#v, want %#v", r.Event, ev)
	}
}

func wrongExpectedVersion(t *testing.T, s commands.EventStore) {
	ctx := t.Context()
	if _, err := appendOne(ctx, s, "rnd_v", commands.NoStream(), progressed(1)); err != nil {
		t.Fatal(err)
	}
	for _, exp := range []commands.ExpectedVersion{commands.NoStream(), commands.Exactly(2), commands.Exactly(0)} {
		_, err := appendOne(ctx, s, "rnd_v", exp, progressed(2))
		var ce *commands.ConcurrencyError
		if !errors.Is(err, commands.ErrConcurrencyConflict) || !errors.As(err, &ce) || ce.Actual != 1 {
			t.Errorf("expected %s: err = %v, want a concurrency error at version 1", exp, err)
		}
	}
	if _, err := appendOne(ctx, s, "rnd_v", commands.AnyVersion(), progressed(2)); err != nil {
		t.Errorf("any version: %v", err)
	}
	checkContiguous(t, mustLoad(t, s, "rnd_v"))
}

func failedTransactionAppendsNothing(t *testing.T, s commands.EventStore) {
	boom := errors.New("boom")
	err := s.Transact(t.Context(), []string{"rnd_f"}, func(ctx context.Context, tx commands.Tx) error {
		if _, err := tx.Append(ctx, "rnd_f", commands.NoStream(), meta(), progressed(1)); err != nil {
			return err
		}
		staged, err := tx.Load(ctx, "rnd_f")
		if err != nil || len(staged) != 1 {
			return fmt.Errorf("inside the transaction: %d events, %v", len(staged), err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if got := mustLoad(t, s, "rnd_f"); len(got) != 0 {
		t.Errorf("rolled-back transaction left %d events", len(got))
	}
}

func unlockedStreamRejected(t *testing.T, s commands.EventStore) {
	err := s.Transact(t.Context(), []string{"rnd_locked"}, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.Append(ctx, "rnd_other", commands.NoStream(), meta(), progressed(1))
		return err
	})
	if !errors.Is(err, commands.ErrStreamNotLocked) {
		t.Errorf("err = %v, want ErrStreamNotLocked", err)
	}
	if err := s.Transact(t.Context(), nil, func(context.Context, commands.Tx) error { return nil }); err == nil {
		t.Error("a transaction without streams was accepted")
	}
}

func metadataRequired(t *testing.T, s commands.EventStore) {
	for _, m := range []domain.Metadata{{OccurredAt: at}, {AccountID: "acc_1"}} {
		err := s.Transact(t.Context(), []string{"rnd_m"}, func(ctx context.Context, tx commands.Tx) error {
			_, err := tx.Append(ctx, "rnd_m", commands.NoStream(), m, progressed(1))
			return err
		})
		if err == nil {
			t.Errorf("append with metadata %+v was accepted", m)
		}
	}
	err := s.Transact(t.Context(), []string{"rnd_m"}, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.Append(ctx, "rnd_m", commands.NoStream(), meta(), progressed(1), domain.AssetReady{})
		return err
	})
	if err == nil {
		t.Error("append mixing render and asset events was accepted")
	}
}

func multiStreamAtomic(t *testing.T, s commands.EventStore) {
	ctx := t.Context()
	streams := []string{"rnd_x", "ast_y"}
	err := s.Transact(ctx, streams, func(ctx context.Context, tx commands.Tx) error {
		if _, err := tx.Append(ctx, "rnd_x", commands.NoStream(), meta(), progressed(1)); err != nil {
			return err
		}
		_, err := tx.Append(ctx, "ast_y", commands.NoStream(), meta(), domain.AssetReady{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The second append conflicts: the first must not survive.
	err = s.Transact(ctx, streams, func(ctx context.Context, tx commands.Tx) error {
		if _, err := tx.Append(ctx, "rnd_x", commands.Exactly(1), meta(), progressed(2)); err != nil {
			return err
		}
		_, err := tx.Append(ctx, "ast_y", commands.NoStream(), meta(), domain.AssetReady{})
		return err
	})
	if !errors.Is(err, commands.ErrConcurrencyConflict) {
		t.Fatalf("err = %v, want a concurrency conflict", err)
	}
	if n := len(mustLoad(t, s, "rnd_x")); n != 1 {
		t.Errorf("rnd_x has %d events after a failed transaction, want 1", n)
	}
}

// racingWritersOneStream: 8 writers read the version outside any transaction
// and append with that expectation, as a command does; exactly one writer
// wins each version.
func racingWritersOneStream(t *testing.T, s commands.EventStore) {
	const writers, attempts = 8, 25
	ctx := t.Context()
	var (
		wins      atomic.Int64
		conflicts atomic.Int64
		mu        sync.Mutex
		wonBy     = map[int64]int{}
		wg        sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for range attempts {
				current, err := s.Load(ctx, "rnd_race")
				if err != nil {
					t.Error(err)
					return
				}
				v := int64(len(current))
				_, err = appendOne(ctx, s, "rnd_race", commands.Exactly(v), progressed(w))
				switch {
				case err == nil:
					wins.Add(1)
					mu.Lock()
					if prev, taken := wonBy[v+1]; taken {
						t.Errorf("version %d won by writers %d and %d", v+1, prev, w)
					}
					wonBy[v+1] = w
					mu.Unlock()
				case errors.Is(err, commands.ErrConcurrencyConflict):
					conflicts.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	recs := mustLoad(t, s, "rnd_race")
	checkContiguous(t, recs)
	if int64(len(recs)) != wins.Load() || wins.Load()+conflicts.Load() != writers*attempts {
		t.Errorf("%d events, %d wins, %d conflicts, %d attempts", len(recs), wins.Load(), conflicts.Load(), writers*attempts)
	}
}

// racingWritersManyStreams: 8 writers append to 20 streams, reading inside
// the transaction; the stream lock serialises them, so nobody conflicts.
func racingWritersManyStreams(t *testing.T, s commands.EventStore) {
	const writers, streams, perWriter = 8, 20, 40
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("rnd_many_%d", (w*7+i)%streams)
				err := s.Transact(ctx, []string{id}, func(ctx context.Context, tx commands.Tx) error {
					cur, err := tx.Load(ctx, id)
					if err != nil {
						return err
					}
					_, err = tx.Append(ctx, id, commands.Exactly(int64(len(cur))), meta(), progressed(i))
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	var positions []int64
	for i := range streams {
		recs := mustLoad(t, s, fmt.Sprintf("rnd_many_%d", i))
		checkContiguous(t, recs)
		total += len(recs)
		for _, r := range recs {
			positions = append(positions, r.Position)
		}
	}
	if total != writers*perWriter {
		t.Errorf("%d events stored, want %d", total, writers*perWriter)
	}
	slices.Sort(positions)
	if len(slices.Compact(positions)) != total {
		t.Error("global positions are not unique")
	}
}

func overlappingTransactions(t *testing.T, s commands.EventStore) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			streams := []string{"rnd_p", "rnd_q"}
			if w%2 == 1 {
				streams = []string{"rnd_q", "rnd_p"}
			}
			for range 10 {
				err := s.Transact(ctx, streams, func(ctx context.Context, tx commands.Tx) error {
					for _, id := range streams {
						if _, err := tx.Append(ctx, id, commands.AnyVersion(), meta(), progressed(w)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, id := range []string{"rnd_p", "rnd_q"} {
		recs := mustLoad(t, s, id)
		checkContiguous(t, recs)
		if len(recs) != 80 {
			t.Errorf("%s has %d events, want 80", id, len(recs))
		}
	}
}

// inTx runs fn in a transaction holding acc's ledger lock.
func inTx(t *testing.T, s commands.EventStore, acc string, fn func(ctx context.Context, tx commands.Tx) error) error {
	t.Helper()
	return s.Transact(t.Context(), []string{commands.LedgerStream(acc)}, fn)
}

func balance(t *testing.T, s commands.EventStore, acc string) int64 {
	t.Helper()
	var b int64
	if err := inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) (err error) { b, err = tx.CreditBalance(ctx, acc); return }); err != nil {
		t.Fatal(err)
	}
	return b
}

func creditsContract(t *testing.T, subj Subject) {
	s, acc := subj.Store, subj.Account
	if err := inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.GrantCredits(ctx, acc, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.DebitCredits(ctx, acc, "ast_1", 30)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A second part longer than the first is charged the difference.
	if err := inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.DebitCredits(ctx, acc, "ast_1", 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) error {
		if _, err := tx.GrantCredits(ctx, acc, 50); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	if b := balance(t, s, acc); b != 60 {
		t.Errorf("balance = %d, want 60 (100 granted, 30 + 10 charged, a rolled-back grant)", b)
	}
	if err := inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.GrantCredits(ctx, acc, 0)
		return err
	}); !errors.Is(err, domain.ErrValidation) {
		t.Errorf("zero grant: err = %v", err)
	}
}

func awaitingContract(t *testing.T, subj Subject) {
	s, acc := subj.Store, subj.Account
	for _, asset := range []string{"ast_b", "ast_a", "ast_b"} {
		if err := inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) error { return tx.AwaitPayment(ctx, acc, asset, 10) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct waiting times
	}
	var waiting []string
	read := func() {
		_ = inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) (err error) {
			waiting, err = tx.AwaitingPayment(ctx, acc)
			return
		})
	}
	if read(); !slices.Equal(waiting, []string{"ast_b", "ast_a"}) {
		t.Errorf("awaiting = %v, want [ast_b ast_a]", waiting)
	}
	if err := inTx(t, s, acc, func(ctx context.Context, tx commands.Tx) error {
		if _, err := tx.GrantCredits(ctx, acc, 10); err != nil {
			return err
		}
		_, err := tx.DebitCredits(ctx, acc, "ast_b", 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if read(); !slices.Equal(waiting, []string{"ast_a"}) {
		t.Errorf("after debiting ast_b: awaiting = %v", waiting)
	}
}

func cutIndexContract(t *testing.T, subj Subject) {
	s, ctx := subj.Store, t.Context()
	explicit := []domain.Segment{{Start: 0, End: time.Second}}
	auto := &domain.SilenceRemoval{MinSilence: time.Second, ThresholdDB: -35}
	newCut := func(id, account, asset string, auto *domain.SilenceRemoval) *domain.Cut {
		t.Helper()
		var segs []domain.Segment
		if auto == nil {
			segs = explicit
		}
		c, err := domain.RequestCut(id, account, asset, segs, auto, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	index := func(c *domain.Cut) {
		t.Helper()
		err := s.Transact(ctx, []string{c.AssetID(), c.ID()}, func(ctx context.Context, tx commands.Tx) error {
			if err := tx.IndexCut(ctx, c); err != nil {
				return err
			}
			_, err := tx.CutsInFlight(ctx, c.AssetID()) // a statement after the held-back write
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	inFlight := func(asset string) []string {
		t.Helper()
		var cuts []string
		if err := s.Transact(ctx, []string{asset}, func(ctx context.Context, tx commands.Tx) (err error) { cuts, err = tx.CutsInFlight(ctx, asset); return }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(cuts)
		return cuts
	}
	autos := func(account string) int {
		t.Helper()
		var n int
		if err := s.Transact(ctx, []string{commands.AutoCutsStream(account)}, func(ctx context.Context, tx commands.Tx) (err error) {
			n, err = tx.AutoCutsInFlight(ctx, account)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	c1, c2, c3 := newCut("cut_1", "acc_a", "ast_x", nil), newCut("cut_2", "acc_a", "ast_x", auto), newCut("cut_3", "acc_a", "ast_y", auto)
	other := newCut("cut_4", "acc_b", "ast_z", auto)
	for _, c := range []*domain.Cut{c2, c1, c3, other, c1} { // indexing again changes nothing
		index(c)
	}
	if got := inFlight("ast_x"); !slices.Equal(got, []string{"cut_1", "cut_2"}) {
		t.Errorf("cuts in flight of ast_x = %v", got)
	}
	if n := autos("acc_a"); n != 2 {
		t.Errorf("automatic cuts in flight of acc_a = %d, want 2 (of two assets; the explicit cut does not count)", n)
	}
	c2.Fail("nothing_kept", "all silent", at)
	index(c2)
	c1.Fail("asset_failed", "gone", at)
	index(c1)
	if got := inFlight("ast_x"); len(got) != 0 {
		t.Errorf("decided cuts still in flight: %v", got)
	}
	if n, m := autos("acc_a"), autos("acc_b"); n != 1 || m != 1 {
		t.Errorf("automatic cuts in flight: acc_a %d (want 1), acc_b %d (want 1)", n, m)
	}
	// A rolled-back decision leaves the cut in flight.
	c3.Fail("nothing_kept", "all silent", at)
	_ = s.Transact(ctx, []string{"ast_y"}, func(ctx context.Context, tx commands.Tx) error {
		if err := tx.IndexCut(ctx, c3); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	if got := inFlight("ast_y"); !slices.Equal(got, []string{"cut_3"}) {
		t.Errorf("after a rolled-back decision: %v", got)
	}
}

func mediaQueueContract(t *testing.T, subj Subject) {
	s, ctx := subj.Store, t.Context()
	since := time.Now().UTC().Truncate(time.Millisecond)
	probe := commands.MediaJob{JobID: commands.ProbeJobID("ast_m", domain.AssetPartSource), Kind: commands.MediaJobProbe,
		AccountID: "acc_m", AssetID: "ast_m", Part: domain.AssetPartSource, State: commands.MediaJobPending, Since: since}
	silence := func(cut, asset string) commands.MediaJob {
		return commands.MediaJob{JobID: commands.SilenceJobID(cut), Kind: commands.MediaJobSilence, AccountID: "acc_m",
			AssetID: asset, CutID: cut, State: commands.MediaJobWaiting, Since: since}
	}
	in := func(asset string, fn func(ctx context.Context, tx commands.Tx) error) error {
		return s.Transact(ctx, []string{asset}, func(ctx context.Context, tx commands.Tx) error {
			if err := fn(ctx, tx); err != nil {
				return err
			}
			_, err := tx.CutsInFlight(ctx, asset) // a statement after the held-back writes
			return err
		})
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// states lists the queue as "job_id=state".
	states := func() []string {
		t.Helper()
		jobs, err := subj.MediaJobs(ctx)
		must(err)
		var out []string
		for _, j := range jobs {
			out = append(out, j.JobID+"="+string(j.State))
		}
		return out
	}
	must(in("ast_m", func(ctx context.Context, tx commands.Tx) error {
		if err := tx.QueueMediaJob(ctx, probe); err != nil {
			return err
		}
		return tx.QueueMediaJob(ctx, silence("cut_m1", "ast_m"))
	}))
	must(in("ast_n", func(ctx context.Context, tx commands.Tx) error {
		return tx.QueueMediaJob(ctx, silence("cut_n1", "ast_n"))
	}))
	jobs, err := subj.MediaJobs(ctx)
	must(err)
	if len(jobs) > 0 {
		jobs[0].Since = jobs[0].Since.UTC()
	}
	if len(jobs) != 3 || !reflect.DeepEqual(jobs[0], probe) || jobs[1].CutID != "cut_m1" || jobs[1].Part != "" || !jobs[1].Since.Equal(since) {
		t.Fatalf("queued jobs = %+v", jobs)
	}
	// Queueing a job again leaves it as it is.
	again := probe
	again.State = commands.MediaJobWaiting
	must(in("ast_m", func(ctx context.Context, tx commands.Tx) error { return tx.QueueMediaJob(ctx, again) }))
	want := []string{"probe:ast_m:source=pending", "silence:cut_m1=waiting", "silence:cut_n1=waiting"}
	if got := states(); !slices.Equal(got, want) {
		t.Errorf("after queueing again: %v, want %v", got, want)
	}
	must(in("ast_m", func(ctx context.Context, tx commands.Tx) error { return tx.WakeMediaJobs(ctx, "ast_m") }))
	want = []string{"probe:ast_m:source=pending", "silence:cut_m1=pending", "silence:cut_n1=waiting"}
	if got := states(); !slices.Equal(got, want) {
		t.Errorf("after waking ast_m: %v, want %v (the other asset's job waits on)", got, want)
	}
	must(in("ast_m", func(ctx context.Context, tx commands.Tx) error {
		return tx.ParkMediaJob(ctx, commands.SilenceJobID("cut_m1"))
	}))
	_ = in("ast_m", func(ctx context.Context, tx commands.Tx) error {
		if err := tx.FinishMediaJob(ctx, probe.JobID); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	want = []string{"probe:ast_m:source=pending", "silence:cut_m1=waiting", "silence:cut_n1=waiting"}
	if got := states(); !slices.Equal(got, want) {
		t.Errorf("after parking and a rolled-back finish: %v, want %v", got, want)
	}
	must(in("ast_m", func(ctx context.Context, tx commands.Tx) error { return tx.FinishMediaJob(ctx, probe.JobID) }))
	if got := states(); !slices.Equal(got, want[1:]) {
		t.Errorf("after finishing the probe: %v, want %v", got, want[1:])
	}
}

func signatureContract(t *testing.T, subj Subject) {
	s, acc := subj.Store, subj.Account
	lock := []string{commands.SignatureStream(acc, "sig")}
	in := func(fn func(ctx context.Context, tx commands.Tx) error) error {
		return s.Transact(t.Context(), lock, fn)
	}
	// get is NewestRender as (live render, newest render).
	get := func() (live, newest string) {
		_ = in(func(ctx context.Context, tx commands.Tx) error {
			id, isLive, err := tx.NewestRender(ctx, acc, "sig")
			if newest = id; isLive {
				live = id
			}
			return err
		})
		return live, newest
	}
	if live, newest := get(); live != "" || newest != "" {
		t.Fatal("a fresh store has a render for the signature")
	}
	if err := in(func(ctx context.Context, tx commands.Tx) error { return tx.ReserveSignature(ctx, acc, "sig", "rnd_1") }); err != nil {
		t.Fatal(err)
	}
	if err := in(func(ctx context.Context, tx commands.Tx) error { return tx.ReserveSignature(ctx, acc, "sig", "rnd_2") }); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("a second live render: err = %v, want a conflict", err)
	}
	if live, _ := get(); live != "rnd_1" {
		t.Errorf("live = %q", live)
	}
	if err := in(func(ctx context.Context, tx commands.Tx) error { return tx.ReleaseSignature(ctx, "rnd_1") }); err != nil {
		t.Fatal(err)
	}
	if live, newest := get(); live != "" || newest != "rnd_1" {
		t.Errorf("after release: live %q newest %q", live, newest)
	}
	if err := in(func(ctx context.Context, tx commands.Tx) error { return tx.ReserveSignature(ctx, acc, "sig", "rnd_2") }); err != nil {
		t.Fatal(err)
	}
	if live, newest := get(); live != "rnd_2" || newest != "rnd_2" {
		t.Errorf("after the replacement: live %q newest %q", live, newest)
	}
}

func renderQueueContract(t *testing.T, subj Subject) {
	s, acc := subj.Store, subj.Account
	id := "rnd_queue_" + acc
	in := func(fn func(ctx context.Context, tx commands.Tx) error) error {
		return s.Transact(t.Context(), []string{id}, fn)
	}
	get := func() (j commands.RenderJob, ok bool) {
		if err := in(func(ctx context.Context, tx commands.Tx) (err error) { j, ok, err = tx.RenderJob(ctx, id); return }); err != nil {
			t.Fatal(err)
		}
		return j, ok
	}
	set := func(j commands.RenderJob) {
		t.Helper()
		if err := in(func(ctx context.Context, tx commands.Tx) error { return tx.SetRenderJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := get(); ok {
		t.Fatal("a fresh store has the job")
	}
	since := time.Now().UTC().Truncate(time.Millisecond)
	set(commands.RenderJob{RenderID: id, AccountID: acc, State: domain.RenderStatePending, Since: since})
	if j, ok := get(); !ok || j.State != domain.RenderStatePending || j.AccountID != acc || !j.Since.Equal(since) || j.WorkerID != "" {
		t.Errorf("pending job = %+v, %v", j, ok)
	}
	lease := since.Add(30 * time.Second)
	set(commands.RenderJob{RenderID: id, AccountID: acc, State: domain.RenderStateRunning, Attempt: 1, WorkerID: "w1", LeaseUntil: lease, Since: since})
	if j, ok := get(); !ok || j.State != domain.RenderStateRunning || j.Attempt != 1 || j.WorkerID != "w1" || !j.LeaseUntil.Equal(lease) {
		t.Errorf("running job = %+v, %v", j, ok)
	}
	rollback := errors.New("roll back")
	err := in(func(ctx context.Context, tx commands.Tx) error {
		if err := tx.SetRenderJob(ctx, commands.RenderJob{RenderID: id, AccountID: acc, State: domain.RenderStateCancelled}); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if _, ok := get(); !ok {
		t.Error("a rolled-back removal removed the job")
	}
	set(commands.RenderJob{RenderID: id, AccountID: acc, State: domain.RenderStateCompleted})
	if j, ok := get(); ok {
		t.Errorf("a completed render is still queued: %+v", j)
	}
}

func renderSlotsContract(t *testing.T, subj Subject) {
	s, acc := subj.Store, subj.Account
	const max = 2
	// queue makes a pending render that takes a place, as RequestRender does.
	queue := func(id string) error {
		return s.Transact(t.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) error {
			if err := tx.TakeRenderSlot(ctx, acc, id, max); err != nil {
				return err
			}
			if err := tx.SetRenderJob(ctx, commands.RenderJob{RenderID: id, AccountID: acc, State: domain.RenderStatePending, Since: time.Now()}); err != nil {
				return err
			}
			// A statement after the held-back writes, as the append is.
			_, _, err := tx.RenderJob(ctx, id)
			return err
		})
	}
	set := func(id string, state domain.RenderState) {
		t.Helper()
		err := s.Transact(t.Context(), []string{id}, func(ctx context.Context, tx commands.Tx) error {
			j := commands.RenderJob{RenderID: id, AccountID: acc, State: state, Since: time.Now()}
			if state == domain.RenderStateRunning {
				j.Attempt, j.WorkerID, j.LeaseUntil = 1, "w1", time.Now().Add(time.Minute)
			}
			return tx.SetRenderJob(ctx, j)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	running := func() int {
		var n int
		err := s.Transact(t.Context(), []string{commands.RunningStream(acc)}, func(ctx context.Context, tx commands.Tx) (err error) {
			n, err = tx.RunningRenders(ctx, acc)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, id := range []string{"rnd_slot_1", "rnd_slot_2"} {
		if err := queue(id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if err := queue("rnd_slot_3"); !errors.Is(err, commands.ErrQueueFull) {
		t.Fatalf("a third render with 2 places: err = %v, want ErrQueueFull", err)
	}
	set("rnd_slot_1", domain.RenderStateRunning)
	if n := running(); n != 1 {
		t.Errorf("running renders = %d, want 1", n)
	}
	if err := queue("rnd_slot_3"); !errors.Is(err, commands.ErrQueueFull) {
		t.Errorf("a running render still holds its place: err = %v", err)
	}
	set("rnd_slot_1", domain.RenderStateCompleted)
	if n := running(); n != 0 {
		t.Errorf("running renders after the completion = %d", n)
	}
	if err := queue("rnd_slot_3"); err != nil {
		t.Fatalf("the completed render's place: %v", err)
	}
	set("rnd_slot_2", domain.RenderStateCancelled)
	if err := queue("rnd_slot_4"); err != nil {
		t.Fatalf("the cancelled render's place: %v", err)
	}
	if err := queue("rnd_slot_5"); !errors.Is(err, commands.ErrQueueFull) {
		t.Errorf("places after the frees: err = %v, want full", err)
	}
}

func storageContract(t *testing.T, subj Subject) {
	s, acc := subj.Store, subj.Account
	now := time.Now().UTC().Truncate(time.Millisecond)
	in := func(fn func(ctx context.Context, tx commands.Tx) error) error {
		return s.Transact(t.Context(), []string{"ast_st", commands.StorageStream(acc)}, fn)
	}
	used := func(at time.Time) int64 {
		t.Helper()
		var n int64
		if err := in(func(ctx context.Context, tx commands.Tx) (err error) { n, err = tx.StorageUsed(ctx, acc, at); return }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	reserve := func(part domain.AssetPart, key string, bytes int64, at time.Time) ([]string, error) {
		var stale []string
		err := in(func(ctx context.Context, tx commands.Tx) (err error) {
			stale, err = tx.ReserveUpload(ctx, commands.UploadReservation{AssetID: "ast_st", AccountID: acc, Part: part, BlobKey: key,
				Bytes: bytes, Expires: at.Add(time.Minute)}, at)
			return err
		})
		return stale, err
	}
	if n := used(now); n != 0 {
		t.Fatalf("a fresh account stores %d", n)
	}
	if err := in(func(ctx context.Context, tx commands.Tx) error { return tx.AddStorage(ctx, acc, 100) }); err != nil {
		t.Fatal(err)
	}
	if _, err := reserve(domain.AssetPartSource, "k1", 50, now); err != nil {
		t.Fatal(err)
	}
	if n := used(now); n != 150 {
		t.Errorf("stored 100 + reserved 50 = %d", n)
	}
	if _, err := reserve(domain.AssetPartSource, "k2", 10, now); !errors.Is(err, commands.ErrUploadInProgress) {
		t.Errorf("a second reservation of the part: %v", err)
	}
	inProgress := func(part domain.AssetPart, at time.Time) bool {
		var busy bool
		if err := in(func(ctx context.Context, tx commands.Tx) (err error) {
			busy, err = tx.UploadInProgress(ctx, "ast_st", part, at)
			return
		}); err != nil {
			t.Fatal(err)
		}
		return busy
	}
	if !inProgress(domain.AssetPartSource, now) || inProgress(domain.AssetPartAudio, now) || inProgress(domain.AssetPartSource, now.Add(2*time.Minute)) {
		t.Error("UploadInProgress: want the source busy now, the audio free, the source free after the expiry")
	}
	var held bool
	if err := in(func(ctx context.Context, tx commands.Tx) (err error) {
		held, err = tx.ExtendUpload(ctx, "ast_st", domain.AssetPartSource, "k2", now.Add(time.Hour))
		return err
	}); err != nil || held {
		t.Errorf("another upload extended the reservation: %v %v", held, err)
	}
	// Past its expiry the reservation counts for nothing and is replaced;
	// its blob is handed back for deletion.
	later := now.Add(2 * time.Minute)
	if n := used(later); n != 100 {
		t.Errorf("after the expiry: %d", n)
	}
	stale, err := reserve(domain.AssetPartSource, "k3", 20, later)
	if err != nil || len(stale) != 1 || stale[0] != "k1" {
		t.Errorf("replacing an expired reservation: stale %v, err %v", stale, err)
	}
	if err := in(func(ctx context.Context, tx commands.Tx) (err error) {
		held, err = tx.ExtendUpload(ctx, "ast_st", domain.AssetPartSource, "k3", later.Add(time.Hour))
		return err
	}); err != nil || !held {
		t.Errorf("the upload's own extension: %v %v", held, err)
	}
	if n := used(later.Add(30 * time.Minute)); n != 120 {
		t.Errorf("an extended reservation still counts: %d", n)
	}
	if err := in(func(ctx context.Context, tx commands.Tx) error {
		if err := tx.EndUpload(ctx, "ast_st", domain.AssetPartSource); err != nil {
			return err
		}
		return tx.AddStorage(ctx, acc, -30)
	}); err != nil {
		t.Fatal(err)
	}
	if n := used(later); n != 70 {
		t.Errorf("after the end and a 30-byte release: %d", n)
	}
}
