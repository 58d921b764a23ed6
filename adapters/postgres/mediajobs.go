package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// MediaJobs is the media workers' side of the media queue that the command
// transactions keep (commands.MediaQueue): claims, the leases of running
// jobs, and the end of a claim the job's command left as it was. Leases are
// timed by Postgres' clock, so workers' clocks never disagree about them.
type MediaJobs struct{ pool *pgxpool.Pool }

// NewMediaJobs returns the queue on pool.
func NewMediaJobs(pool *pgxpool.Pool) *MediaJobs { return &MediaJobs{pool: pool} }

// claimMedia takes the next job: pending (and not held back), or, with $4
// set, running under a lease that ran out (its worker vanished: attempts + 1
// counts that). Fair across accounts: the job of the account with the fewest
// running jobs goes first, then the oldest. With $3 set only probes are
// claimed (see encoders.MediaWorker). SKIP LOCKED lets concurrent
// claimers take different jobs without waiting; a job claimed meanwhile no
// longer matches when its lock is taken and is passed over.
const claimMedia = `
WITH running AS (
    SELECT account_id, count(*) AS n FROM media_jobs
    WHERE state = 'running' AND lease_until >= now() GROUP BY account_id
), next AS (
    SELECT j.job_id FROM media_jobs j LEFT JOIN running r ON r.account_id = j.account_id
    WHERE ((j.state = 'pending' AND (j.not_before IS NULL OR j.not_before <= now()))
       OR ($4 AND j.state = 'running' AND j.lease_until < now()))
      AND (NOT $3 OR j.kind = 'probe')
    ORDER BY coalesce(r.n, 0), j.since, j.job_id
    LIMIT 1
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE media_jobs m SET state = 'running', worker_id = $1, lease_until = now() + $2::interval,
    attempts = m.attempts + 1, not_before = NULL
FROM next WHERE m.job_id = next.job_id
RETURNING ` + mediaJobColumns

const mediaJobColumns = `m.job_id, m.kind, m.account_id, m.asset_id, m.cut_id, m.part, m.state, m.attempts, m.worker_id, m.since, m.correlation_id, m.causation_id`

// Claim takes the next job for workerID under a lease of the given
// length (only a probe when probesOnly; a job whose lease ran out only when
// takeOver), or ok = false when no job is claimable.
func (q *MediaJobs) Claim(ctx context.Context, workerID string, lease time.Duration, probesOnly, takeOver bool) (commands.MediaJob, bool, error) {
	rows, err := q.pool.Query(ctx, claimMedia, workerID, lease, probesOnly, takeOver)
	if err != nil {
		return commands.MediaJob{}, false, fmt.Errorf("claim a media job: %w", err)
	}
	j, err := pgx.CollectExactlyOneRow(rows, scanMediaJob)
	if errors.Is(err, pgx.ErrNoRows) {
		return commands.MediaJob{}, false, nil
	}
	if err != nil {
		return commands.MediaJob{}, false, fmt.Errorf("claim a media job: %w", err)
	}
	return j, true, nil
}

// Renew extends a claim's lease to lease from now, one that ran out but
// was not taken over included. held is false once the claim has ended: the
// job was decided, parked, or claimed again after its lease ran out.
func (q *MediaJobs) Renew(ctx context.Context, j commands.MediaJob, lease time.Duration) (held bool, err error) {
	tag, err := q.pool.Exec(ctx, `UPDATE media_jobs SET lease_until = now() + $4::interval
		WHERE job_id = $1 AND state = 'running' AND worker_id = $2 AND attempts = $3`, j.JobID, j.WorkerID, j.Attempts, lease)
	if err != nil {
		return false, fmt.Errorf("renew the lease of %s: %w", j.JobID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Release hands a claim back: the job is pending again, not before
// notBefore, and the claim does not count as an attempt.
func (q *MediaJobs) Release(ctx context.Context, j commands.MediaJob, notBefore time.Time) error {
	_, err := q.pool.Exec(ctx, `UPDATE media_jobs SET state = 'pending', worker_id = NULL, lease_until = NULL,
			attempts = greatest(attempts - 1, 0), not_before = $4
		WHERE job_id = $1 AND state = 'running' AND worker_id = $2 AND attempts = $3`, j.JobID, j.WorkerID, j.Attempts, notBefore)
	if err != nil {
		return fmt.Errorf("release %s: %w", j.JobID, err)
	}
	return nil
}

// Done removes a job whose claim is still this one: its command had
// nothing to do, or refused it for good. A job its command finished or
// parked is not touched.
func (q *MediaJobs) Done(ctx context.Context, j commands.MediaJob) error {
	_, err := q.pool.Exec(ctx, `DELETE FROM media_jobs WHERE job_id = $1 AND state = 'running' AND worker_id = $2 AND attempts = $3`,
		j.JobID, j.WorkerID, j.Attempts)
	if err != nil {
		return fmt.Errorf("end the claim of %s: %w", j.JobID, err)
	}
	return nil
}

func scanMediaJob(row pgx.CollectableRow) (commands.MediaJob, error) {
	var (
		j                   commands.MediaJob
		kind, state         string
		cut, part, workerID *string
	)
	if err := row.Scan(&j.JobID, &kind, &j.AccountID, &j.AssetID, &cut, &part, &state, &j.Attempts, &workerID, &j.Since, &j.CorrelationID, &j.CausationID); err != nil {
		return j, err
	}
	j.Kind, j.State = commands.MediaJobKind(kind), commands.MediaJobState(state)
	if cut != nil {
		j.CutID = *cut
	}
	if part != nil {
		j.Part = domain.AssetPart(*part)
	}
	if workerID != nil {
		j.WorkerID = *workerID
	}
	return j, nil
}

// ListMediaJobs returns every job of the media queue by id, for tests and
// operators' checks.
func ListMediaJobs(ctx context.Context, q Querier) ([]commands.MediaJob, error) {
	rows, err := q.Query(ctx, `SELECT `+mediaJobColumns+` FROM media_jobs m ORDER BY m.job_id`)
	if err != nil {
		return nil, fmt.Errorf("media jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, scanMediaJob)
	if err != nil {
		return nil, fmt.Errorf("media jobs: %w", err)
	}
	return jobs, nil
}
