package projections

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

var foldT0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// recorded is events as render rnd_1's stream, one second apart.
func recorded(events ...domain.Event) []domain.Recorded {
	recs := make([]domain.Recorded, len(events))
	for i, e := range events {
		recs[i] = domain.Recorded{StreamID: "rnd_1", StreamType: domain.AggregateRender, StreamVersion: int64(i + 1),
			Metadata: domain.Metadata{AccountID: "acc_1", OccurredAt: foldT0.Add(time.Duration(i) * time.Second)}, Event: e}
	}
	return recs
}

// foldAndCompare folds history event by event as the projector does (onto
// the view when nextRenderView takes the event, from the history when it
// does not) and checks the view against the one built from the history
// after every event. It returns how many events folded.
func foldAndCompare(t *testing.T, history []domain.Recorded) (folded int) {
	t.Helper()
	v, err := renderView(history[:1])
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(history); i++ {
		rebuilt, err := renderView(history[:i+1])
		if err != nil {
			t.Fatal(err)
		}
		next, ok := nextRenderView(v, history[i])
		if !ok {
			if !reflect.DeepEqual(next, v) {
				t.Fatalf("v%d (%T) not folded, yet the view changed:\n got %+v\nwant %+v", i+1, history[i].Event, next, v)
			}
			v = rebuilt
			continue
		}
		folded++
		if !reflect.DeepEqual(next, rebuilt) {
			t.Fatalf("v%d (%T):\n   folded %+v\n  rebuilt %+v", i+1, history[i].Event, next, rebuilt)
		}
		v = next
	}
	return folded
}

var foldRequest = domain.RenderRequested{AssetID: "ast_1", Signature: "sig_1",
	Output: domain.OutputSpec{Format: domain.FormatMP4, Resolution: domain.Resolution720p},
	Plan: domain.RenderPlan{Width: 1280, Height: 720, VideoBitrate: 5_000_000, AudioBitrate: 192_000,
		Segments: []domain.Segment{{Start: time.Second, End: 3 * time.Second}}, Duration: 2 * time.Second}}

// The view folded event by event equals the view the domain rebuilds from
// the history, after every event of every history the commands record.
// One transition function decides both; this checks how the view maps the
// render's lifecycle to its fields and back.
func TestNextRenderView_folds_what_the_commands_record_into_the_rebuilt_view(t *testing.T) {
	progress := func(attempt int, from, to int) []domain.Event {
		var es []domain.Event
		for p := from; p <= to; p++ {
			es = append(es, domain.RenderProgressed{Attempt: attempt, Percent: p, ETA: time.Duration(100-p) * time.Second})
		}
		return es
	}
	started := func(attempt int) domain.Event {
		return domain.RenderStarted{Attempt: attempt, WorkerID: "w", LeaseUntil: foldT0.Add(time.Hour)}
	}
	completed := domain.RenderCompleted{Attempt: 2, BlobKey: "renders/rnd_1/out.mp4", SizeBytes: 1234, Duration: 2 * time.Second,
		Width: 1280, Height: 720, VideoBitrate: 4_900_000, AudioBitrate: 191_000, EncodeTime: time.Second}
	cases := map[string][]domain.Event{
		"99_progress_steps_then_completed": append(append([]domain.Event{foldRequest, started(1)}, progress(1, 1, 99)...),
			domain.RenderCompleted{Attempt: 1, BlobKey: "k"}),
		"retried_then_completed_by_the_next_attempt": append(append(append(append([]domain.Event{foldRequest, started(1)}, progress(1, 1, 40)...),
			domain.RenderRetried{Attempt: 2, Reason: domain.RetryLeaseExpired}, started(2)), progress(2, 1, 30)...), completed),
		"failed_while_running": append(append([]domain.Event{foldRequest, started(1)}, progress(1, 1, 20)...),
			domain.RenderFailed{Attempt: 1, Code: "encode_failed", Message: "ffmpeg exited 1: /var/lib/renderd/secret"}),
		"crashed_three_times": {foldRequest, started(1), domain.RenderRetried{Attempt: 2, Reason: domain.RetryLeaseExpired},
			started(2), domain.RenderRetried{Attempt: 3, Reason: domain.RetryLeaseExpired}, started(3),
			domain.RenderFailed{Attempt: 3, Code: "encoder_crashed", Message: "the encoder stopped responding during 3 attempts"}},
		"cancelled_while_running": append(append([]domain.Event{foldRequest, started(1)}, progress(1, 1, 15)...), domain.RenderCancelled{Attempt: 1}),
		"cancelled_while_pending": {foldRequest, domain.RenderCancelled{}},
		"completed_then_its_output_expired": {foldRequest, started(1), domain.RenderCompleted{Attempt: 1, BlobKey: "k", SizeBytes: 9},
			domain.RenderOutputExpired{Attempt: 1, BlobKey: "k"}},
		"completed_expired_then_deleted": {foldRequest, started(1), domain.RenderCompleted{Attempt: 1, BlobKey: "k"},
			domain.RenderOutputExpired{Attempt: 1, BlobKey: "k"}, domain.RenderDeleted{}},
		"running_then_deleted_with_its_asset": {foldRequest, started(1), domain.RenderCancelled{Attempt: 1}, domain.RenderDeleted{}},
	}
	for name, events := range cases {
		t.Run(name, func(t *testing.T) {
			history := recorded(events...)
			if n := foldAndCompare(t, history); n != len(history)-1 {
				t.Fatalf("%d of %d events folded; every event the commands record folds", n, len(history)-1)
			}
		})
	}
}

// Any history, including those no command records (a progress of another
// attempt, a second request, an event after the end), projected as the
// projector does, gives the view the domain rebuilds from it.
func TestNextRenderView_any_history_projects_to_the_rebuilt_view(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 2))
	anyEvent := func() domain.Event {
		attempt := rng.IntN(4)
		switch rng.IntN(10) {
		case 0:
			return domain.RenderRequested{AssetID: "ast_2", Signature: "sig_2", Output: domain.OutputSpec{Format: domain.FormatM4A}}
		case 1:
			return domain.RenderStarted{Attempt: attempt, WorkerID: "w", LeaseUntil: foldT0}
		case 2, 3:
			return domain.RenderProgressed{Attempt: attempt, Percent: rng.IntN(100), ETA: time.Duration(rng.IntN(60)) * time.Second}
		case 4:
			return domain.RenderCompleted{Attempt: attempt, BlobKey: "k", SizeBytes: int64(rng.IntN(1000))}
		case 5:
			return domain.RenderFailed{Attempt: attempt, Code: []string{"encode_failed", "timeout", "no_such_code", ""}[rng.IntN(4)]}
		case 6:
			return domain.RenderCancelled{Attempt: attempt}
		case 7:
			return domain.RenderOutputExpired{Attempt: attempt, BlobKey: "k"}
		case 8:
			return domain.RenderDeleted{}
		default:
			return domain.RenderRetried{Attempt: attempt, Reason: []string{domain.RetryLeaseExpired, domain.RetryHandedBack}[rng.IntN(2)]}
		}
	}
	folded, total := 0, 0
	for range 2000 {
		events := []domain.Event{foldRequest}
		for range 1 + rng.IntN(30) {
			events = append(events, anyEvent())
		}
		folded += foldAndCompare(t, recorded(events...))
		total += len(events) - 1
	}
	if folded == 0 || folded == total {
		t.Fatalf("%d of %d events folded; the histories should exercise both paths", folded, total)
	}
}
