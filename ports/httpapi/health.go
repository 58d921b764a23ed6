// Package httpapi is renderd's inbound HTTP port: routes, request and
// response types, and the one mapping from errors to HTTP responses.
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// NewRouter returns the API's router. readiness names the checks /readyz
// runs; log gets their errors.
func NewRouter(readiness map[string]Check, log *slog.Logger) *mux.Router {
	r := mux.NewRouter()
	r.Handle("/healthz", Healthz()).Methods(http.MethodGet)
	r.HandleFunc("/readyz", readyz(readiness, log)).Methods(http.MethodGet)
	r.Handle("/openapi.json", OpenAPIHandler()).Methods(http.MethodGet)
	return r
}

// Healthz and Readyz are /healthz and /readyz for a listener of the
// process's other than the API's (the metrics listener, cmd/renderd): the
// same answers, so that a probe reads them alike on either port.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// Readyz: see Healthz.
func Readyz(checks map[string]Check, log *slog.Logger) http.Handler { return readyz(checks, log) }

// readyz answers 200 when every check passes within two seconds, else 503
// naming what failed: "ok" or "failing" per check, nothing more (an error
// names hosts, ports and users); the error itself goes to the log.
func readyz(checks map[string]Check, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		status, report := http.StatusOK, map[string]string{}
		for name, check := range checks {
			if err := check(ctx); err != nil {
				status, report[name] = http.StatusServiceUnavailable, "failing"
				log.WarnContext(req.Context(), "readiness check failing", "check", name, "error", err,
					"correlation_id", requestID(req.Context()))
				continue
			}
			report[name] = "ok"
		}
		writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": report})
	}
}

// noStore keeps an answer carrying a secret or a download URL (itself a
// credential) out of every cache, the browser's and any proxy's, and out
// of their disks.
func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// writeJSON answers with body as JSON. The package encodes and decodes
// with encoding/json: the request decoder (decode.go) needs its Decoder's
// Token and the field paths of its type errors.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the client is gone if this fails
}
