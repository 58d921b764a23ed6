package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// The write-side tables a command transaction changes along with its events
// (see commands.Credits, commands.CutIndex and the queues).

func newEntryID() string { return "led_" + uuid.Must(uuid.NewV7()).String() }

func (t *eventTx) CreditBalance(ctx context.Context, accountID string) (int64, error) {
	var balance int64
	err := t.conn.QueryRow(ctx, `SELECT coalesce(sum(delta_seconds), 0) FROM credit_ledger WHERE account_id = $1`, accountID).Scan(&balance)
	if err != nil {
		return 0, fmt.Errorf("credit balance: %w", err)
	}
	return balance, nil
}

func (t *eventTx) DebitCredits(ctx context.Context, accountID, assetID string, seconds int64) (string, error) {
	id := newEntryID()
	_, err := t.conn.Exec(ctx, `INSERT INTO credit_ledger (entry_id, account_id, delta_seconds, reason, asset_id) VALUES ($1, $2, $3, 'charge', $4)`,
		id, accountID, -seconds, assetID)
	if err != nil {
		return "", fmt.Errorf("debit credits: %w", err)
	}
	if _, err := t.conn.Exec(ctx, `DELETE FROM awaiting_payment WHERE asset_id = $1`, assetID); err != nil {
		return "", fmt.Errorf("debit credits: %w", err)
	}
	return id, nil
}

func (t *eventTx) GrantCredits(ctx context.Context, accountID string, seconds int64) (string, error) {
	if seconds <= 0 {
		return "", domain.Invalid("seconds", "a grant must be positive")
	}
	return insertGrant(ctx, t.conn, accountID, seconds, "grant")
}

// execer runs a statement: a connection, a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertGrant(ctx context.Context, db execer, accountID string, seconds int64, reason string) (string, error) {
	id := newEntryID()
	_, err := db.Exec(ctx, `INSERT INTO credit_ledger (entry_id, account_id, delta_seconds, reason) VALUES ($1, $2, $3, $4)`,
		id, accountID, seconds, reason)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
		return "", fmt.Errorf("account %s: %w", accountID, domain.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("grant credits: %w", err)
	}
	return id, nil
}

func (t *eventTx) AwaitPayment(ctx context.Context, accountID, assetID string, seconds int64) error {
	_, err := t.conn.Exec(ctx, `INSERT INTO awaiting_payment (asset_id, account_id, seconds) VALUES ($1, $2, $3) ON CONFLICT (asset_id) DO NOTHING`,
		assetID, accountID, seconds)
	if err != nil {
		return fmt.Errorf("await payment: %w", err)
	}
	return nil
}

func (t *eventTx) AwaitingPayment(ctx context.Context, accountID string) ([]string, error) {
	return collectStrings(ctx, t.conn, `SELECT asset_id FROM awaiting_payment WHERE account_id = $1 ORDER BY since, asset_id`, accountID)
}

// IndexCut is held back until the transaction's next statement (see
// txConn).
func (t *eventTx) IndexCut(_ context.Context, cut *domain.Cut) error {
	t.conn.hold(func(err error) error { return fmt.Errorf("index cut: %w", err) }, `
		INSERT INTO asset_cuts (asset_id, cut_id, account_id, auto, processing) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (asset_id, cut_id) DO UPDATE SET processing = excluded.processing`,
		cut.AssetID(), cut.ID(), cut.AccountID(), cut.Auto() != nil, cut.State() == domain.CutStateProcessing && !cut.Deleted())
	return nil
}

func (t *eventTx) CutsInFlight(ctx context.Context, assetID string) ([]string, error) {
	cuts, err := collectStrings(ctx, t.conn, `SELECT cut_id FROM asset_cuts WHERE asset_id = $1 AND processing ORDER BY cut_id`, assetID)
	if err != nil {
		return nil, fmt.Errorf("cuts in flight: %w", err)
	}
	return cuts, nil
}

// CutsInFlight lists an asset's processing cuts for the media worker
// (encoders.InFlightCuts), in a transaction holding the asset's stream
// lock, so that a cut request that holds it is seen once it commits.
func (s *EventStore) CutsInFlight(ctx context.Context, assetID string) ([]string, error) {
	var cuts []string
	err := s.Transact(ctx, []string{assetID}, func(ctx context.Context, tx commands.Tx) (err error) {
		cuts, err = tx.CutsInFlight(ctx, assetID)
		return err
	})
	return cuts, err
}

