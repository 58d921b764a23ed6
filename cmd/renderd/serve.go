package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/relay"
	"github.com/renderd/renderd/adapters/webhooks"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/ports/httpapi"
	"github.com/renderd/renderd/telemetry"
	hooks "github.com/renderd/renderd/webhooks"
)

// relayName keys the relay's leader lock and checkpoint. It is a public
// contract like a consumer-group name: renaming it re-ships the whole log.
const relayName = "kafka-relay"

// maxHeaderBytes bounds a request's head; a larger one is answered 431 by
// net/http before any handler runs.
const maxHeaderBytes = 64 << 10

func migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool, log); err != nil {
		return err
	}
	if err := sealWebhookSecrets(ctx, cfg, pool, false, log); err != nil {
		return err
	}
	if err := backfillWebhookURLKeys(ctx, pool, log); err != nil {
		return err
	}
	log.Info("database is up to date")
	return nil
}

// secretsRotate seals every webhook secret sealed under another key again
// under the first key of RENDERD_SECRETS_KEY (and any still in clear).
func secretsRotate(ctx context.Context, cfg Config, log *slog.Logger) error {
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return sealWebhookSecrets(ctx, cfg, pool, true, log)
}

// sealWebhookSecrets seals the webhook secrets rows still hold in clear
// (migration 00013), and with reseal every secret sealed under a key other
// than RENDERD_SECRETS_KEY's first. Without the key it only checks that no
// row holds a secret in clear.
func sealWebhookSecrets(ctx context.Context, cfg Config, pool *pgxpool.Pool, reseal bool, log *slog.Logger) error {
	if len(cfg.SecretsKeys) == 0 {
		var clear int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE secret IS NOT NULL OR previous_secret IS NOT NULL`).Scan(&clear)
		if err != nil {
			return fmt.Errorf("webhook secrets: %w", err)
		}
		if clear > 0 {
			return fmt.Errorf("%w: %d webhook endpoints hold their signing secrets in clear: set RENDERD_SECRETS_KEY and run renderd migrate again to seal them", errUsage, clear)
		}
		return nil
	}
	sealer, err := secretSealer(cfg)
	if err != nil {
		return err
	}
	n, err := hooks.NewStore(pool, sealer).SealSecrets(ctx, reseal)
	if err != nil {
		return err
	}
	if n > 0 || reseal {
		log.Info("webhook secrets sealed", "endpoints", n, "key_id", sealer.Primary())
	}
	return nil
}

// backfillWebhookURLKeys gives endpoints stored without a URL key (before
// migration 00014, or by an older process during an upgrade) theirs, by
// which duplicate URLs are refused.
func backfillWebhookURLKeys(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	n, err := hooks.BackfillURLKeys(ctx, pool, webhooks.URLKey)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("webhook endpoint URL keys filled in", "endpoints", n)
	}
	return nil
}

func openPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pcfg.MaxConns = int32(cfg.DBMaxConns) //nolint:gosec // validated
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres is not reachable: %w", err)
	}
	return pool, nil
}

// serve runs the configured roles until ctx ends (SIGINT/SIGTERM), then
// shuts them down gracefully: the API drains its requests, the relay
// finishes and checkpoints its batch.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.DebugAddr != "" {
		addr, err := checkDebugAddr(ctx, cfg.DebugAddr, cfg.DebugRemote, net.DefaultResolver.LookupHost)
		if err != nil {
			return err
		}
		cfg.DebugAddr = addr // the checked address, not the name again
	}
	// Traces are exported only when the OTEL_* environment configures an
	// exporter (telemetry.SetupTracing, docs/operations.md "Tracing"). The
	// flush is deferred first so that it runs last, once every role has
	// stopped and ended its spans.
	stopTracing, err := telemetry.SetupTracing(ctx, "renderd", strings.Join(cfg.Roles, ","))
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(fctx); err != nil {
			log.Warn("flushing traces failed", "error", err)
		}
	}()
	// The metrics listener next: probes reach it (503) while the roles
	// start, which may take a while (Postgres, Kafka's topics).
	ready := newReadiness(cfg)
	var metrics *metricsListener
	if cfg.MetricsAddr != "" {
		m, err := listenMetrics(cfg.MetricsAddr, ready, log)
		if err != nil {
			return err
		}
		defer m.Close()
		metrics = m
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	ready.pool.Store(pool)
	codec := eventschema.NewCodec()
	topics := kafka.Topics{Prefix: cfg.TopicPrefix}
	var sealer *keyring.AEAD
	if cfg.has(RoleAPI) || cfg.has(RoleWebhooks) {
		if sealer, err = secretSealer(cfg); err != nil {
			return err
		}
		// Rows written in clear by an older process during an upgrade.
		if err := sealWebhookSecrets(ctx, cfg, pool, false, log); err != nil {
			return err
		}
		// And without a URL key.
		if err := backfillWebhookURLKeys(ctx, pool, log); err != nil {
			return err
		}
	}

	if cfg.needsKafka() {
		err := kafka.EnsureTopics(ctx, cfg.KafkaBrokers, topics.All(),
			kafka.TopicSettings{Partitions: int32(cfg.Partitions), ReplicationFactor: int16(cfg.ReplicationFactor)}, log) //nolint:gosec // validated
		if err != nil {
			return err
		}
	}

	if cfg.has(RoleAPI) || cfg.has(RoleWebhooks) {
		warnWebhookGuard(cfg, log)
	}

	// One blob store per process, shared by the roles that read or write
	// blobs.
	var blobs blob.Store
	if cfg.has(RoleAPI) || cfg.has(RoleEncoder) {
		// A folder of this process's own under RENDERD_SCRATCH_DIR, removed
		// when it stops (and by the next start after a kill -9).
		dir, release, err := claimScratch(cfg.ScratchDir, log)
		if err != nil {
			return err
		}
		defer release()
		cfg.scratchRoot, cfg.ScratchDir = cfg.ScratchDir, dir
		b, err := openBlobs(ctx, cfg)
		if err != nil {
			return err
		}
		defer b.Close()
		blobs = b
		if cfg.BlobDirAlias != "" {
			log.Warn("RENDERD_BLOB_DIR is deprecated: set RENDERD_BLOB_URL=file:<folder> instead", "RENDERD_BLOB_DIR", cfg.BlobDirAlias)
		}
	}

	// Components are built between goroutines that already run (the API
	// listens before the consumers are wired): a component that fails to
	// build stops everything started so far and waits for it, so a failed
	// start never leaves the API serving (and /readyz saying 200) with half
	// its roles.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, ctx := errgroup.WithContext(runCtx)
	failed := func(err error) error {
		stop()
		_ = g.Wait() // every goroutine ends with ctx; err is the cause
		return err
	}
	notifier := postgres.NewCommitNotifier(pool, log)
	g.Go(func() error { return notifier.Run(ctx) })
	if metrics != nil {
		g.Go(func() error { return metrics.wait(ctx) })
	}

	if cfg.has(RoleRelay) {
		pub, err := kafka.NewBatchPublisher(cfg.KafkaBrokers, kafka.ProducerConfig("renderd-relay"), kafka.CloudEventsMarshaler{})
		if err != nil {
			return failed(err)
		}
		defer pub.Close()
		connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, pool.Config().ConnConfig) }
		r, err := relay.New(relay.Config{Name: relayName, BatchSize: cfg.RelayBatchSize, PollInterval: cfg.RelayPollInterval, StandbyRetry: 250 * time.Millisecond},
			connect, pub, relay.CloudEventsMapper(codec, topics), log)
		if err != nil {
			return failed(err)
		}
		g.Go(func() error { return r.Run(ctx) })
		defer telemetry.Register(postgres.RelayLagCollector(pool, relayName, log))()
	}

	if cfg.DebugAddr != "" {
		if err := serveDebug(ctx, g, cfg, log); err != nil {
			return failed(err)
		}
	}

	if cfg.has(RoleAPI) {
		handler, waiter, accounts, expire, err := apiHandler(ctx, cfg, pool, notifier, sealer, blobs, ready.checks, log)
		if err != nil {
			return failed(err)
		}
		g.Go(func() error { return waiter.Run(ctx) })
		g.Go(func() error { return expire(ctx) })
		// Key revocations (LISTEN on a connection of its own) and key usage.
		connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, pool.Config().ConnConfig) }
		g.Go(func() error { return accounts.Run(ctx, connect, log) })
		// No ReadTimeout or WriteTimeout: one bound cannot fit both a JSON
		// request and a long upload, so httpapi sets each request's
		// deadlines by its route's kind (ports/httpapi/timeouts.go).
		srv := &http.Server{Addr: cfg.HTTPAddr, Handler: handler, ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout: cfg.HTTPIdleTimeout, MaxHeaderBytes: maxHeaderBytes}
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return failed(fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err))
		}
		log.Info("api listening", "url", "http://"+ln.Addr().String())
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}

	if cfg.has(RoleAPI) || cfg.has(RoleEncoder) {
		// These roles write blobs, so a crash of theirs leaves temporary files.
		sweep := tempSweep{store: blobs, now: time.Now, minAge: cfg.BlobSweepMinAge}
		if cfg.has(RoleEncoder) {
			sweep.outputs = postgres.NewRenderJobs(pool)
			er, err := eraser(cfg, pool, notifier, blobs, log)
			if err != nil {
				return failed(err)
			}
			g.Go(func() error { er.Run(ctx); return nil })
		}
		if cfg.has(RoleAPI) {
			// Twice the longest pause, and the minimum age on top: room for
			// a slow disk, and for the final sync of a large upload, which
			// writes nothing.
			sweep.uploads = true
			pause := httpapi.Timeouts{Window: cfg.TransferWindow}.MaxUploadPause()
			if _, local := blob.LocalDir(cfg.BlobURL); !local {
				// On S3 an upload's age moves once per part, not per write.
				pause = max(pause, time.Duration(float64(blob.S3WriteUnit)/float64(cfg.TransferMinRate)*float64(time.Second)))
			}
			sweep.uploadIdle = 2*pause + cfg.BlobSweepMinAge
		}
		g.Go(func() error { sweep.run(ctx, cfg.BlobSweepInterval, log); return nil })
	}

	if cfg.has(RoleProjector) || cfg.has(RoleEncoder) || cfg.has(RoleWebhooks) {
		router, pools, err := consumerRouter(cfg, pool, notifier, topics, blobs, log)
		if err != nil {
			return failed(err)
		}
		defer telemetry.Register(kafka.ConsumerLagCollector(cfg.KafkaBrokers, router.Groups(), log))()
		if cfg.has(RoleEncoder) {
			// The encoder role owns the render queue (postgres.QueueCollector).
			defer telemetry.Register(postgres.QueueCollector(postgres.NewRenderJobs(pool), log))()
		}
		ready.router.Store(router)
		g.Go(func() error { return router.Run(ctx) })
		for _, p := range pools {
			g.Go(func() error { return p.Run(ctx) })
		}
	}

	if cfg.has(RoleWebhooks) {
		dispatcher, err := webhookDispatcher(cfg, pool, sealer, log)
		if err != nil {
			return failed(err)
		}
		g.Go(func() error { return dispatcher.Run(ctx) })
	}
	ready.started.Store(true)
	log.Info("renderd serving", "roles", cfg.Roles)
	err = g.Wait()
	log.Info("renderd stopped")
	return err
}

// kafkaReachable checks that some broker accepts connections.
func kafkaReachable(brokers []string) httpapi.Check {
	return func(ctx context.Context) error {
		var d net.Dialer
		var errs []error
		for _, b := range brokers {
			c, err := d.DialContext(ctx, "tcp", b)
			if err == nil {
				return c.Close()
			}
			errs = append(errs, err)
		}
		return fmt.Errorf("no broker reachable: %w", errors.Join(errs...))
	}
}

// checkDebugAddr refuses a pprof address beyond loopback unless allowed:
// an empty host (":6060") or an unspecified one listens on every
// interface, and a host name counts only if every address it resolves to
// is loopback. It returns the address to listen on: for a host name, the
// first address it resolved to, so that listening does not resolve the name
// again (to an answer that may have changed).
func checkDebugAddr(ctx context.Context, addr string, allowRemote bool, lookup func(context.Context, string) ([]string, error)) (string, error) {
	if allowRemote {
		return addr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%w: RENDERD_DEBUG_ADDR: %w", errUsage, err)
	}
	refuse := func(why string) (string, error) {
		return "", fmt.Errorf("%w: RENDERD_DEBUG_ADDR %q %s: pprof has no authentication, so it listens on loopback only (like 127.0.0.1:6060) unless RENDERD_DEBUG_ALLOW_REMOTE=true",
			errUsage, addr, why)
	}
	if host == "" {
		return refuse("listens on every interface")
	}
	addrs := []string{host}
	if ip := net.ParseIP(host); ip == nil {
		if addrs, err = lookup(ctx, host); err != nil {
			return "", fmt.Errorf("%w: RENDERD_DEBUG_ADDR: %w", errUsage, err)
		}
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip == nil || !ip.IsLoopback() {
			return refuse("is not a loopback address")
		}
	}
	if len(addrs) == 0 {
		return refuse("resolves to no address")
	}
	return net.JoinHostPort(addrs[0], port), nil
}

// serveDebug serves net/http/pprof on cfg.DebugAddr, apart from the API so
// that profiles never share its port (or its authentication-free exposure).
func serveDebug(ctx context.Context, g *errgroup.Group, cfg Config, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", cfg.DebugAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.DebugAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("debug endpoints listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("debug http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		return srv.Close()
	})
	return nil
}
