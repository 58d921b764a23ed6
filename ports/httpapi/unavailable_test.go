package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/renderd/renderd/domain"
)

// downAuth is an Authenticator whose database is unreachable.
type downAuth struct{}

func (downAuth) Cached(string) (string, bool) { return "", false }
func (downAuth) Authenticate(context.Context, string) (string, bool, error) {
	return "", false, fmt.Errorf("authenticate: %w: %w", domain.ErrUnavailable, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"))
}

func TestAuth_a_key_lookup_during_a_database_outage_is_503_unavailable(t *testing.T) {
	o := oaLoad(t)
	var logs bytes.Buffer
	h := oaServer(t, oaServerOpts{auth: downAuth{}, log: slog.New(slog.NewTextHandler(&logs, nil))})
	e := oaExchange{method: "GET", path: "/v1/credits"}
	rec := e.do(t, h)
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Fatalf("GET /v1/credits = %d %s, want 503 unavailable", rec.Code, rec.Body)
	}
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", rec.Header().Get("Retry-After"))
	}
	if err := o.ValidateResponse(e.method, e.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
		t.Error(err)
	}
	if strings.Contains(rec.Body.String(), "5432") {
		t.Errorf("the answer names the cause: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("want the outage logged once at WARN with its cause, got:\n%s", logs.String())
	}
}
