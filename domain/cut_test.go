package domain_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func seg(start, end float64) domain.Segment {
	return domain.Segment{Start: time.Duration(start * float64(time.Second)), End: time.Duration(end * float64(time.Second))}
}

func TestRequestCut_validates_the_plan(t *testing.T) {
	cases := []struct {
		name     string
		segments []domain.Segment
		auto     *domain.SilenceRemoval
		field    string // "" = valid
	}{
		{"one_segment_is_fine", []domain.Segment{seg(1.5, 9)}, nil, ""},
		{"sorted_touching_segments_are_fine", []domain.Segment{seg(0, 1), seg(1, 2)}, nil, ""},
		{"no_segments_and_no_auto", nil, nil, "segments"},
		{"negative_start", []domain.Segment{seg(-1, 2)}, nil, "segments[0].start"},
		{"end_before_start", []domain.Segment{seg(3, 2)}, nil, "segments[0].end"},
		{"shorter_than_a_tenth", []domain.Segment{seg(1, 1.05)}, nil, "segments[0]"},
		{"overlapping", []domain.Segment{seg(0, 2), seg(1, 3)}, nil, "segments[1].start"},
		{"unsorted", []domain.Segment{seg(5, 6), seg(1, 2)}, nil, "segments[1].start"},
		{"both_segments_and_auto", []domain.Segment{seg(0, 1)}, &domain.SilenceRemoval{MinSilence: time.Second, ThresholdDB: -35}, "auto"},
		{"auto_is_fine", nil, &domain.SilenceRemoval{MinSilence: 800 * time.Millisecond, ThresholdDB: -35}, ""},
		{"auto_silence_too_short", nil, &domain.SilenceRemoval{MinSilence: time.Millisecond, ThresholdDB: -35}, "auto.remove_silence.min_silence"},
		{"auto_threshold_positive", nil, &domain.SilenceRemoval{MinSilence: time.Second, ThresholdDB: 3}, "auto.remove_silence.threshold_db"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cut, err := domain.RequestCut("cut_1", "acc_1", "ast_1", c.segments, c.auto, now)
			var ve *domain.ValidationError
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case c.field == "":
				if cut.State() != domain.CutStateProcessing || len(cut.Changes()) != 1 {
					t.Errorf("state %s, changes %v", cut.State(), cut.Changes())
				}
			case !errors.As(err, &ve) || ve.Field != c.field:
				t.Errorf("err = %v, want a validation error on %s", err, c.field)
			}
		})
	}
}

func TestCut_complete(t *testing.T) {
	explicit := domain.CutRequested{AssetID: "ast_1", Segments: []domain.Segment{seg(1, 3), seg(4, 9)}}
	auto := domain.CutRequested{AssetID: "ast_1", Auto: &domain.SilenceRemoval{MinSilence: time.Second, ThresholdDB: -35}}
	cases := []struct {
		name     string
		given    []domain.Event
		duration time.Duration
		detected []domain.Segment
		then     []domain.Event
		state    domain.CutState
	}{
		{"explicit_segments_within_the_asset_complete", []domain.Event{explicit}, 10 * time.Second, nil,
			[]domain.Event{domain.CutCompleted{Segments: explicit.Segments, Duration: 7 * time.Second}}, domain.CutStateCompleted},
		{"a_segment_past_the_end_fails_the_cut", []domain.Event{explicit}, 8 * time.Second, nil,
			[]domain.Event{domain.CutFailed{Code: domain.FailureOutOfRange, Message: "a segment ends at 9.000 s, after the end of the asset (8.000 s)"}}, domain.CutStateFailed},
		{"an_auto_plan_keeps_what_was_detected", []domain.Event{auto}, 5 * time.Second, []domain.Segment{seg(0, 2), seg(3, 5)},
			[]domain.Event{domain.CutCompleted{Segments: []domain.Segment{seg(0, 2), seg(3, 5)}, Duration: 4 * time.Second}}, domain.CutStateCompleted},
		{"an_auto_plan_that_keeps_nothing_fails", []domain.Event{auto}, 5 * time.Second, nil,
			[]domain.Event{domain.CutFailed{Code: domain.FailureNothingKept, Message: "silence detection kept nothing of the asset"}}, domain.CutStateFailed},
		{"completing_a_completed_cut_changes_nothing", []domain.Event{explicit, domain.CutCompleted{Segments: explicit.Segments, Duration: 7 * time.Second}},
			10 * time.Second, nil, nil, domain.CutStateCompleted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs := history(c.given...)
			cut, err := domain.RebuildCut(recs)
			if err != nil {
				t.Fatal(err)
			}
			if err := cut.Complete(c.duration, c.detected, now); err != nil {
				t.Fatal(err)
			}
			if got := cut.Changes(); !reflect.DeepEqual(got, c.then) && (len(got) != 0 || len(c.then) != 0) {
				t.Errorf("events = %#v\nwant %#v", got, c.then)
			}
			if cut.State() != c.state {
				t.Errorf("state = %s, want %s", cut.State(), c.state)
			}
		})
	}
}
