package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/domain"
)

// renderLog is a log of render streams for checkRenders.
type renderLog [][]string

func (l renderLog) EachEventOf(_ context.Context, _ domain.AggregateType, fn func(string, int64, string) error) error {
	for i, stream := range l {
		for v, typ := range stream {
			if err := fn(string(rune('a'+i)), int64(v+1), typ); err != nil {
				return err
			}
		}
	}
	return nil
}

func (renderLog) VersionGaps(context.Context) ([]postgres.VersionGap, error) { return nil, nil }
func (renderLog) Checkpoint(context.Context, string) (postgres.Checkpoint, error) {
	return postgres.Checkpoint{}, nil
}
func (renderLog) RecordedAfter(context.Context, postgres.Checkpoint) (int64, time.Time, error) {
	return 0, time.Time{}, nil
}

func TestCheckRenders_expiry_and_deletion_may_follow_the_terminal_event_once(t *testing.T) {
	const req, start, done, cancel = "render.requested.v1", "render.started.v1", "render.completed.v1", "render.cancelled.v1"
	const expired, deleted = "render.output_expired.v1", "render.deleted.v1"
	cases := map[string]struct {
		stream []string
		rules  []string
	}{
		"completed_expired_deleted":      {[]string{req, start, done, expired, deleted}, nil},
		"cancelled_then_deleted":         {[]string{req, cancel, deleted}, nil},
		"an_expiry_of_a_cancelled":       {[]string{req, cancel, expired}, []string{"nothing_after_a_terminal_event"}},
		"an_event_after_the_deletion":    {[]string{req, start, done, deleted, expired}, []string{"nothing_after_a_terminal_event"}},
		"a_deletion_before_an_end":       {[]string{req, deleted}, []string{"deleted_only_once_finished"}},
		"a_second_expiry":                {[]string{req, start, done, expired, expired}, []string{"nothing_after_a_terminal_event"}},
		"a_second_terminal_after_expiry": {[]string{req, start, done, expired, cancel}, []string{"at_most_one_terminal_event"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var rules []string
			if _, _, err := checkRenders(t.Context(), renderLog{tc.stream}, func(v violation) { rules = append(rules, v.Rule) }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rules, tc.rules) {
				t.Fatalf("violations %v, want %v", rules, tc.rules)
			}
		})
	}
}
