package main

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/postgres/readmodel"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/encoders"
)

// eraserBatch and eraserRetry pace the encoder role's Eraser: the renders
// expired and blobs removed per pass, and how long a removal that failed
// (or whose encoder died) waits before it is tried again.
const (
	eraserBatch = 100
	eraserRetry = time.Minute
)

// eraser builds the encoder role's Eraser over the blob store blobs (the process's one store).
func eraser(cfg Config, pool *pgxpool.Pool, notify *postgres.CommitNotifier, blobs encoders.BlobEraser, log *slog.Logger) (*encoders.Eraser, error) {
	expire, err := commands.NewExpireOutputHandler(writeDeps(pool, notify))
	if err != nil {
		return nil, err
	}
	return encoders.NewEraser(encoders.EraserConfig{Retention: cfg.OutputRetention, Interval: cfg.ErasureInterval,
		Batch: eraserBatch, Retry: eraserRetry}, postgres.NewBlobRemovals(pool), blobs, readmodel.NewQueries(pool), expire, time.Now, log)
}
