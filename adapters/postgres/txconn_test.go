package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/eventschema"
)

// batches records the statements of every batch a connection sends, and
// how those whose results were read ended (txConn reads no further than a
// held write that failed).
type batches struct {
	mu   sync.Mutex
	sent [][]sentStatement
	read int // of the last batch's results
}

type sentStatement struct {
	sql string
	err error // nil as well for a statement whose result was not read
}

func (b *batches) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (b *batches) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (b *batches) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	var queued []sentStatement
	for _, q := range d.Batch.QueuedQueries {
		queued = append(queued, sentStatement{sql: q.SQL})
	}
	b.sent, b.read = append(b.sent, queued), 0
	return ctx
}
func (b *batches) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent[len(b.sent)-1][b.read].err = d.Err
	b.read++
}
func (b *batches) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// last is the last batch sent: its statements, and the first that failed
// (-1: none).
func (b *batches) last() ([]sentStatement, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	last := slices.Clone(b.sent[len(b.sent)-1])
	return last, slices.IndexFunc(last, func(s sentStatement) bool { return s.err != nil })
}

// tracedStore is an event store on a migrated database whose batches are
// recorded, and the account it made there.
func tracedStore(t *testing.T) (*postgres.EventStore, *pgxpool.Pool, *batches, string) {
	t.Helper()
	migrated := testenv.Postgres(t)
	acc, err := postgres.NewAccounts(migrated).Create(t.Context(), "held", 600)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(migrated.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	sent := &batches{}
	cfg.ConnConfig.Tracer = sent
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return postgres.NewEventStore(pool, eventschema.NewCodec(), nil), migrated, sent, acc.AccountID
}

// A held write refused at COMMIT: a render request past its account's
// queue takes its place in the queue as a held write, with its other
// writes and the append that opens the render's stream, so nothing tells
// it the queue is full before its COMMIT. The refusal fails the command
// there with its typed error (429 too_many_renders), and nothing of the
// transaction is written: no events, no signature, no queued job.
func TestHeldWrite_refused_at_commit_fails_the_command_with_its_typed_error_and_writes_nothing(t *testing.T) {
	ctx := t.Context()
	store, db, sent, acc := tracedStore(t)
	asset := readyAsset(t, store, acc)
	var ids []string
	d := commands.Deps{Store: store, Now: time.Now, NewID: func(p string) string {
		ids = append(ids, fmt.Sprintf("%s_%d_%s", p, len(ids)+1, acc))
		return ids[len(ids)-1]
	}}
	h, err := commands.NewRequestRenderHandler(d, commands.RenderLimits{MaxQueued: 1})
	if err != nil {
		t.Fatal(err)
	}
	caller := commands.Caller{AccountID: acc, CorrelationID: "req_held"}
	if _, err := h.Handle(ctx, caller, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMP4}}); err != nil {
		t.Fatal(err)
	}

	_, err = h.Handle(ctx, caller, commands.RequestRender{AssetID: asset, Output: domain.OutputSpec{Format: domain.FormatMOV}})
	var limit *domain.LimitError
	if !errors.As(err, &limit) || limit.Code != "too_many_renders" {
		t.Fatalf("a render past the queue: err = %v, want a LimitError too_many_renders", err)
	}
	refused := ids[len(ids)-1]
	if commit, failed := sent.last(); failed < 0 || !strings.Contains(commit[failed].sql, "renderd_take_render_slot") ||
		commit[len(commit)-1].sql != "COMMIT" {
		t.Errorf("the queue's refusal did not surface with the COMMIT: the last batch was %+v", commit)
	}
	if recs, err := store.Load(ctx, refused); err != nil || len(recs) != 0 {
		t.Errorf("the refused render's stream has %d events (%v), want none", len(recs), err)
	}
	for _, table := range []string{"render_signatures", "render_jobs"} {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE render_id = $1`, refused).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s holds %d rows of the refused render (%v), want none", table, n, err)
		}
	}
}

// The append that opens a stream is a held write too: one that finds the
// stream already there fails the transaction at COMMIT with the
// *commands.ConcurrencyError an immediate append would give, its actual
// version read after the rollback, and the writes held with it are gone.
func TestHeldWrite_an_opening_append_that_conflicts_fails_at_commit_as_a_concurrency_error(t *testing.T) {
	ctx := t.Context()
	store, db, sent, acc := tracedStore(t)
	asset := readyAsset(t, store, acc)
	err := store.Transact(ctx, []string{asset}, func(ctx context.Context, tx commands.Tx) error {
		if err := tx.AddStorage(ctx, acc, 1000); err != nil {
			return err
		}
		_, err := tx.Append(ctx, asset, commands.NoStream(), domain.Metadata{AccountID: acc, OccurredAt: time.Now()},
			domain.AssetCreated{Kind: domain.AssetKindVideo, Name: "again.mp4"})
		return err // nil: the append is held
	})
	var ce *commands.ConcurrencyError
	if !errors.As(err, &ce) || ce.StreamID != asset || ce.Actual != 5 {
		t.Fatalf("err = %v, want a ConcurrencyError on %s at version 5", err, asset)
	}
	if commit, failed := sent.last(); failed < 0 || !strings.Contains(commit[failed].sql, "INSERT INTO events") ||
		commit[len(commit)-1].sql != "COMMIT" {
		t.Errorf("the conflict did not surface with the COMMIT: the last batch was %+v", commit)
	}
	var used int64
	if err := db.QueryRow(ctx, `SELECT coalesce(sum(used_bytes), 0) FROM account_storage WHERE account_id = $1`, acc).Scan(&used); err != nil || used != 0 {
		t.Errorf("the account stores %d bytes (%v): the write held with the refused append was kept", used, err)
	}
	if recs, err := store.Load(ctx, asset); err != nil || len(recs) != 5 {
		t.Errorf("the asset has %d events (%v), want its 5", len(recs), err)
	}
}
