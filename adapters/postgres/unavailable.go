package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUnavailable reports whether err means Postgres could not answer now
// (an outage: the server restarting, unreachable, out of connections or
// resources, or a transaction that lost a serialization race or a
// deadlock) rather than that the statement itself is wrong: the same
// request may succeed once the database is back. The API answers the first
// 503 service_unavailable and the second 500 (README, "Architecture", the
// api role).
//
// A cancelled context is never an outage: the caller (a client that went
// away, a process shutting down) stopped waiting. A deadline that passed
// is one: only the server sets deadlines, so it waited on Postgres (a pool
// acquire, a query) for longer than it would.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		pgErr   *pgconn.PgError
		connect *pgconn.ConnectError
		netErr  *net.OpError
	)
	if errors.As(err, &connect) {
		// No connection could be made (refused, reset, the server starting,
		// shutting down, full or not accepting connections): an outage,
		// unless the server refused this service's own settings, which no
		// wait mends.
		return !errors.As(err, &pgErr) || !misconfigured(pgErr.Code)
	}
	if errors.As(err, &pgErr) {
		return unavailableState(pgErr.Code)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err),
		errors.Is(err, pgconn.ErrConnClosed), // a connection closed under a statement
		errors.As(err, &netErr),              // a connection's socket failed
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// unavailableState reports whether a SQLSTATE is an outage's (see
// IsUnavailable); any other is the statement's own error.
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection_exception
		strings.HasPrefix(code, "53"),  // insufficient_resources: disk full, out of memory, too many connections
		strings.HasPrefix(code, "57P"), // admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped, idle_session_timeout
		code == "57014",                // query_canceled: a statement timeout or the server's deadline
		code == "40001",                // serialization_failure
		code == "40P01":                // deadlock_detected
		return true
	}
	return false
}

// misconfigured reports whether a SQLSTATE refusing a connection is about
// its settings: the credentials (invalid_authorization_specification,
// 28…), the database's name (invalid_catalog_name) or the right to connect
// (insufficient_privilege).
func misconfigured(code string) bool {
	return strings.HasPrefix(code, "28") || code == "3D000" || code == "42501"
}
