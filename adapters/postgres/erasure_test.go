package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

func TestBlobRemovals_a_claim_defers_a_removal_until_it_is_done(t *testing.T) {
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	q := postgres.NewBlobRemovals(pool)
	ctx := t.Context()
	if err := store.Transact(ctx, []string{"ast_1"}, func(ctx context.Context, tx commands.Tx) error {
		return tx.QueueBlobRemovals(ctx, "acc_1", "assets/ast_1/a", "assets/ast_1/b")
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first, err := q.Claim(ctx, 10, now, time.Minute)
	if err != nil || len(first) != 2 {
		t.Fatalf("first claim %v %v", first, err)
	}
	if again, err := q.Claim(ctx, 10, now, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("a claimed removal was claimed again before its retry delay: %v %v", again, err)
	}
	if err := q.Removed(ctx, "assets/ast_1/a"); err != nil {
		t.Fatal(err)
	}
	if err := q.Failed(ctx, "assets/ast_1/b", "store away"); err != nil {
		t.Fatal(err)
	}
	later, err := q.Claim(ctx, 10, now.Add(time.Minute), time.Minute)
	if err != nil || !slices.Equal(later, []string{"assets/ast_1/b"}) {
		t.Fatalf("after the retry delay: %v %v, want the failed removal alone", later, err)
	}
	if n, err := q.Pending(ctx); err != nil || n != 1 {
		t.Fatalf("pending %d %v", n, err)
	}
}

func TestErasure_lists_an_assets_streams_and_erases_its_name(t *testing.T) {
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	ctx := t.Context()
	m := domain.Metadata{AccountID: "acc_1", OccurredAt: time.Now()}
	cut, err := domain.RequestCut("cut_1", "acc_1", "ast_1", []domain.Segment{{Start: 0, End: time.Second}}, nil, m.OccurredAt)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Transact(ctx, []string{"ast_1", "cut_1", "rnd_1", "rnd_2"}, func(ctx context.Context, tx commands.Tx) error {
		if _, err := tx.Append(ctx, "ast_1", commands.NoStream(), m, domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "Secret talk"}); err != nil {
			return err
		}
		if _, err := tx.Append(ctx, "cut_1", commands.NoStream(), m, cut.Changes()...); err != nil {
			return err
		}
		if err := tx.IndexCut(ctx, cut); err != nil {
			return err
		}
		for _, id := range []string{"rnd_2", "rnd_1"} {
			if _, err := tx.Append(ctx, id, commands.NoStream(), m, domain.RenderRequested{AssetID: "ast_1", Signature: id,
				Output: domain.OutputSpec{Format: domain.FormatMP3}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err = store.Transact(ctx, []string{"ast_1"}, func(ctx context.Context, tx commands.Tx) error {
		cuts, renders, err := tx.AssetStreams(ctx, "ast_1")
		if err != nil {
			return err
		}
		if !slices.Equal(cuts, []string{"cut_1"}) || !slices.Equal(renders, []string{"rnd_1", "rnd_2"}) {
			t.Errorf("streams: cuts %v, renders %v", cuts, renders)
		}
		return tx.RedactAssetName(ctx, "ast_1")
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.Load(ctx, "ast_1")
	if err != nil {
		t.Fatal(err)
	}
	if created := recs[0].Event.(domain.AssetCreated); created.Name != "" || created.Kind != domain.AssetKindVideo {
		t.Fatalf("asset.created after erasure: %+v", created)
	}
}
