package consumers

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/renderd/renderd/adapters/outage"
	"github.com/renderd/renderd/domain"
)

// dependencyDown reports whether a handler failed because a dependency (the
// database) did not answer, rather than for a fault of its own: the handler
// said so (domain.ErrUnavailable), connecting failed, the connection broke,
// or the server is shutting down, starting or out of resources. A handler
// that ran out of time is not counted: that may be its own fault.
func dependencyDown(err error) bool {
	var (
		connect *pgconn.ConnectError
		pgErr   *pgconn.PgError
		netErr  *net.OpError
	)
	switch {
	case errors.Is(err, domain.ErrUnavailable), errors.As(err, &connect), errors.As(err, &netErr),
		errors.Is(err, io.ErrUnexpectedEOF), pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") || strings.HasPrefix(pgErr.Code, "57P0")
	}
	return false
}

// handlerTrackers follow, per consumer, whether its handler fails because a
// dependency is down: one WARN when it starts failing so, one INFO when it
// succeeds again, the failures in between at DEBUG (outage.Tracker). A
// handler's other failures are logged as before.
type handlerTrackers map[string]*outage.Tracker

func newHandlerTrackers(handlers []Handler, log *slog.Logger) handlerTrackers {
	ts := make(handlerTrackers, len(handlers))
	for _, h := range handlers {
		ts[h.Group] = outage.NewTracker(log.With("handler", h.Group),
			"event handler failing: a dependency is down, retrying", "event handler succeeding again", time.Now)
	}
	return ts
}

// routerLogger is the router's logger: watermill logs every error a
// handler returns at ERROR, once per message per redelivery; one that is a
// dependency outage was told to the handler's tracker already (retry), so
// it goes to DEBUG.
type routerLogger struct{ watermill.LoggerAdapter }

func (l routerLogger) Error(msg string, err error, fields watermill.LogFields) {
	if dependencyDown(err) {
		l.Debug(msg, fields.Add(watermill.LogFields{"error": err}))
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l routerLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return routerLogger{l.LoggerAdapter.With(fields)}
}
