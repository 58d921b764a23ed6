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
	for _, asset := range tx.redacted {
		s.redact(asset)
	}
	tx.redacted = nil
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

// redact erases the name of the asset's asset.created event, in its stream
// and in the log alike (commands.Erasure). s.mu is held.
func (s *Store) redact(asset string) {
	erase := func(r *domain.Recorded) {
		if c, ok := r.Event.(domain.AssetCreated); ok && r.StreamID == asset {
			c.Name = ""
			r.Event = c
		}
	}
	for i := range s.streams[asset] {
		erase(&s.streams[asset][i])
	}
	for i := range s.all {
		erase(&s.all[i])
	}
}

// AssetStreams lists the asset's cuts (the cut index) and renders (the
// render.requested events naming it), committed and staged.
func (t *tx) AssetStreams(ctx context.Context, asset string) (cuts, renders []string, err error) {
	for _, c := range t.cuts {
		if c.asset == asset {
			cuts = append(cuts, c.cut)
		}
	}
	t.store.mu.Lock()
	all := slices.Clone(t.store.all)
	t.store.mu.Unlock()
	for _, r := range append(all, t.order...) {
		if req, ok := r.Event.(domain.RenderRequested); ok && req.AssetID == asset {
			renders = append(renders, r.StreamID)
		}
	}
	slices.Sort(cuts)
	slices.Sort(renders)
	return cuts, renders, nil
}

// BlobRemovals returns the committed queue of blob removals: key → account.
func (s *Store) BlobRemovals() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.ws.removals)
}
