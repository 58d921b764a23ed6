package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

type ctxKey struct{}

// requestInfo is what the middleware learns of a request, in its context
// once (one copy of the request, not one per fact): its id, and the
// account withAuth resolved ("" before, or on routes without auth).
type requestInfo struct {
	id      string
	account string
}

func info(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func requestID(ctx context.Context) string { return info(ctx).id }
func accountID(ctx context.Context) string { return info(ctx).account }

// withRequestID accepts a sane X-Request-Id or makes one, echoes it and
// carries it into the context, and from there into events as their
// correlation id.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = "req_" + hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &requestInfo{id: id})))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the server's writer: the
// per-route deadlines (timeouts.go) are set through it.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// withLogging writes one line per request, and turns a panic into a 500
// (logged with its value) instead of a dropped connection.
func withLogging(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				writeError(rec, r, log, fmt.Errorf("panic: %v", p))
			}
			// withAuth, deeper in the chain, filled in the account.
			i := info(r.Context())
			log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method), slog.String("path", logPath(r)), slog.Int("status", rec.status),
				slog.Duration("took", time.Since(start)), slog.String("correlation_id", i.id),
				slog.String("account_id", i.account))
		}()
		next.ServeHTTP(rec, r)
	})
}

// Authenticator resolves an API key to its account; known is false for a
// key no account has.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (accountID string, known bool, err error)
}

// withAuth requires Authorization: Bearer <key>.
func withAuth(auth Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || key == "" {
			writeError(w, r, log, errUnauthorized)
			return
		}
		acc, known, err := auth.Authenticate(r.Context(), strings.TrimSpace(key))
		if err == nil && !known {
			err = errUnauthorized
		}
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if i, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
			i.account = acc
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &requestInfo{account: acc})))
	})
}

// logPath is the request path fit for logs: a download token is the
// credential itself, so it is masked.
func logPath(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/v1/downloads/") {
		return "/v1/downloads/…"
	}
	return r.URL.Path
}
