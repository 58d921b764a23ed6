package readmodel_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pt "github.com/renderd/renderd/adapters/postgres/readmodel/readmodeltest"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

// seedAsset appends and projects a new asset of account at time at.
func (f *fixture) seedAsset(id, account string, at time.Time) {
	f.t.Helper()
	f.project(f.append(id, account, at, pt.VideoAsset(f.t, id, account, at, pt.Created)...)...)
}

func TestQueries_another_accounts_ids_are_not_found_like_unknown_ones(t *testing.T) {
	f := newFixture(t)
	f.seedAsset("ast_mine", "acc_a", t0)
	f.project(f.append("cut_mine", "acc_a", t0, pt.CutRequested("ast_mine"))...)
	ctx := t.Context()

	checks := map[string]error{}
	_, checks["foreign asset"] = f.queries.Asset(ctx, "acc_b", "ast_mine")
	_, checks["unknown asset"] = f.queries.Asset(ctx, "acc_a", "ast_nope")
	_, checks["foreign cut"] = f.queries.Cut(ctx, "acc_b", "cut_mine")
	_, checks["unknown cut"] = f.queries.Cut(ctx, "acc_a", "cut_nope")
	_, _, checks["cuts of a foreign asset"] = f.queries.ListCuts(ctx, "acc_b", "ast_mine", projections.Page{})
	_, _, checks["cuts of an unknown asset"] = f.queries.ListCuts(ctx, "acc_a", "ast_nope", projections.Page{})
	for name, err := range checks {
		if !errors.Is(err, projections.ErrNotFound) || !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	if list, next, err := f.queries.ListAssets(ctx, "acc_b", projections.Page{}); err != nil || len(list) != 0 || next != "" {
		t.Errorf("another account's list = %v, %q, %v; want empty", list, next, err)
	}
	if _, err := f.queries.Asset(ctx, "acc_a", "ast_mine"); err != nil {
		t.Errorf("own asset: %v", err)
	}
}

// The API refuses these bytes at its boundary; should one slip through, a
// lookup must still answer not found, never an error (a 500).
func TestQueries_ids_with_bytes_postgres_refuses_are_not_found(t *testing.T) {
	f := newFixture(t)
	f.seedAsset("ast_1", "acc_1", t0)
	ctx := t.Context()
	for _, id := range []string{"ast_\x00", "ast_\xff", "\x00"} {
		checks := map[string]error{}
		_, checks["asset"] = f.queries.Asset(ctx, "acc_1", id)
		_, checks["cut"] = f.queries.Cut(ctx, "acc_1", id)
		_, _, checks["cuts"] = f.queries.ListCuts(ctx, "acc_1", id, projections.Page{})
		_, checks["render"] = f.queries.Render(ctx, "acc_1", id)
		_, checks["history"] = f.queries.RenderHistory(ctx, "acc_1", id)
		_, _, checks["renders of"] = f.queries.ListRenders(ctx, "acc_1", projections.RenderFilter{AssetID: id}, projections.Page{})
		for name, err := range checks {
			if !errors.Is(err, projections.ErrNotFound) {
				t.Errorf("%s %q: err = %v, want ErrNotFound", name, id, err)
			}
		}
	}
}

func TestQueries_a_malformed_cursor_is_ErrBadCursor_for_the_cursor_field(t *testing.T) {
	f := newFixture(t)
	f.seedAsset("ast_1", "acc_1", t0)
	for _, c := range []string{
		"%%%",
		"not base64!",
		base64.RawURLEncoding.EncodeToString([]byte("no separator")),
		base64.RawURLEncoding.EncodeToString([]byte("abc:ast_1")),
		base64.RawURLEncoding.EncodeToString([]byte("123:")),
		base64.StdEncoding.EncodeToString([]byte("1740830400123456:ast_1")), // padded: not what we hand out
		string(make([]byte, 600)),
		base64.RawURLEncoding.EncodeToString([]byte("1740830400123456:ast_\x00")),  // NUL: Postgres refuses it
		base64.RawURLEncoding.EncodeToString([]byte("1740830400123456:ast_\xff")),  // invalid UTF-8
		base64.RawURLEncoding.EncodeToString([]byte("9223372036854775807:ast_1")),  // past Postgres' timestamps
		base64.RawURLEncoding.EncodeToString([]byte("-9223372036854775808:ast_1")), // before them
	} {
		_, _, err := f.queries.ListAssets(t.Context(), "acc_1", projections.Page{Cursor: c})
		var invalid *domain.ValidationError
		if !errors.Is(err, projections.ErrBadCursor) || !errors.As(err, &invalid) || invalid.Field != "cursor" {
			t.Errorf("cursor %q: err = %v, want ErrBadCursor on field cursor", c, err)
		}
		_, _, err = f.queries.ListCuts(t.Context(), "acc_1", "ast_1", projections.Page{Cursor: c})
		if !errors.Is(err, projections.ErrBadCursor) {
			t.Errorf("cuts, cursor %q: err = %v, want ErrBadCursor", c, err)
		}
	}
}

func TestQueries_the_limit_defaults_to_20_and_is_clamped_to_100(t *testing.T) {
	f := newFixture(t)
	for i := range 105 {
		f.seedAsset(fmt.Sprintf("ast_%03d", i), "acc_1", t0.Add(time.Duration(i)*time.Second))
	}
	for limit, want := range map[int]int{0: 20, -5: 20, 1: 1, 100: 100, 500: 100} {
		list, next, err := f.queries.ListAssets(t.Context(), "acc_1", projections.Page{Limit: limit})
		if err != nil || len(list) != want || next == "" {
			t.Errorf("limit %d: %d items, next %q, %v; want %d and a next page", limit, len(list), next, err, want)
		}
	}
}

// pageAll follows next cursors to the end.
func pageAll[T any](t *testing.T, limit int, list func(projections.Page) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	cursor := ""
	for {
		page, next, err := list(projections.Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d items, limit %d", len(page), limit)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

func TestListAssets_pages_newest_first_without_duplicates_or_gaps_under_concurrent_inserts(t *testing.T) {
	f := newFixture(t)
	// 41 assets, in groups of three created in the same microsecond, so the
	// id has to break ties on page boundaries.
	var seeded []string
	for i := range 41 {
		id := fmt.Sprintf("ast_%02d", i)
		f.seedAsset(id, "acc_1", t0.Add(time.Duration(i/3)*time.Second))
		seeded = append(seeded, id)
	}
	f.seedAsset("ast_other", "acc_2", t0.Add(time.Hour))

	// New assets keep arriving (newer than all seeded ones) while a client
	// pages through.
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			id := fmt.Sprintf("ast_new_%03d", i)
			at := time.Now()
			recs, err := pt.Append(ctx, f.store, id, "acc_1", at, pt.VideoAsset(t, id, "acc_1", at, pt.Created)...)
			if err == nil {
				err = f.assets.Handle(ctx, recs[0])
			}
			if err != nil && ctx.Err() == nil {
				t.Error(err)
				return
			}
		}
	})
	var got []projections.AssetView
	for range 3 { // give the inserter time to interleave with several page reads
		got = pageAll(t, 4, func(p projections.Page) ([]projections.AssetView, string, error) {
			time.Sleep(5 * time.Millisecond)
			return f.queries.ListAssets(t.Context(), "acc_1", p)
		})
	}
	stop()
	wg.Wait()

	seen := map[string]bool{}
	for i, v := range got {
		if seen[v.ID] {
			t.Fatalf("%s listed twice", v.ID)
		}
		seen[v.ID] = true
		if v.AccountID != "acc_1" {
			t.Fatalf("another account's asset %s listed", v.ID)
		}
		if i > 0 {
			prev := got[i-1]
			if v.CreatedAt.After(prev.CreatedAt) || (v.CreatedAt.Equal(prev.CreatedAt) && v.ID > prev.ID) {
				t.Fatalf("not newest first: %s (%s) after %s (%s)", v.ID, v.CreatedAt, prev.ID, prev.CreatedAt)
			}
		}
	}
	for _, id := range seeded {
		if !seen[id] {
			t.Fatalf("%s missing from the pages (a gap)", id)
		}
	}
	// Everything seeded is at the end, in exact keyset order.
	tail := got[len(got)-len(seeded):]
	want := slices.Clone(seeded)
	slices.SortFunc(want, func(a, b string) int { // newest group first, then id descending
		ga, gb := idGroup(a), idGroup(b)
		if ga != gb {
			return gb - ga
		}
		return strings.Compare(b, a)
	})
	for i := range tail {
		if tail[i].ID != want[i] {
			t.Fatalf("position %d: %s, want %s", i, tail[i].ID, want[i])
		}
	}
	t.Logf("%d assets listed, %d of them inserted while paging", len(got), len(got)-len(seeded))
}

func idGroup(id string) int {
	var n int
	_, _ = fmt.Sscanf(id, "ast_%d", &n)
	return n / 3
}

func TestListCuts_pages_an_assets_cuts_newest_first(t *testing.T) {
	f := newFixture(t)
	f.seedAsset("ast_1", "acc_1", t0)
	f.seedAsset("ast_2", "acc_1", t0)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("cut_%d", i)
		f.project(f.append(id, "acc_1", t0.Add(time.Duration(i)*time.Minute), pt.CutRequested("ast_1"))...)
		want = append([]string{id}, want...)
	}
	f.project(f.append("cut_of_2", "acc_1", t0.Add(time.Hour), pt.CutRequested("ast_2"))...)

	got := pageAll(t, 3, func(p projections.Page) ([]projections.CutView, string, error) {
		return f.queries.ListCuts(t.Context(), "acc_1", "ast_1", p)
	})
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("cuts %v, want %v", ids, want)
	}
}