func (t *eventTx) AutoCutsInFlight(ctx context.Context, accountID string) (int, error) {
	var n int
	err := t.conn.QueryRow(ctx, `SELECT count(*) FROM asset_cuts WHERE account_id = $1 AND auto AND processing`, accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("automatic cuts in flight: %w", err)
	}
	return n, nil
}

// The media queue's writes (commands.MediaQueue) are held back until the
// transaction's next statement (see txConn).

func (t *eventTx) QueueMediaJob(_ context.Context, j commands.MediaJob) error {
	var cut, part *string
	if j.CutID != "" {
		cut = &j.CutID
	}
	if j.Part != "" {
		p := string(j.Part)
		part = &p
	}
	t.conn.hold(func(err error) error { return fmt.Errorf("queue media job: %w", err) }, `
		INSERT INTO media_jobs (job_id, kind, account_id, asset_id, cut_id, part, state, since, correlation_id, causation_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (job_id) DO NOTHING`,
		j.JobID, string(j.Kind), j.AccountID, j.AssetID, cut, part, string(j.State), j.Since, j.CorrelationID, j.CausationID)
	return nil
}

func (t *eventTx) FinishMediaJob(_ context.Context, jobID string) error {
	t.conn.hold(func(err error) error { return fmt.Errorf("finish media job: %w", err) },
		`DELETE FROM media_jobs WHERE job_id = $1`, jobID)
	return nil
}

func (t *eventTx) ParkMediaJob(_ context.Context, jobID string) error {
	t.conn.hold(func(err error) error { return fmt.Errorf("park media job: %w", err) }, `
		UPDATE media_jobs SET state = 'waiting', worker_id = NULL, lease_until = NULL, not_before = NULL,
			attempts = CASE WHEN state = 'running' THEN greatest(attempts - 1, 0) ELSE attempts END
		WHERE job_id = $1`, jobID)
	return nil
}

func (t *eventTx) WakeMediaJobs(_ context.Context, assetID string) error {
	t.conn.hold(func(err error) error { return fmt.Errorf("wake media jobs: %w", err) },
		`UPDATE media_jobs SET state = 'pending' WHERE asset_id = $1 AND state = 'waiting'`, assetID)
	return nil
}

func collectStrings(ctx context.Context, q querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return out, nil
}

const newestRender = `SELECT render_id, live FROM render_signatures WHERE account_id = $1 AND signature = $2
	ORDER BY live DESC, created_at DESC LIMIT 1`

// newestLookup is a NewestRender looked up ahead (WillNeedNewestRender).
type newestLookup struct {
	accountID, signature string
	id                   string
	live, done           bool
}

func (t *eventTx) NewestRender(ctx context.Context, accountID, signature string) (string, bool, error) {
	if p := t.newest; p != nil && p.done && p.accountID == accountID && p.signature == signature {
		return p.id, p.live, nil
	}
	var (
		id   string
		live bool
	)
	err := t.conn.QueryRow(ctx, newestRender, accountID, signature).Scan(&id, &live)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("render signatures: %w", err)
	}
	return id, live, nil
}

// WillNeedNewestRender holds the lookup back for the transaction's next
// round trip, after the locks; NewestRender answers from it once it has
// run.
func (t *eventTx) WillNeedNewestRender(accountID, signature string) {
	p := &newestLookup{accountID: accountID, signature: signature}
	t.conn.holdRead(func(err error) error { return fmt.Errorf("render signatures: %w", err) }, func(row pgx.Row) error {
		err := row.Scan(&p.id, &p.live)
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
		p.done = err == nil
		return err
	}, newestRender, accountID, signature)
	t.newest = p
}

// ReserveSignature and ReleaseSignature are held back until the
// transaction's next statement (see txConn): the signature's lock is held,
// so the check before them decided already, and the unique index is only
// the last line of defence.
func (t *eventTx) ReserveSignature(_ context.Context, accountID, signature, renderID string) error {
	t.conn.hold(func(err error) error {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.ConstraintName == "render_signatures_one_live" {
			return domain.Conflict("signature_taken", "a live render with this signature exists")
		}
		return fmt.Errorf("reserve signature: %w", err)
	}, `INSERT INTO render_signatures (render_id, account_id, signature) VALUES ($1, $2, $3)`, renderID, accountID, signature)
	return nil
}

