package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/commands"
)

// The erasure's writes (commands.Erasure): an asset's derived streams, the
// redaction of its name, and the queue of blob removals (blob_removals,
// 00016_erasure_and_retention.sql).

func (t *eventTx) AssetStreams(ctx context.Context, assetID string) (cuts, renders []string, err error) {
	cuts, err = collectStrings(ctx, t.conn, `SELECT cut_id FROM asset_cuts WHERE asset_id = $1 ORDER BY cut_id`, assetID)
	if err != nil {
		return nil, nil, fmt.Errorf("asset streams: %w", err)
	}
	renders, err = collectStrings(ctx, t.conn, `SELECT stream_id FROM events
		WHERE event_type = 'render.requested.v1' AND data->>'asset_id' = $1 ORDER BY stream_id`, assetID)
	if err != nil {
		return nil, nil, fmt.Errorf("asset streams: %w", err)
	}
	return cuts, renders, nil
}

// RedactAssetName is held back until the transaction's next statement (see
// txConn). It rewrites the stored asset.created event's name, the one
// field of the asset's log a client chose freely (docs/events.md,
// "Erasure"); the payload keeps its shape, so it still validates.
func (t *eventTx) RedactAssetName(_ context.Context, assetID string) error {
	t.conn.hold(func(err error) error { return fmt.Errorf("redact asset name: %w", err) },
		`UPDATE events SET data = jsonb_set(data, '{name}', '""')
		WHERE stream_id = $1 AND event_type = 'asset.created.v1' AND data->>'name' <> ''`, assetID)
	return nil
}

// QueueBlobRemovals is held back until the transaction's next statement
// (see txConn).
func (t *eventTx) QueueBlobRemovals(_ context.Context, accountID string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	t.conn.hold(func(err error) error { return fmt.Errorf("queue blob removals: %w", err) },
		`INSERT INTO blob_removals (blob_key, account_id) SELECT unnest($2::text[]), $1
		ON CONFLICT (blob_key) DO UPDATE SET due_at = least(blob_removals.due_at, excluded.due_at)`, accountID, keys)
	return nil
}

// BlobRemovals is the encoders' side of the queue of blob removals
// (encoders.BlobRemovals).
type BlobRemovals struct{ pool *pgxpool.Pool }

// NewBlobRemovals returns the queue on pool.
func NewBlobRemovals(pool *pgxpool.Pool) *BlobRemovals { return &BlobRemovals{pool: pool} }

// Claim returns up to n removals due by now and defers each by retry, in
// one statement: concurrent drainers skip each other's rows, and a drainer
// that dies before removing one leaves it due again once retry has passed.
func (q *BlobRemovals) Claim(ctx context.Context, n int, now time.Time, retry time.Duration) ([]string, error) {
	keys, err := collectStrings(ctx, q.pool, `
		UPDATE blob_removals SET due_at = $2::timestamptz + $3::interval, tries = tries + 1
		WHERE blob_key IN (SELECT blob_key FROM blob_removals WHERE due_at <= $2
			ORDER BY due_at, blob_key LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING blob_key`, n, now, retry)
	if err != nil {
		return nil, fmt.Errorf("claim blob removals: %w", err)
	}
	return keys, nil
}

// Removed deletes the row of a removed blob.
func (q *BlobRemovals) Removed(ctx context.Context, key string) error {
	if _, err := q.pool.Exec(ctx, `DELETE FROM blob_removals WHERE blob_key = $1`, key); err != nil {
		return fmt.Errorf("blob removed: %w", err)
	}
	return nil
}

// Failed notes why a removal failed; its claim deferred it already.
func (q *BlobRemovals) Failed(ctx context.Context, key, reason string) error {
	if _, err := q.pool.Exec(ctx, `UPDATE blob_removals SET last_error = $2 WHERE blob_key = $1`, key, reason); err != nil {
		return fmt.Errorf("blob removal failed: %w", err)
	}
	return nil
}

// Pending counts the removals not done yet (for tests and operators).
func (q *BlobRemovals) Pending(ctx context.Context) (int, error) {
	var n int
	err := q.pool.QueryRow(ctx, `SELECT count(*) FROM blob_removals`).Scan(&n)
	return n, err
}

var _ commands.Erasure = (*eventTx)(nil)
