// Package memstore is an in-memory event store for unit tests of the write
// side. It honours the same contract as the Postgres store (see
// adapters/eventstoretest), including per-stream locking.
package memstore

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// Store is an in-memory commands.EventStore.
type Store struct {
	newID func() string

	mu       sync.Mutex // guards the fields below
	streams  map[string][]domain.Recorded
	all      []domain.Recorded
	position int64
	locks    map[string]*sync.Mutex
	ws       writeSide
}

var _ commands.EventStore = (*Store)(nil)

// New returns an empty store; newID mints event ids.
func New(newID func() string) *Store {
	return &Store{newID: newID, streams: map[string][]domain.Recorded{}, locks: map[string]*sync.Mutex{}, ws: newWriteSide()}
}

func (s *Store) lock(id string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locks[id]
	if !ok {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	return l
}

// Transact implements commands.EventStore. Appends are staged and become
// visible together when fn succeeds.
func (s *Store) Transact(ctx context.Context, streams []string, fn func(context.Context, commands.Tx) error) error {
	if len(streams) == 0 {
		return errors.New("transact: no streams to lock")
	}
	ids := slices.Clone(streams)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		l := s.lock(id)
		l.Lock()
		defer l.Unlock()
	}
	s.mu.Lock()
	ws := s.ws.clone()
	s.mu.Unlock()
	tx := &tx{store: s, locked: ids, staged: map[string][]domain.Recorded{}, writeSide: ws}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ws.merge(tx.writeSide)
	for _, r := range tx.order {
		s.position++
		r.Position = s.position
		s.streams[r.StreamID] = append(s.streams[r.StreamID], r)
		s.all = append(s.all, r)
	}
	return nil
}

// Load implements commands.EventStore.
func (s *Store) Load(_ context.Context, streamID string) ([]domain.Recorded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.streams[streamID]), nil
}

// All returns every committed event in commit order.
func (s *Store) All() []domain.Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

type tx struct {
	*writeSide
	store  *Store
	locked []string
	staged map[string][]domain.Recorded
	order  []domain.Recorded
}

func (t *tx) Load(ctx context.Context, streamID string) ([]domain.Recorded, error) {
	committed, err := t.store.Load(ctx, streamID)
	return append(committed, t.staged[streamID]...), err
}

func (t *tx) Append(ctx context.Context, streamID string, expected commands.ExpectedVersion, meta domain.Metadata, events ...domain.Event) ([]domain.Recorded, error) {
	streamType, err := commands.CheckAppend(t.locked, streamID, meta, events)
	if err != nil || len(events) == 0 {
		return nil, err
	}
	current, _ := t.Load(ctx, streamID)
	version := int64(len(current))
	if !commands.Matches(expected, version) {
		return nil, &commands.ConcurrencyError{StreamID: streamID, Expected: expected, Actual: version}
	}
	recs := make([]domain.Recorded, len(events))
	for i, e := range events {
		m := meta
		m.OccurredAt = meta.OccurredAt.UTC()
		recs[i] = domain.Recorded{ID: t.store.newID(), StreamID: streamID, StreamType: streamType,
			StreamVersion: version + int64(i) + 1, Metadata: m, Event: e}
	}
	t.staged[streamID] = append(t.staged[streamID], recs...)
	t.order = append(t.order, recs...)
	return recs, nil
}

// MediaJobs returns the committed media queue, by job id: what the media
// workers would claim from.
func (s *Store) MediaJobs() []commands.MediaJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	jobs := slices.Collect(maps.Values(s.ws.media))
	slices.SortFunc(jobs, func(a, b commands.MediaJob) int { return strings.Compare(a.JobID, b.JobID) })
	return jobs
}
