package testenv

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
)

// AppendNext appends ev to stream at its next version, reading the stream
// inside the transaction as a command does, and returns it as stored (with
// its position, which an append that opens a stream does not report).
func AppendNext(ctx context.Context, s commands.EventStore, stream string, ev domain.Event) (domain.Recorded, error) {
	var rec []domain.Recorded
	err := s.Transact(ctx, []string{stream}, func(ctx context.Context, tx commands.Tx) error {
		cur, err := tx.Load(ctx, stream)
		if err != nil {
			return err
		}
		rec, err = tx.Append(ctx, stream, commands.Exactly(int64(len(cur))),
			domain.Metadata{AccountID: "acc_1", CorrelationID: "req_1", OccurredAt: time.Now()}, ev)
		return err
	})
	if err != nil {
		return domain.Recorded{}, err
	}
	stored, err := s.Load(ctx, stream)
	if err != nil {
		return domain.Recorded{}, err
	}
	if v := rec[0].StreamVersion; int64(len(stored)) >= v && stored[v-1].ID == rec[0].ID {
		return stored[v-1], nil
	}
	return domain.Recorded{}, fmt.Errorf("appended %s v%d is not in the store", stream, rec[0].StreamVersion)
}

// AppendConcurrently has writers append perWriter render events each, spread
// over streams render streams, and returns how many were appended.
func AppendConcurrently(t testing.TB, ctx context.Context, s commands.EventStore, writers, streams, perWriter int) int {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				stream := fmt.Sprintf("rnd_%02d", (w*perWriter+i)%streams)
				if _, err := AppendNext(ctx, s, stream, domain.RenderProgressed{Attempt: 1, Percent: i % 100}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return writers * perWriter
}

// CountingLoader loads streams from Next and counts the loads.
type CountingLoader struct {
	Next interface {
		Load(ctx context.Context, streamID string) ([]domain.Recorded, error)
	}
	N atomic.Int64
}

// Load loads streamID from Next.
func (l *CountingLoader) Load(ctx context.Context, streamID string) ([]domain.Recorded, error) {
	l.N.Add(1)
	return l.Next.Load(ctx, streamID)
}
