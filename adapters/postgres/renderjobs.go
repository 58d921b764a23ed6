package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/commands"
)

// RenderJobs is the encoders' side of the render queue that the command
// transactions keep (commands.RenderQueue): the renders waiting for a claim,
// and the leases of running ones, which their workers renew here without
// appending events.
type RenderJobs struct{ pool *pgxpool.Pool }

// NewRenderJobs returns the queue on pool.
func NewRenderJobs(pool *pgxpool.Pool) *RenderJobs { return &RenderJobs{pool: pool} }

// pendingFair orders the queue fairly across accounts: a render's turn is
// its account's running renders plus its place among the account's pending
// ones, so the next claim goes to the oldest render of the account with the
// fewest running. Accounts with the same turn go round-robin: the account
// whose render was claimed longest ago (or never) first, then the oldest
// render. Accounts at their running limit ($2 > 0) are left out. Each
// account contributes at most $1 renders (the LATERAL), so one account's
// long queue costs the query nothing.
const pendingFair = `
WITH running AS (
    SELECT account_id, count(*) AS n FROM render_jobs WHERE state = 'running' GROUP BY account_id
), turns AS (
    SELECT p.render_id, p.account_id, p.since, p.trace_parent, p.trace_state, coalesce(r.n, 0) + p.place AS turn,
           coalesce(c.last_claimed_at, '-infinity') AS served
    FROM (SELECT DISTINCT account_id FROM render_jobs WHERE state = 'pending') a
    CROSS JOIN LATERAL (
        SELECT render_id, account_id, since, trace_parent, trace_state, row_number() OVER (ORDER BY since, render_id) AS place
        FROM render_jobs WHERE account_id = a.account_id AND state = 'pending'
        ORDER BY since, render_id LIMIT $1) p
    LEFT JOIN running r ON r.account_id = p.account_id
    LEFT JOIN render_claims c ON c.account_id = p.account_id
)
SELECT render_id, account_id, trace_parent, trace_state FROM turns
WHERE $2 <= 0 OR turn <= $2
ORDER BY turn, served, since, render_id
LIMIT $1`

// Pending returns up to limit renders waiting for an encoder, in the order
// they should be claimed (pendingFair). maxRunning > 0 leaves out accounts
// that run that many renders already.
func (q *RenderJobs) Pending(ctx context.Context, limit, maxRunning int) ([]commands.PendingRender, error) {
	rows, err := q.pool.Query(ctx, pendingFair, limit, maxRunning)
	if err != nil {
		return nil, fmt.Errorf("pending renders: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (commands.PendingRender, error) {
		var p commands.PendingRender
		return p, row.Scan(&p.RenderID, &p.AccountID, &p.TraceParent, &p.TraceState)
	})
	if err != nil {
		return nil, fmt.Errorf("pending renders: %w", err)
	}
	return out, nil
}

// Expired returns up to limit running jobs whose lease ended before now,
// longest expired first.
func (q *RenderJobs) Expired(ctx context.Context, now time.Time, limit int) ([]commands.RenderJob, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+renderJobColumns+` FROM render_jobs
		WHERE state = 'running' AND lease_until < $1 ORDER BY lease_until LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("expired leases: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, scanRenderJob)
	if err != nil {
		return nil, fmt.Errorf("expired leases: %w", err)
	}
	return jobs, nil
}

// Renew extends the lease of a running attempt to until, also when the
// lease already ran out (a database outage kept the worker from renewing)
// as long as no reaper re-queued the render. held is false when the
// attempt no longer runs for this worker: the render was cancelled,
// finished, or its lease was reaped and the render re-queued.
func (q *RenderJobs) Renew(ctx context.Context, renderID string, attempt int, workerID string, until time.Time) (held bool, err error) {
	tag, err := q.pool.Exec(ctx, `UPDATE render_jobs SET lease_until = $4
		WHERE render_id = $1 AND state = 'running' AND attempt = $2 AND worker_id = $3`, renderID, attempt, workerID, until)
	if err != nil {
		return false, fmt.Errorf("renew lease of %s: %w", renderID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Held reports whether the attempt still runs for this worker (see Renew),
// without touching the lease: workers ask it often to learn of a cancel.
func (q *RenderJobs) Held(ctx context.Context, renderID string, attempt int, workerID string) (bool, error) {
	var held bool
	err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM render_jobs
		WHERE render_id = $1 AND state = 'running' AND attempt = $2 AND worker_id = $3)`, renderID, attempt, workerID).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("lease of %s: %w", renderID, err)
	}
	return held, nil
}

// Jobs returns the render queue's rows of the given renders; a render
// without one (finished, or unknown) is missing from the map.
func (q *RenderJobs) Jobs(ctx context.Context, renderIDs []string) (map[string]commands.RenderJob, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+renderJobColumns+` FROM render_jobs WHERE render_id = ANY($1)`, renderIDs)
	if err != nil {
		return nil, fmt.Errorf("render jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, scanRenderJob)
	if err != nil {
		return nil, fmt.Errorf("render jobs: %w", err)
	}
	out := make(map[string]commands.RenderJob, len(jobs))
	for _, j := range jobs {
		out[j.RenderID] = j
	}
	return out, nil
}
