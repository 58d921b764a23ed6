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

// The auditors' reads see the log as stored.
func TestEventStore_audit_reads(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	appendTo := func(stream string, events ...domain.Event) {
		t.Helper()
		err := store.Transact(ctx, []string{stream}, func(ctx context.Context, tx commands.Tx) error {
			_, err := tx.Append(ctx, stream, commands.AnyVersion(), meta(1), events...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	requested := func(asset string) domain.RenderRequested {
		return domain.RenderRequested{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP3}, Plan: domain.RenderPlan{Duration: time.Second}, Signature: "s"}
	}
	appendTo("rnd_b", requested("ast_1"), domain.RenderCancelled{})
	appendTo("rnd_a", requested("ast_1"))
	appendTo("rnd_c", requested("ast_2"))
	appendTo("ast_1", domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "x"})

	t.Run("stream_entries_are_the_stored_events_in_version_order", func(t *testing.T) {
		entries, err := store.StreamEntries(ctx, "rnd_b")
		if err != nil || len(entries) != 2 {
			t.Fatalf("%d entries, %v", len(entries), err)
		}
		if e := entries[1]; e.WireName != eventschema.RenderCancelledV1 || e.StreamVersion != 2 || e.AccountID != "acc_1" || string(e.Data) != `{"attempt": 0}` {
			t.Errorf("entry %+v, data %s", e, e.Data)
		}
		if none, err := store.StreamEntries(ctx, "rnd_none"); err != nil || len(none) != 0 {
			t.Errorf("unknown stream: %d entries, %v", len(none), err)
		}
	})
	t.Run("streams_with_an_event_come_in_the_order_of_those_events", func(t *testing.T) {
		ids, err := store.StreamsWithEvent(ctx, eventschema.RenderRequestedV1, "asset_id", "ast_1")
		if err != nil || !slices.Equal(ids, []string{"rnd_b", "rnd_a"}) {
			t.Fatalf("renders of ast_1: %v, %v", ids, err)
		}
	})
	t.Run("each_event_of_a_type_in_stream_and_version_order", func(t *testing.T) {
		var got []string
		err := store.EachEventOf(ctx, domain.AggregateRender, func(id string, v int64, wireName string) error {
			got = append(got, id+"/"+eventschema.PublicType(wireName))
			return nil
		})
		want := []string{"rnd_a/render.requested", "rnd_b/render.requested", "rnd_b/render.cancelled", "rnd_c/render.requested"}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("got %v, %v; want %v", got, err, want)
		}
	})
	t.Run("version_gaps_name_the_broken_streams", func(t *testing.T) {
		if gaps, err := store.VersionGaps(ctx); err != nil || len(gaps) != 0 {
			t.Fatalf("gaps in a sound log: %v, %v", gaps, err)
		}
		if _, err := pool.Exec(ctx, `UPDATE events SET stream_version = 5 WHERE stream_id = 'rnd_b' AND stream_version = 2`); err != nil {
			t.Fatal(err)
		}
		gaps, err := store.VersionGaps(ctx)
		if err != nil || !slices.Equal(gaps, []postgres.VersionGap{{StreamID: "rnd_b", Events: 2, First: 1, Last: 5}}) {
			t.Fatalf("gaps %v, %v", gaps, err)
		}
	})
	t.Run("recorded_after_counts_what_follows_a_checkpoint", func(t *testing.T) {
		cp, err := store.Checkpoint(ctx, "audit")
		if err != nil || cp != (postgres.Checkpoint{}) {
			t.Fatalf("checkpoint %v, %v", cp, err)
		}
		n, oldest, err := store.RecordedAfter(ctx, cp)
		if err != nil || n != 5 || oldest.IsZero() {
			t.Fatalf("%d after the start, oldest %v, %v", n, oldest, err)
		}
		last, err := store.StreamEntries(ctx, "ast_1") // the last append
		if err != nil || len(last) != 1 {
			t.Fatalf("%d entries, %v", len(last), err)
		}
		if err := postgres.SaveCheckpoint(ctx, pool, "audit", last[0].Checkpoint); err != nil {
			t.Fatal(err)
		}
		if cp, err = store.Checkpoint(ctx, "audit"); err != nil {
			t.Fatal(err)
		}
		if n, oldest, err := store.RecordedAfter(ctx, cp); err != nil || n != 0 || !oldest.IsZero() {
			t.Fatalf("%d after the end, oldest %v, %v", n, oldest, err)
		}
	})
}