func (t *eventTx) ReleaseSignature(_ context.Context, renderID string) error {
	t.conn.hold(func(err error) error { return fmt.Errorf("release signature: %w", err) },
		`UPDATE render_signatures SET live = false WHERE render_id = $1`, renderID)
	return nil
}

// SetRenderJob is held back until the transaction's next statement (see
// txConn).
func (t *eventTx) SetRenderJob(_ context.Context, j commands.RenderJob) error {
	fail := func(err error) error { return fmt.Errorf("render queue: %w", err) }
	switch j.State {
	case domain.RenderStatePending, domain.RenderStateRunning:
		var worker *string
		var lease *time.Time
		if j.State == domain.RenderStateRunning {
			worker, lease = &j.WorkerID, &j.LeaseUntil
		}
		t.conn.hold(fail, `
			INSERT INTO render_jobs (render_id, account_id, state, attempt, worker_id, lease_until, since, trace_parent, trace_state)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (render_id) DO UPDATE SET state = excluded.state, attempt = excluded.attempt,
				worker_id = excluded.worker_id, lease_until = excluded.lease_until, since = excluded.since,
				trace_parent = excluded.trace_parent, trace_state = excluded.trace_state`,
			j.RenderID, j.AccountID, string(j.State), j.Attempt, worker, lease, j.Since, j.TraceParent, j.TraceState)
		if j.State == domain.RenderStateRunning {
			// The account was served now: its next render waits for the
			// accounts served longer ago (pendingFair).
			t.conn.hold(fail, `INSERT INTO render_claims (account_id, last_claimed_at) VALUES ($1, $2)
				ON CONFLICT (account_id) DO UPDATE SET last_claimed_at = excluded.last_claimed_at`, j.AccountID, j.Since)
		}
	default:
		// The render leaves the queue, and frees its place.
		t.conn.hold(fail, `WITH done AS (DELETE FROM render_jobs WHERE render_id = $1)
			UPDATE render_slots SET render_id = NULL WHERE render_id = $1`, j.RenderID)
	}
	return nil
}

// TakeRenderSlot is held back until the transaction's next statement (see
// txConn); renderd_take_render_slot (migration 00009) raises RDQ01 when the
// account's places are all taken.
func (t *eventTx) TakeRenderSlot(_ context.Context, accountID, renderID string, max int) error {
	t.conn.hold(func(err error) error {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "RDQ01" {
			return commands.ErrQueueFull
		}
		return fmt.Errorf("render queue place: %w", err)
	}, `SELECT renderd_take_render_slot($1, $2, $3)`, accountID, renderID, max)
	return nil
}

func (t *eventTx) RunningRenders(ctx context.Context, accountID string) (int, error) {
	var n int
	err := t.conn.QueryRow(ctx, `SELECT count(*) FROM render_jobs WHERE account_id = $1 AND state = 'running'`, accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("running renders: %w", err)
	}
	return n, nil
}

func (t *eventTx) RenderJob(ctx context.Context, renderID string) (commands.RenderJob, bool, error) {
	rows, err := t.conn.Query(ctx, `SELECT `+renderJobColumns+` FROM render_jobs WHERE render_id = $1 FOR UPDATE`, renderID)
	if err != nil {
		return commands.RenderJob{}, false, fmt.Errorf("render queue: %w", err)
	}
	j, err := pgx.CollectExactlyOneRow(rows, scanRenderJob)
	if errors.Is(err, pgx.ErrNoRows) {
		return commands.RenderJob{}, false, nil
	}
	if err != nil {
		return commands.RenderJob{}, false, fmt.Errorf("render queue: %w", err)
	}
	return j, true, nil
}

const renderJobColumns = `render_id, account_id, state, attempt, worker_id, lease_until, since, trace_parent, trace_state`

func scanRenderJob(row pgx.CollectableRow) (commands.RenderJob, error) {
	var j commands.RenderJob
	var state string
	var worker *string
	var lease *time.Time
	if err := row.Scan(&j.RenderID, &j.AccountID, &state, &j.Attempt, &worker, &lease, &j.Since, &j.TraceParent, &j.TraceState); err != nil {
		return j, err
	}
	j.State = domain.RenderState(state)
	if worker != nil {
		j.WorkerID = *worker
	}
	if lease != nil {
		j.LeaseUntil = *lease
	}
	return j, nil
}

