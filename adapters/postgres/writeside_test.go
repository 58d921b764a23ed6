package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// roundTrips counts what a connection sends to Postgres and waits for: a
// statement on its own, or a batch.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// readyAsset appends a ready 1080p video asset of the account, 10 s long.
func readyAsset(t *testing.T, store *postgres.EventStore, accountID string) string {
	t.Helper()
	asset := "ast_" + uuid.Must(uuid.NewV7()).String()
	if err := store.Transact(t.Context(), []string{asset}, func(ctx context.Context, tx commands.Tx) error {
		_, err := tx.Append(ctx, asset, commands.NoStream(), domain.Metadata{AccountID: accountID, OccurredAt: time.Now()},
			domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "a.mp4"},
			domain.AssetSourceUploaded{BlobKey: "assets/" + asset + "/source", SizeBytes: 1_000_000},
			domain.AssetProbed{Part: domain.AssetPartSource, Media: domain.MediaInfo{Container: "mov,mp4,m4a,3gp,3g2,mj2",
				Duration: 10 * time.Second, SizeBytes: 1_000_000, HasVideo: true, HasAudio: true, VideoCodec: "h264",
				Width: 1920, Height: 1080, FrameRate: "30/1", PixelFormat: "yuv420p", VideoBitrate: 8_000_000,
				AudioCodec: "aac", AudioBitrate: 192_000, AudioChannels: 2, AudioSampleRate: 48000}},
			domain.AssetCharged{Seconds: 10, LedgerEntryID: "led_1"},
			domain.AssetReady{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return asset
}

// A render request is benchmarked (POST /v1/renders): its transaction's
// round trips are counted here, so that a change that adds one is seen.
// The reads it states ahead (the signature's newest render, the account's
// storage) travel with the asset's load, and its writes and append with
// COMMIT.
func TestRequestRender_round_trips(t *testing.T) {
	ctx := t.Context()
	migrated := testenv.Postgres(t)
	acc, err := postgres.NewAccounts(migrated).Create(ctx, "roundtrips", 600)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(migrated.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	counted := &roundTrips{}
	cfg.ConnConfig.Tracer = counted
	cfg.MaxConns = 1 // one connection, whose statement cache the first request fills
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	asset := readyAsset(t, store, acc.AccountID)
	var n atomic.Int64
	d := commands.Deps{Store: store, Now: time.Now, NewID: func(p string) string { return fmt.Sprintf("%s_%d_%s", p, n.Add(1), acc.AccountID) }}
	caller := commands.Caller{AccountID: acc.AccountID, CorrelationID: "req_roundtrips"}
	// Every new render needs a signature of its own: an output of its own.
	outputs := []domain.OutputSpec{{Format: domain.FormatMP4}, {Format: domain.FormatMOV}, {Format: domain.FormatMP4, AudioBitrate: 128}, {Format: domain.FormatMOV, AudioBitrate: 128}}
	defaults := commands.RenderLimits{MaxQueued: 100, StorageQuota: 100 << 30} // as serve's
	request := func(limits commands.RenderLimits, o domain.OutputSpec) (existing bool, trips int64) {
		t.Helper()
		h, err := commands.NewRequestRenderHandler(d, limits)
		if err != nil {
			t.Fatal(err)
		}
		before := counted.n.Load()
		res, err := h.Handle(ctx, caller, commands.RequestRender{AssetID: asset, Output: o})
		if err != nil {
			t.Fatal(err)
		}
		return res.Existing, counted.n.Load() - before
	}
	// The first requests fill the connection's statement cache.
	request(defaults, outputs[0])
	request(defaults, outputs[0])
	for i, c := range []struct {
		name   string
		limits commands.RenderLimits
		repeat bool
		want   int64
	}{
		{"a new render under serve's limits", defaults, false, 2},
		{"a new render without limits", commands.RenderLimits{}, false, 2},
		{"a repeat of a live render", defaults, true, 3},
	} {
		o := outputs[i+1] // a new signature
		if c.repeat {
			o = outputs[0] // the warm-up's, live
		}
		existing, got := request(c.limits, o)
		if existing != c.repeat {
			t.Fatalf("%s: existing = %v", c.name, existing)
		}
		if got != c.want {
			t.Errorf("%s: %d round trips, want %d", c.name, got, c.want)
		}
	}
}

// A newest-render lookup held back for the next round trip answers as the
// lookup itself would: for a signature with no render, a live one and a
// released one, whether a statement carried it or not, and not for
// another signature.
func TestWillNeedNewestRender_answers_as_the_lookup(t *testing.T) {
	ctx := t.Context()
	pool := testenv.Postgres(t)
	store := postgres.NewEventStore(pool, eventschema.NewCodec(), nil)
	lock := []string{"rnd_n1", commands.SignatureStream("acc_1", "sig_live"), commands.SignatureStream("acc_1", "sig_old")}
	if err := store.Transact(ctx, lock, func(ctx context.Context, tx commands.Tx) error {
		if err := tx.ReserveSignature(ctx, "acc_1", "sig_live", "rnd_n1"); err != nil {
			return err
		}
		if err := tx.ReserveSignature(ctx, "acc_1", "sig_old", "rnd_n2"); err != nil {
			return err
		}
		return tx.ReleaseSignature(ctx, "rnd_n2")
	}); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		id   string
		live bool
	}
	want := map[string]answer{"sig_live": {"rnd_n1", true}, "sig_old": {"rnd_n2", false}, "sig_none": {}}
	for sig, w := range want {
		for _, carried := range []bool{true, false} {
			err := store.Transact(ctx, []string{"rnd_n1", commands.SignatureStream("acc_1", sig)}, func(ctx context.Context, tx commands.Tx) error {
				tx.WillNeedNewestRender("acc_1", sig)
				if carried {
					if _, err := tx.Load(ctx, "rnd_n1"); err != nil {
						return err
					}
				}
				id, live, err := tx.NewestRender(ctx, "acc_1", sig)
				if err != nil || (answer{id, live}) != w {
					t.Errorf("%s (carried %v): %q, %v, %v; want %+v", sig, carried, id, live, err, w)
				}
				id, live, err = tx.NewestRender(ctx, "acc_1", "sig_live") // not the one stated
				if err != nil || (answer{id, live}) != want["sig_live"] {
					t.Errorf("another signature after stating a need of %s: %q, %v, %v", sig, id, live, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}
