package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/renderd/renderd/ports/consumers"
	"github.com/renderd/renderd/ports/httpapi"
	"github.com/renderd/renderd/telemetry"
)

// errNotStarted is a readiness check's answer before serve has built what
// it checks.
var errNotStarted = errors.New("not started yet")

// readiness is the process's readiness, the same checks on the API's
// /readyz and on the metrics listener's: one per dependency of the roles
// the process runs. The checks exist from the start, so that a probe
// reaching the metrics listener while the roles start reads 503, and each
// fails until serve has built what it checks.
type readiness struct {
	pool    atomic.Pointer[pgxpool.Pool]
	router  atomic.Pointer[consumers.Router]
	started atomic.Bool
	checks  map[string]httpapi.Check
}

// newReadiness names the checks of cfg's roles:
//   - postgres: the pool answers a ping (every role works on Postgres);
//   - kafka: some broker accepts a connection, for a process given
//     KAFKA_BROKERS (an api-only process without them does not depend on
//     Kafka: docs/operations.md, "Topology");
//   - consumers: every consumer group of the projector, encoder and
//     webhooks roles has joined and holds its partitions
//     (consumers.Router.Ready), so that a write is not left waiting for a
//     group still forming;
//   - roles: every role of the process has started.
func newReadiness(cfg Config) *readiness {
	r := &readiness{}
	r.checks = map[string]httpapi.Check{
		"postgres": func(ctx context.Context) error {
			p := r.pool.Load()
			if p == nil {
				return errNotStarted
			}
			return p.Ping(ctx)
		},
		"roles": func(context.Context) error {
			if !r.started.Load() {
				return fmt.Errorf("roles %s: %w", strings.Join(cfg.Roles, ","), errNotStarted)
			}
			return nil
		},
	}
	if len(cfg.KafkaBrokers) > 0 {
		r.checks["kafka"] = kafkaReachable(cfg.KafkaBrokers)
	}
	if cfg.has(RoleProjector) || cfg.has(RoleEncoder) || cfg.has(RoleWebhooks) {
		r.checks["consumers"] = func(context.Context) error {
			rt := r.router.Load()
			if rt == nil {
				return errNotStarted
			}
			return rt.Ready()
		}
	}
	return r
}

// metricsListener serves /metrics (telemetry.Registry), /healthz and
// /readyz on RENDERD_METRICS_ADDR for every role, apart from the API (like
// serveDebug): the API's port faces clients, and this one faces Prometheus
// and the kubelet. It serves from the moment it listens, before the roles
// start, so a probe finds it while they do.
type metricsListener struct {
	srv  *http.Server
	addr net.Addr
	err  chan error // Serve's failure, if it fails
}

func listenMetrics(addr string, ready *readiness, log *slog.Logger) (*metricsListener, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(telemetry.Registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", httpapi.Healthz())
	mux.Handle("GET /readyz", httpapi.Readyz(ready.checks, log))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	// Bounded like any listener that may face more than loopback: a scrape
	// is one small request and one answer.
	m := &metricsListener{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: maxHeaderBytes},
		addr: ln.Addr(),
		err:  make(chan error, 1),
	}
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	go func() {
		if err := m.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			m.err <- fmt.Errorf("metrics http: %w", err)
		}
	}()
	return m, nil
}

// wait returns Serve's error if it fails before ctx ends, else nil.
func (m *metricsListener) wait(ctx context.Context) error {
	select {
	case err := <-m.err:
		return err
	case <-ctx.Done():
		return nil
	}
}

// Close stops the listener; scrapes in flight are cut (they hold nothing).
func (m *metricsListener) Close() { _ = m.srv.Close() }
