package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/renderd/renderd/domain"
)

// Checkpoint is a place in the log's commit-safe order: (transaction id,
// position). Everything at or before it has been read.
type Checkpoint struct {
	TransactionID uint64
	Position      int64
}

// LogEntry is a stored event as the relay ships it: the recorded event
// without its Event, which stays in its stored wire form, not decoded, and
// its place in the log (Recorded.Position is Checkpoint.Position).
type LogEntry struct {
	Checkpoint Checkpoint
	domain.Recorded
	WireName string
	Data     []byte
}

// Querier is what reading the log needs: a pool, a connection or a tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ReadLog returns up to limit entries after cp in commit-safe order: ordered
// by (transaction id, position) and stopping short of the oldest transaction
// still in progress, so an entry can never later appear before one already
// returned. Positions alone would not do: they are drawn at insert time, and
// a transaction that inserted earlier may commit later.
//
// The ORDER BY names the table's columns: a bare transaction_id would be
// the selected text (an output name wins over an input column in ORDER BY),
// which sorts "10" before "9".
func ReadLog(ctx context.Context, q Querier, after Checkpoint, limit int) ([]LogEntry, error) {
	return queryLog(ctx, q, `
		SELECT transaction_id::text, position, event_id, stream_id, stream_type, stream_version, event_type,
		       account_id, correlation_id, causation_id, occurred_at, data::text, trace_parent, trace_state
		FROM events
		WHERE (transaction_id, position) > ($1::text::xid8, $2)
		  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY events.transaction_id, events.position
		LIMIT $3`, strconv.FormatUint(after.TransactionID, 10), after.Position, limit)
}

// LastEventsAfter returns, for every stream with an event after cp, the
// stream's last event, as q's snapshot sees the log: every committed event,
// not only the commit-safe prefix ReadLog stops at. Only a reader that has
// shut out every other writer of what it derives can use it without
// missing an event committed later (`renderd replay --swap`, holding the
// read-model tables locked).
func LastEventsAfter(ctx context.Context, q Querier, after Checkpoint) ([]LogEntry, error) {
	return queryLog(ctx, q, `
		SELECT DISTINCT ON (stream_id) transaction_id::text, position, event_id, stream_id, stream_type, stream_version,
		       event_type, account_id, correlation_id, causation_id, occurred_at, data::text, trace_parent, trace_state
		FROM events
		WHERE (transaction_id, position) > ($1::text::xid8, $2)
		ORDER BY stream_id, stream_version DESC`, strconv.FormatUint(after.TransactionID, 10), after.Position)
}

// queryLog runs a query of the log's entries (the columns scanLogEntry
// reads).
func queryLog(ctx context.Context, q Querier, sql string, args ...any) ([]LogEntry, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	entries, err := pgx.CollectRows(rows, scanLogEntry)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return entries, nil
}

func scanLogEntry(row pgx.CollectableRow) (LogEntry, error) {
	var (
		e    LogEntry
		txid string
		id   uuid.UUID
		typ  string
		data string
	)
	err := row.Scan(&txid, &e.Checkpoint.Position, &id, &e.StreamID, &typ, &e.StreamVersion, &e.WireName,
		&e.AccountID, &e.CorrelationID, &e.CausationID, &e.OccurredAt, &data, &e.TraceParent, &e.TraceState)
	if err != nil {
		return e, err
	}
	if e.Checkpoint.TransactionID, err = strconv.ParseUint(txid, 10, 64); err != nil {
		return e, fmt.Errorf("transaction id %q: %w", txid, err)
	}
	e.ID = id.String()
	e.StreamType = domain.AggregateType(typ)
	e.Position = e.Checkpoint.Position
	e.OccurredAt = e.OccurredAt.UTC()
	e.Data = []byte(data)
	return e, nil
}

