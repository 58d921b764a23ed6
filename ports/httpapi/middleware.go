package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/trace"

	"github.com/renderd/renderd/domain"
)

type ctxKey struct{}

// requestInfo is what the middleware learns of a request, in its context
// once (one copy of the request, not one per fact): its id, and the
// account the gate resolved ("" before, or on routes without a key).
type requestInfo struct {
	id      string
	account string
	route   string            // the matched route's template, "" until matched
	trace   trace.SpanContext // the request's server span (withTracing), for the log
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
		// withMetrics, outside, records the status already: one recorder
		// serves both.
		rec, ok := w.(*statusRecorder)
		if !ok {
			rec = &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		}
		defer func() {
			if p := recover(); p != nil {
				writeError(rec, r, log, fmt.Errorf("panic: %v", p))
			}
			if !log.Enabled(r.Context(), slog.LevelInfo) {
				return
			}
			// The gate, deeper in the chain, filled in the account.
			i := info(r.Context())
			attrs := make([]slog.Attr, 0, 8) // room for traceAttrs' two
			attrs = append(attrs, slog.String("method", r.Method), slog.String("path", logPath(r)), slog.Int("status", rec.status),
				slog.Duration("took", time.Since(start)), slog.String("correlation_id", i.id),
				slog.String("account_id", i.account))
			log.LogAttrs(r.Context(), slog.LevelInfo, "http request", traceAttrs(i.trace, attrs)...)
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
	key, presented := bearerKey(r.Header.Get("Authorization"))
	if !domain.WellFormedAPIKey(key) {
		if err := g.limits.admitAnonymous(h, r); err != nil {
			return "", err
		}
		if presented {
			return "", errInvalidKey
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
			return "", errInvalidKey
		}
	}
	return acc, g.limits.admit(h, class, acc)
}

// bearerKey reads "Authorization: Bearer <key>". The scheme is
// case-insensitive (RFC 9110 §11.1), and blanks around the key are
// ignored. presented is whether a bearer credential was sent at all, for
// the 401's challenge.
func bearerKey(authorization string) (key string, presented bool) {
	scheme, rest, _ := strings.Cut(strings.TrimLeft(authorization, " \t"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.Trim(rest, " \t")
	return key, key != ""
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

// recordRoute notes the matched route's template for the logs (a mux
// middleware: it runs for matched routes only).
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt := mux.CurrentRoute(r); rt != nil {
			if tmpl, err := rt.GetPathTemplate(); err == nil {
				info(r.Context()).route = tmpl
			}
		}
		next.ServeHTTP(w, r)
	})
}

// logPath is the request path fit for logs: the route's template
// ("/v1/downloads/{token}") when a route matched, so no credential or id
// in a path reaches the log; otherwise the path, cut after "download" in
// any spelling (case, percent-encoding, doubled slashes that mux answers
// with a redirect): a download token is the credential itself.
func logPath(r *http.Request) string {
	if rt := info(r.Context()).route; rt != "" {
		return rt
	}
	return redactPath(r.URL.Path)
}

func redactPath(p string) string {
	decoded := p
	for range 3 { // %2564 is %64 is d
		u, err := url.PathUnescape(decoded)
		if err != nil || u == decoded {
			break
		}
		decoded = u
	}
	if i := strings.Index(asciiLower(decoded), "download"); i >= 0 {
		return decoded[:i] + "download…"
	}
	return p
}

// asciiLower lowercases A-Z only, so that indexes into it hold in s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
