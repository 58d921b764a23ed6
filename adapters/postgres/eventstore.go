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
// MarshalStored also returns the event as Unmarshal will read it back (the
// wire form keeps durations to the microsecond), which Append returns
// without decoding what it just encoded.
type Codec interface {
	MarshalStored(e domain.Event) (wireName string, data []byte, stored domain.Event, err error)
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
func (s *EventStore) Transact(ctx context.Context, streams []string, fn func(context.Context, commands.Tx) error) error {
	if len(streams) == 0 {
		return errors.New("transact: no streams to lock")
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// A connection released inside a transaction (after an error, or a
	// failed ROLLBACK) is closed by the pool rather than reused.
	defer conn.Release()

	tx := &eventTx{store: s, conn: beginLocked(conn, streams), locked: streams}
	if err := fn(ctx, tx); err != nil {
		tx.conn.rollback(ctx)
		return withActualVersion(ctx, conn, err)
	}
	// With the writes held back: one of them may fail here.
	if err := tx.conn.commit(ctx); err != nil {
		tx.conn.rollback(ctx)
		return withActualVersion(ctx, conn, err)
	}
	if tx.appended && s.notify != nil {
		s.notify.Poke()
	}
	return nil
}

// withActualVersion completes a concurrency conflict found inside an
// aborted transaction (Actual -1) with the stream's version, read after the
// rollback on the same connection.
func withActualVersion(ctx context.Context, conn *pgxpool.Conn, err error) error {
	var ce *commands.ConcurrencyError
	if !errors.As(err, &ce) || ce.Actual >= 0 {
		return err
	}
	if current, qerr := streamVersion(context.WithoutCancel(ctx), conn, ce.StreamID); qerr == nil {
		ce.Actual = current
	}
	return err
}

// streamVersion is a stream's current version (0 for none).
func streamVersion(ctx context.Context, q Querier, streamID string) (int64, error) {
	var current int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`, streamID).Scan(&current)
	return current, err
}

// beginLocked holds back BEGIN and the advisory locks of streams, in key
// order (a global order, so transactions over overlapping streams cannot
// deadlock), for the transaction's first round trip: they travel with its
// first statement. Each lock is its own statement, so every later
// statement's snapshot is taken after the locks are held.
func beginLocked(conn *pgxpool.Conn, streams []string) *txConn {
	keys := make([]int64, 0, len(streams))
	for _, id := range streams {
		keys = append(keys, LockKey(id))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)

	c := &txConn{conn: conn}
	failed := func(err error) error { return fmt.Errorf("begin and lock streams: %w", err) }
	c.hold(failed, "BEGIN")
	for _, k := range keys {
		c.hold(failed, "SELECT pg_advisory_xact_lock($1)", k)
	}
	c.opening = len(c.later)
	return c
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

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const selectColumns = `position, event_id, stream_id, stream_type, stream_version, event_type,
	account_id, correlation_id, causation_id, occurred_at, data, trace_parent, trace_state`

func (s *EventStore) load(ctx context.Context, q querier, streamID string) ([]domain.Recorded, error) {
	rows, err := q.Query(ctx, `SELECT `+selectColumns+` FROM events WHERE stream_id = $1 ORDER BY stream_version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, refusedID(err))
	}
	recs, err := pgx.CollectRows(rows, s.scanRecorded)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, refusedID(err))
	}
	return recs, nil
}

// refusedID reports a stream id whose bytes Postgres refuses as text (NUL:
// SQLSTATE 22021, 22P05) as not found as well: no stream has it. The API
// refuses such ids first (ports/httpapi/input.go); this keeps one that
// slips through from becoming a 500. It stays an error, so no command goes
// on in the transaction the refusal aborted.
func refusedID(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && (pg.Code == "22021" || pg.Code == "22P05") {
		return errors.Join(err, domain.ErrNotFound)
	}
	return err
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
		&r.AccountID, &r.CorrelationID, &r.CausationID, &r.OccurredAt, &data, &r.TraceParent, &r.TraceState)
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
	conn     *txConn
	locked   []string
	appended bool
	newest   *newestLookup  // WillNeedNewestRender's
	storage  *storageLookup // WillNeedStorageUsed's
}

func (t *eventTx) Load(ctx context.Context, streamID string) ([]domain.Recorded, error) {
	return t.store.load(ctx, t.conn, streamID)
}

// appendEvents inserts a stream's new events in one statement that also
// checks the expected version: the stream lock is held, so the version it
// reads cannot move before the insert. $9 < 0 accepts any version.
const appendEvents = `
INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type,
                    account_id, correlation_id, causation_id, occurred_at, data, trace_parent, trace_state)
SELECT e.id, $1, $2, cur.version + e.n, e.type, $3, $4, $5, $6, e.data::jsonb, $11, $12
FROM (SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1) AS cur,
     unnest($7::uuid[], $8::text[], $10::text[]) WITH ORDINALITY AS e(id, type, data, n)
WHERE $9::bigint < 0 OR cur.version = $9
RETURNING event_id, stream_version, position`

