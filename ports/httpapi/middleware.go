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

	"github.com/renderd/renderd/domain"
)

type ctxKey struct{}

// requestInfo is what the middleware learns of a request, in its context
// once (one copy of the request, not one per fact): its id, and the
// account the gate resolved ("" before, or on routes without a key).
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
			// The gate, deeper in the chain, filled in the account.
			i := info(r.Context())
			log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method), slog.String("path", logPath(r)), slog.Int("status", rec.status),
				slog.Duration("took", time.Since(start)), slog.String("correlation_id", i.id),
				slog.String("account_id", i.account))
		}()
		next.ServeHTTP(rec, r)
	})
}

// Authenticator resolves API keys to their accounts.
type Authenticator interface {
	// Cached answers from memory alone, without I/O: ok is false for a key
	// it does not hold (known or not).
	Cached(key string) (accountID string, ok bool)
	// Authenticate looks the key up; known is false for a key no account
	// has.
	Authenticate(ctx context.Context, key string) (accountID string, known bool, err error)
}

// gate admits requests to the API's routes: it authenticates the API key
// and spends a token of the caller's rate limits. Every refusal goes
// through writeError.
type gate struct {
	auth   Authenticator
	limits *limits
	log    *slog.Logger
}

// route guards a /v1 route: it requires Authorization: Bearer <key> and
// spends from the account's bucket for the route's class; then it refuses
// a query string with bytes no handler should see (queryOf). A request
// without a valid key spends from its address's bucket, and so does a
// well-formed key this process has not cached, before its database
// lookup: forged keys reach Postgres no faster than that bucket refills. A
// malformed key is refused before any lookup.
func (g *gate) route(class routeClass, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc, err := g.admit(w.Header(), r, class)
		if err == nil {
			_, err = queryOf(r)
		}
		if err != nil {
			writeError(w, r, g.log, err)
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

func (g *gate) admit(h http.Header, r *http.Request, class routeClass) (string, error) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	key = strings.TrimSpace(key)
	if !ok || !domain.WellFormedAPIKey(key) {
		if err := g.limits.admitAnonymous(h, r); err != nil {
			return "", err
		}
		return "", errUnauthorized
	}
	acc, cached := g.auth.Cached(key)
	if !cached {
		if err := g.limits.admitAnonymous(h, r); err != nil {
			return "", err
		}
		var known bool
		var err error
		if acc, known, err = g.auth.Authenticate(r.Context(), key); err != nil {
			return "", err
		}
		if !known {
			return "", errUnauthorized
		}
	}
	return acc, g.limits.admit(h, class, acc)
}

// anonymous guards a route that takes no API key (downloads: the token is
// the credential) with the client address's bucket.
func (g *gate) anonymous(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := g.limits.admitAnonymous(w.Header(), r)
		if err == nil {
			_, err = queryOf(r)
		}
		if err != nil {
			writeError(w, r, g.log, err)
			return
		}
		next.ServeHTTP(w, r)
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