// LoadCheckpoint returns the named reader's checkpoint (zero if it has none).
func LoadCheckpoint(ctx context.Context, q Querier, name string) (Checkpoint, error) {
	var (
		cp   Checkpoint
		txid string
	)
	err := q.QueryRow(ctx, `SELECT transaction_id::text, position FROM log_checkpoints WHERE name = $1`, name).Scan(&txid, &cp.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return cp, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	if cp.TransactionID, err = strconv.ParseUint(txid, 10, 64); err != nil {
		return cp, fmt.Errorf("checkpoint %s: transaction id %q: %w", name, txid, err)
	}
	return cp, nil
}

// SaveCheckpoint records the named reader's progress.
func SaveCheckpoint(ctx context.Context, q Querier, name string, cp Checkpoint) error {
	_, err := q.Exec(ctx, `
		INSERT INTO log_checkpoints (name, transaction_id, position, updated_at)
		VALUES ($1, $2::text::xid8, $3, now())
		ON CONFLICT (name) DO UPDATE
		SET transaction_id = excluded.transaction_id, position = excluded.position, updated_at = excluded.updated_at`,
		name, strconv.FormatUint(cp.TransactionID, 10), cp.Position)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// Unread reports whether committed events follow cp that a ReadLog after
// cp did not return: ones it held back behind a transaction still in
// progress, or ones committed since. That older transaction may never
// announce its commit (it need not append events: a projector's, the
// relay's own), so a reader that sees this retries soon instead of waiting
// for a notification. (Asking only for rows behind the current snapshot's
// xmin would race with that transaction committing in between.)
func Unread(ctx context.Context, q Querier, after Checkpoint) (bool, error) {
	var unread bool
	// Not EXISTS: its generic plan (pgx prepares statements) is a sequential
	// scan, and the rows it looks for are the newest, at the table's end. A
	// scalar LIMIT 1 subquery in the index's order is an index probe in any plan.
	err := q.QueryRow(ctx, `SELECT (SELECT true FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2)
		ORDER BY transaction_id, position LIMIT 1) IS NOT NULL`,
		strconv.FormatUint(after.TransactionID, 10), after.Position).Scan(&unread)
	if err != nil {
		return false, fmt.Errorf("unread events: %w", err)
	}
	return unread, nil
}

// The auditors' reads (`renderd history`, `renderd verify`): the log as
// stored, worker details included, which the API's public history leaves
// out.

// StreamEntries returns a stream's events as stored, undecoded, oldest
// first; none for an unknown stream.
func (s *EventStore) StreamEntries(ctx context.Context, streamID string) ([]LogEntry, error) {
	return queryLog(ctx, s.pool, `
		SELECT transaction_id::text, position, event_id, stream_id, stream_type, stream_version, event_type,
		       account_id, correlation_id, causation_id, occurred_at, data::text, trace_parent, trace_state
		FROM events WHERE stream_id = $1 ORDER BY stream_version`, streamID)
}

// StreamsWithEvent returns the streams that hold an event stored under
// wireName whose data has field equal to value, in the order of those
// events: say, the renders of an asset.
func (s *EventStore) StreamsWithEvent(ctx context.Context, wireName, field, value string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT stream_id FROM events WHERE event_type = $1 AND data->>$2 = $3 ORDER BY position`,
		wireName, field, value)
	if err != nil {
		return nil, fmt.Errorf("streams with %s: %w", wireName, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("streams with %s: %w", wireName, err)
	}
	return ids, nil
}

// VersionGap is a stream whose versions are not 1, 2, … n.
type VersionGap struct {
	StreamID    string
	Events      int64
	First, Last int64 // the lowest and highest version
}

// VersionGaps returns every stream whose versions are not contiguous from 1.
func (s *EventStore) VersionGaps(ctx context.Context) ([]VersionGap, error) {
	rows, err := s.pool.Query(ctx, `SELECT stream_id, count(*), min(stream_version), max(stream_version)
		FROM events GROUP BY stream_id HAVING min(stream_version) <> 1 OR max(stream_version) <> count(*)`)
	if err != nil {
		return nil, fmt.Errorf("version gaps: %w", err)
	}
	gaps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (VersionGap, error) {
		var g VersionGap
		return g, row.Scan(&g.StreamID, &g.Events, &g.First, &g.Last)
	})
	if err != nil {
		return nil, fmt.Errorf("version gaps: %w", err)
	}
	return gaps, nil
}

// EachEventOf calls fn with every event of an aggregate type's streams,
// stream by stream in version order, as it reads them: the whole log need
// not fit in memory. It stops at fn's first error and returns it.
func (s *EventStore) EachEventOf(ctx context.Context, t domain.AggregateType, fn func(streamID string, version int64, wireName string) error) error {
	rows, err := s.pool.Query(ctx, `SELECT stream_id, stream_version, event_type FROM events
		WHERE stream_type = $1 ORDER BY stream_id, stream_version`, string(t))
	if err != nil {
		return fmt.Errorf("events of %s streams: %w", t, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, wireName string
			version      int64
		)
		if err := rows.Scan(&id, &version, &wireName); err != nil {
			return fmt.Errorf("events of %s streams: %w", t, err)
		}
		if err := fn(id, version, wireName); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("events of %s streams: %w", t, err)
	}
	return nil
}

// Checkpoint returns the named reader's checkpoint (zero if it has none).
func (s *EventStore) Checkpoint(ctx context.Context, name string) (Checkpoint, error) {
	return LoadCheckpoint(ctx, s.pool, name)
}

// RecordedAfter counts the events after cp and returns when the oldest of
// them was recorded (zero for none).
func (s *EventStore) RecordedAfter(ctx context.Context, cp Checkpoint) (int64, time.Time, error) {
	var (
		n      int64
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(recorded_at) FROM events
		WHERE (transaction_id, position) > ($1::text::xid8, $2)`, strconv.FormatUint(cp.TransactionID, 10), cp.Position).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("events after %d/%d: %w", cp.TransactionID, cp.Position, err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, *oldest, nil
}