func (t *eventTx) Append(ctx context.Context, streamID string, expected commands.ExpectedVersion, meta domain.Metadata, events ...domain.Event) ([]domain.Recorded, error) {
	streamType, err := commands.CheckAppend(t.locked, streamID, meta, events)
	if err != nil || len(events) == 0 {
		return nil, err
	}
	occurredAt := meta.OccurredAt.UTC().Truncate(time.Microsecond) // Postgres' precision
	ids := make([]uuid.UUID, len(events))
	types := make([]string, len(events))
	data := make([]string, len(events))
	// The records returned hold the events as stored, as Load and every
	// consumer read them: the wire form rounds durations to microseconds.
	stored := make([]domain.Event, len(events))
	for i, e := range events {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("event id: %w", err)
		}
		wire, payload, ev, err := t.store.codec.MarshalStored(e)
		if err != nil {
			return nil, fmt.Errorf("append to %s: %w", streamID, err)
		}
		ids[i], types[i], data[i], stored[i] = id, wire, string(payload), ev
	}

	m := meta
	m.OccurredAt = occurredAt
	if v, any := commands.Expected(expected); !any && v == 0 {
		return t.open(streamID, streamType, m, ids, types, data, stored), nil
	}

	// The writes held back travel with the append.
	br, err := t.conn.send(ctx, func(b *pgx.Batch) {
		b.Queue(appendEvents, streamID, string(streamType), meta.AccountID, meta.CorrelationID,
			meta.CausationID, occurredAt, ids, types, expectedArg(expected), data, meta.TraceParent, meta.TraceState)
	})
	if err != nil {
		return nil, err
	}
	type inserted struct {
		id       uuid.UUID
		version  int64
		position int64
	}
	var got []inserted
	rows, err := br.Query()
	if err == nil {
		got, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (inserted, error) {
			var in inserted
			return in, r.Scan(&in.id, &in.version, &in.position)
		})
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "events_stream_version_key" {
		// Only a writer that skipped the stream lock can race us here; the
		// transaction is aborted, so Transact reads the actual version
		// after the rollback (withActualVersion).
		return nil, &commands.ConcurrencyError{StreamID: streamID, Expected: expected, Actual: -1}
	}
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", streamID, err)
	}
	if len(got) == 0 {
		return nil, t.conflict(ctx, streamID, expected)
	}
	recs := make([]domain.Recorded, len(events))
	for _, in := range got {
		n := slices.Index(ids, in.id)
		recs[n] = domain.Recorded{ID: in.id.String(), StreamID: streamID, StreamType: streamType,
			StreamVersion: in.version, Position: in.position, Metadata: m, Event: stored[n]}
	}
	t.appended = true
	return recs, nil
}

// openStream inserts a stream's first events, at versions 1..n: a stream
// that exists already breaks events_stream_version_key.
const openStream = `
INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type,
                    account_id, correlation_id, causation_id, occurred_at, data, trace_parent, trace_state)
SELECT e.id, $1, $2, e.n, e.type, $3, $4, $5, $6, e.data::jsonb, $10, $11
FROM unnest($7::uuid[], $8::text[], $9::text[]) WITH ORDINALITY AS e(id, type, data, n)`

// open holds back the append that opens streamID, for the transaction's
// next round trip: its versions are known (1..n), and its only other
// outcome is the conflict of a stream that exists, which it reports then.
// The positions are drawn when it runs, so the records have none.
func (t *eventTx) open(streamID string, streamType domain.AggregateType, meta domain.Metadata, ids []uuid.UUID, types, data []string, events []domain.Event) []domain.Recorded {
	t.conn.hold(func(err error) error {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.ConstraintName == "events_stream_version_key" {
			// The transaction is aborted: Transact reads the version after
			// its rollback (withActualVersion).
			return &commands.ConcurrencyError{StreamID: streamID, Expected: commands.NoStream(), Actual: -1}
		}
		return fmt.Errorf("append to %s: %w", streamID, err)
	}, openStream, streamID, string(streamType), meta.AccountID, meta.CorrelationID, meta.CausationID, meta.OccurredAt, ids, types, data, meta.TraceParent, meta.TraceState)
	t.appended = true
	recs := make([]domain.Recorded, len(events))
	for i, e := range events {
		recs[i] = domain.Recorded{ID: ids[i].String(), StreamID: streamID, StreamType: streamType,
			StreamVersion: int64(i + 1), Metadata: meta, Event: e}
	}
	return recs
}

// expectedArg encodes an expectation for appendEvents: the version, or -1
// for any.
func expectedArg(e commands.ExpectedVersion) int64 {
	if v, any := commands.Expected(e); !any {
		return v
	}
	return -1
}

// conflict builds the error for an append whose expectation did not hold.
func (t *eventTx) conflict(ctx context.Context, streamID string, expected commands.ExpectedVersion) error {
	current, err := streamVersion(ctx, t.conn, streamID)
	if err != nil {
		return fmt.Errorf("append to %s: read version: %w", streamID, err)
	}
	return &commands.ConcurrencyError{StreamID: streamID, Expected: expected, Actual: current}
}
