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

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxAccount
	ctxLogAccount
)

func requestID(ctx context.Context) string { s, _ := ctx.Value(ctxRequestID).(string); return s }
func accountID(ctx context.Context) string { s, _ := ctx.Value(ctxAccount).(string); return s }

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
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxRequestID, id)))
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

// withLogging writes one line per request, and turns a panic into a 500
// (logged with its value) instead of a dropped connection.
func withLogging(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		// withAuth, deeper in the chain, fills in the account for this line.
		var account string
		r = r.WithContext(context.WithValue(r.Context(), ctxLogAccount, &account))
		defer func() {
			if p := recover(); p != nil {
				writeError(rec, r, log, fmt.Errorf("panic: %v", p))
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method), slog.String("path", logPath(r)), slog.Int("status", rec.status),
				slog.Duration("took", time.Since(start)), slog.String("correlation_id", requestID(r.Context())),
				slog.String("account_id", account))
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
		if logged, ok := r.Context().Value(ctxLogAccount).(*string); ok {
			*logged = acc
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxAccount, acc)))
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
