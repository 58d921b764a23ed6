package consumers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/renderd/renderd/adapters/outage"
	"github.com/renderd/renderd/domain"
)

// dependencyDown returns the test of whether a handler failed because a
// dependency (the database) did not answer, rather than for a fault of its
// own: the handler said so (domain.ErrUnavailable), or unavailable (the
// database adapter's classifier, postgres.IsUnavailable, given by the
// wiring; nil: only the first) says so. A handler that ran out of time is
// not counted whatever the classifier says: that may be its own fault.
func dependencyDown(unavailable func(error) bool) func(error) bool {
	return func(err error) bool {
		switch {
		case errors.Is(err, domain.ErrUnavailable):
			return true
		case unavailable == nil, errors.Is(err, context.DeadlineExceeded):
			return false
		}
		return unavailable(err)
	}
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
type routerLogger struct {
	watermill.LoggerAdapter
	down func(error) bool // dependencyDown
}

func (l routerLogger) Error(msg string, err error, fields watermill.LogFields) {
	if l.down(err) {
		l.Debug(msg, fields.Add(watermill.LogFields{"error": err}))
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l routerLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return routerLogger{l.LoggerAdapter.With(fields), l.down}
}