// storageUsed is what an account stores plus what its live upload
// reservations may still bring.
const storageUsed = `SELECT coalesce((SELECT used_bytes FROM account_storage WHERE account_id = $1), 0)
	+ coalesce((SELECT sum(bytes) FROM upload_reservations WHERE account_id = $1 AND expires_at > $2), 0)`

// storageLookup is a StorageUsed read ahead (WillNeedStorageUsed).
type storageLookup struct {
	accountID string
	used      int64
	done      bool
}

func (t *eventTx) StorageUsed(ctx context.Context, accountID string, now time.Time) (int64, error) {
	if p := t.storage; p != nil && p.done && p.accountID == accountID {
		return p.used, nil
	}
	var used int64
	if err := t.conn.QueryRow(ctx, storageUsed, accountID, now).Scan(&used); err != nil {
		return 0, fmt.Errorf("storage used: %w", err)
	}
	return used, nil
}

// WillNeedStorageUsed holds the read back for the transaction's next round
// trip; StorageUsed answers from it once it has run.
func (t *eventTx) WillNeedStorageUsed(accountID string, now time.Time) {
	p := &storageLookup{accountID: accountID}
	t.conn.holdRead(func(err error) error { return fmt.Errorf("storage used: %w", err) }, func(row pgx.Row) error {
		err := row.Scan(&p.used)
		p.done = err == nil
		return err
	}, storageUsed, accountID, now)
	t.storage = p
}

// ReserveUpload removes the account's expired reservations (the part's own
// among them, if it expired) and holds the insert back until the
// transaction's next statement: a live reservation of the part is its
// primary key, so a second one surfaces there as ErrUploadInProgress.
func (t *eventTx) ReserveUpload(ctx context.Context, r commands.UploadReservation, now time.Time) ([]string, error) {
	stale, err := collectStrings(ctx, t.conn, `DELETE FROM upload_reservations WHERE account_id = $1 AND expires_at <= $2 RETURNING blob_key`,
		r.AccountID, now)
	if err != nil {
		return nil, fmt.Errorf("reserve upload: %w", err)
	}
	t.conn.hold(func(err error) error {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.ConstraintName == "upload_reservations_pkey" {
			return commands.ErrUploadInProgress
		}
		return fmt.Errorf("reserve upload: %w", err)
	}, `INSERT INTO upload_reservations (asset_id, part, account_id, blob_key, bytes, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.AssetID, string(r.Part), r.AccountID, r.BlobKey, r.Bytes, r.Expires)
	return stale, nil
}

func (t *eventTx) UploadInProgress(ctx context.Context, assetID string, part domain.AssetPart, now time.Time) (bool, error) {
	var busy bool
	err := t.conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM upload_reservations WHERE asset_id = $1 AND part = $2 AND expires_at > $3)`,
		assetID, string(part), now).Scan(&busy)
	if err != nil {
		return false, fmt.Errorf("upload in progress: %w", err)
	}
	return busy, nil
}

func (t *eventTx) EndUpload(_ context.Context, assetID string, part domain.AssetPart) error {
	t.conn.hold(func(err error) error { return fmt.Errorf("end upload: %w", err) },
		`DELETE FROM upload_reservations WHERE asset_id = $1 AND part = $2`, assetID, string(part))
	return nil
}

func (t *eventTx) ExtendUpload(ctx context.Context, assetID string, part domain.AssetPart, blobKey string, until time.Time) (bool, error) {
	tag, err := t.conn.Exec(ctx, `UPDATE upload_reservations SET expires_at = $4 WHERE asset_id = $1 AND part = $2 AND blob_key = $3`,
		assetID, string(part), blobKey, until)
	if err != nil {
		return false, fmt.Errorf("extend upload: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *eventTx) AddStorage(_ context.Context, accountID string, delta int64) error {
	if delta == 0 {
		return nil
	}
	t.conn.hold(func(err error) error { return fmt.Errorf("account storage: %w", err) },
		`INSERT INTO account_storage (account_id, used_bytes) VALUES ($1, $2)
		ON CONFLICT (account_id) DO UPDATE SET used_bytes = account_storage.used_bytes + excluded.used_bytes`, accountID, delta)
	return nil
}
