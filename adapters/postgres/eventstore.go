package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// Codec maps domain events to their stored (public wire) form and back.
type Codec interface {
	Marshal(e domain.Event) (wireName string, data []byte, err error)
	Unmarshal(wireName string, data []byte) (domain.Event, error)
}

// EventStore is the Postgres event store. Appends take a per-stream advisory
// lock as the first statement of their transaction, so one stream's
// transactions are serialised and their transaction ids increase with their
// versions: the relay, reading in transaction-id order, keeps every stream in
// order on Kafka.
type EventStore struct {
	pool   *pgxpool.Pool
	codec  Codec
	notify *CommitNotifier // may be nil: readers then rely on polling
}

var _ commands.EventStore = (*EventStore)(nil)

// NewEventStore returns an event store over pool. notify, if not nil, is
// poked after every commit that appended events.
func NewEventStore(pool *pgxpool.Pool, codec Codec, notify *CommitNotifier) *EventStore {
	return &EventStore{pool: pool, codec: codec, notify: notify}
}

// Transact implements commands.EventStore.
func (s *EventStore) Transact(ctx context.Context, streams []string, fn func(context.Context, commands.EventTx) error) error {
	if len(streams) == 0 {
		return errors.New("transact: no streams to lock")
	}
	pgtx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer pgtx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	if err := lockStreams(ctx, pgtx, streams); err != nil {
		return err
	}
	tx := &eventTx{store: s, tx: pgtx, locked: streams}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := pgtx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tx.appended && s.notify != nil {
		s.notify.Poke()
	}
	return nil
}

// Load implements commands.EventStore.
func (s *EventStore) Load(ctx context.Context, streamID string) ([]domain.Recorded, error) {
	return s.load(ctx, s.pool, streamID)
}

// LockKey maps a stream id onto the 64-bit advisory-lock key space. Hash
// collisions only make two streams share a lock, never break ordering.
func LockKey(streamID string) int64 {
	h := fnv.New64a()
	h.Write([]byte(streamID))
	return int64(h.Sum64()) //nolint:gosec // a bit pattern, not a quantity
}

// lockStreams takes the transaction-scoped advisory locks of streams in key
// order (a global order, so overlapping transactions cannot deadlock).
func lockStreams(ctx context.Context, tx pgx.Tx, streams []string) error {
	keys := make([]int64, 0, len(streams))
	for _, id := range streams {
		keys = append(keys, LockKey(id))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 1 {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", keys[0]); err != nil {
			return fmt.Errorf("lock stream: %w", err)
		}
		return nil
	}
	batch := &pgx.Batch{}
	for _, k := range keys {
		batch.Queue("SELECT pg_advisory_xact_lock($1)", k)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("lock streams: %w", err)
	}
	return nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const selectColumns = `position, event_id, stream_id, stream_type, stream_version, event_type,
	account_id, correlation_id, causation_id, occurred_at, data`

func (s *EventStore) load(ctx context.Context, q querier, streamID string) ([]domain.Recorded, error) {
	rows, err := q.Query(ctx, `SELECT `+selectColumns+` FROM events WHERE stream_id = $1 ORDER BY stream_version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, err)
	}
	recs, err := pgx.CollectRows(rows, s.scanRecorded)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, err)
	}
	return recs, nil
}

func (s *EventStore) scanRecorded(row pgx.CollectableRow) (domain.Recorded, error) {
	var (
		r        domain.Recorded
		id       uuid.UUID
		typ      string
		wireName string
		data     []byte
	)
	err := row.Scan(&r.Position, &id, &r.StreamID, &typ, &r.StreamVersion, &wireName,
		&r.AccountID, &r.CorrelationID, &r.CausationID, &r.OccurredAt, &data)
	if err != nil {
		return r, err
	}
	r.ID = id.String()
	r.StreamType = domain.AggregateType(typ)
	r.OccurredAt = r.OccurredAt.UTC()
	if r.Event, err = s.codec.Unmarshal(wireName, data); err != nil {
		return r, fmt.Errorf("event %s (%s): %w", r.ID, wireName, err)
	}
	return r, nil
}

type eventTx struct {
	store    *EventStore
	tx       pgx.Tx
	locked   []string
	appended bool
}

func (t *eventTx) Load(ctx context.Context, streamID string) ([]domain.Recorded, error) {
	return t.store.load(ctx, t.tx, streamID)
}

func (t *eventTx) Append(ctx context.Context, streamID string, expected commands.ExpectedVersion, meta domain.Metadata, events ...domain.Event) ([]domain.Recorded, error) {
	if !slices.Contains(t.locked, streamID) {
		return nil, fmt.Errorf("append to %s: %w", streamID, commands.ErrStreamNotLocked)
	}
	if len(events) == 0 {
		return nil, nil
	}
	if meta.AccountID == "" || meta.OccurredAt.IsZero() {
		return nil, errors.New("append: metadata needs an account id and an occurred-at time")
	}
	var current int64
	err := t.tx.QueryRow(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`, streamID).Scan(&current)
	if err != nil {
		return nil, fmt.Errorf("append to %s: read version: %w", streamID, err)
	}
	if !commands.Matches(expected, current) {
		return nil, &commands.ConcurrencyError{StreamID: streamID, Expected: expected, Actual: current}
	}

	recs, err := t.build(streamID, current, meta, events)
	if err != nil {
		return nil, err
	}
	if err := t.insert(ctx, recs); err != nil {
		return nil, err
	}
	t.appended = true
	return recs, nil
}

// build turns domain events into records with ids and versions; positions
// are filled in by insert.
func (t *eventTx) build(streamID string, current int64, meta domain.Metadata, events []domain.Event) ([]domain.Recorded, error) {
	streamType := events[0].AggregateType()
	recs := make([]domain.Recorded, len(events))
	for i, e := range events {
		if e.AggregateType() != streamType {
			return nil, fmt.Errorf("append to %s: mixes %s and %s events", streamID, streamType, e.AggregateType())
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("event id: %w", err)
		}
		m := meta
		m.OccurredAt = meta.OccurredAt.UTC().Truncate(time.Microsecond) // Postgres precision
		recs[i] = domain.Recorded{
			ID: id.String(), StreamID: streamID, StreamType: streamType,
			StreamVersion: current + int64(i) + 1, Metadata: m, Event: e,
		}
	}
	return recs, nil
}

const insertEvent = `INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type,
	account_id, correlation_id, causation_id, occurred_at, data)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING position`

func (t *eventTx) insert(ctx context.Context, recs []domain.Recorded) error {
	batch := &pgx.Batch{}
	for i := range recs {
		r := &recs[i]
		wireName, data, err := t.store.codec.Marshal(r.Event)
		if err != nil {
			return fmt.Errorf("append to %s: %w", r.StreamID, err)
		}
		batch.Queue(insertEvent, r.ID, r.StreamID, string(r.StreamType), r.StreamVersion, wireName,
			r.AccountID, r.CorrelationID, r.CausationID, r.OccurredAt, data).
			QueryRow(func(row pgx.Row) error { return row.Scan(&r.Position) })
	}
	if err := t.tx.SendBatch(ctx, batch).Close(); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.ConstraintName == "events_stream_version_key" {
			// Only a writer that skipped the stream lock can get here.
			return &commands.ConcurrencyError{StreamID: recs[0].StreamID, Expected: commands.Exactly(recs[0].StreamVersion - 1), Actual: -1}
		}
		return fmt.Errorf("append to %s: %w", recs[0].StreamID, err)
	}
	return nil
}
