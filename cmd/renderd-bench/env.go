package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/eventschema"
)

// env is a throwaway database and topic set on the local stack.
type env struct {
	adminDSN string
	dbName   string
	pool     *pgxpool.Pool
	brokers  []string
	topics   kafka.Topics
	codec    *eventschema.Codec
	log      *slog.Logger
	// secretsKey is the RENDERD_SECRETS_KEY of every renderd started, and
	// sealer its ring, for the endpoints the benchmarks write directly.
	secretsKey string
	sealer     *keyring.AEAD
}

func newEnv(ctx context.Context, dsn string, brokers []string, log *slog.Logger) (*env, error) {
	e := &env{adminDSN: dsn, brokers: brokers, codec: eventschema.NewCodec(), log: log}
	suffix := randomSuffix()
	e.dbName = "renderd_bench_" + suffix
	e.topics = kafka.Topics{Prefix: "bench." + suffix + "."}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e.secretsKey = "bench:" + base64.StdEncoding.EncodeToString(key)
	var err error
	if e.sealer, err = keyring.NewAEAD([]keyring.Key{{ID: "bench", Secret: key}}); err != nil {
		return nil, err
	}

	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+e.dbName); err != nil {
		return nil, fmt.Errorf("create bench database: %w", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + e.dbName
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 40
	if e.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, e.pool, log); err != nil {
		return nil, err
	}
	err = kafka.EnsureTopics(ctx, brokers, e.topics.All(), kafka.TopicSettings{Partitions: 12, ReplicationFactor: -1}, log)
	return e, err
}

func (e *env) close() {
	ctx := context.Background()
	if e.pool != nil {
		e.pool.Close()
	}
	if c, err := pgx.Connect(ctx, e.adminDSN); err == nil {
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+e.dbName+" WITH (FORCE)")
		_ = c.Close(ctx)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	if admin, err := sarama.NewClusterAdmin(e.brokers, cfg); err == nil {
		for _, t := range e.topics.All() {
			_ = admin.DeleteTopic(t)
		}
		_ = admin.Close()
	}
}
