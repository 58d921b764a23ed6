package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/renderd/renderd/domain"
)

// downAuth is an Authenticator whose database is unreachable.
type downAuth struct{}

func (downAuth) Cached(string) (string, bool) { return "", false }
func (downAuth) Authenticate(context.Context, string) (string, bool, error) {
	return "", false, fmt.Errorf("authenticate: %w: %w", domain.ErrUnavailable, errRefused)
}

var errRefused = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

// refusedIsDown is a Config.Unavailable that knows errRefused as an outage.
func refusedIsDown(err error) bool { return errors.Is(err, errRefused) }

// failingCredits is a CreditsReader whose query fails with err.
func failingCredits(err error) CreditsReader {
	return func(context.Context, string, int) (int64, []LedgerEntry, error) {
		return 0, nil, fmt.Errorf("credits: %w", err)
	}
}

// checkOutage checks a 503 service_unavailable: its Retry-After, its match
// with the document, a body that does not name the cause, and the outage
// logged once at WARN with it.
func checkOutage(t *testing.T, e oaExchange, rec *httptest.ResponseRecorder, logs string) {
	t.Helper()
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"code":"service_unavailable"`) {
		t.Fatalf("%s %s = %d %s, want 503 service_unavailable", e.method, e.path, rec.Code, rec.Body)
	}
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", rec.Header().Get("Retry-After"))
	}
	o := oaLoad(t)
	if err := o.ValidateResponse(e.method, e.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
		t.Error(err)
	}
	if err := o.ValidateHeaders(e.method, e.path, rec.Code, rec.Header()); err != nil {
		t.Error(err)
	}
	if strings.Contains(rec.Body.String(), "5432") {
		t.Errorf("the answer names the cause: %s", rec.Body)
	}
	if !strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "connection refused") {
		t.Errorf("want the outage logged once at WARN with its cause, got:\n%s", logs)
	}
}

func TestAuth_a_key_lookup_during_a_database_outage_is_503_service_unavailable(t *testing.T) {
	var logs bytes.Buffer
	h := oaServer(t, oaServerOpts{auth: downAuth{}, log: slog.New(slog.NewTextHandler(&logs, nil))})
	e := oaExchange{method: "GET", path: "/v1/credits"}
	checkOutage(t, e, e.do(t, h), logs.String())
}

func TestErrors_a_handler_error_the_classifier_calls_an_outage_is_503_service_unavailable(t *testing.T) {
	var logs bytes.Buffer
	h := oaServer(t, oaServerOpts{credits: failingCredits(errRefused), down: refusedIsDown, log: slog.New(slog.NewTextHandler(&logs, nil))})
	e := oaExchange{method: "GET", path: "/v1/credits"}
	checkOutage(t, e, e.do(t, h), logs.String())
}

func TestErrors_a_handler_error_that_is_no_outage_stays_500_internal(t *testing.T) {
	var logs bytes.Buffer
	h := oaServer(t, oaServerOpts{credits: failingCredits(errors.New(`column "balance" does not exist`)), down: refusedIsDown,
		log: slog.New(slog.NewTextHandler(&logs, nil))})
	e := oaExchange{method: "GET", path: "/v1/credits"}
	rec := e.do(t, h)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) || rec.Header().Get("Retry-After") != "" {
		t.Fatalf("GET /v1/credits = %d %v %s, want 500 internal without Retry-After", rec.Code, rec.Header(), rec.Body)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("want the bug logged at ERROR, got:\n%s", logs.String())
	}
}

// A request whose client went away is no outage, even when its error looks
// like one (its own socket reset, a query cancelled with it).
func TestErrors_an_outage_like_error_of_a_request_whose_client_went_away_is_no_503(t *testing.T) {
	var logs bytes.Buffer
	h := oaServer(t, oaServerOpts{credits: failingCredits(errRefused), down: refusedIsDown, log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", "/v1/credits", nil)
	req.Header.Set("Authorization", "Bearer "+oaKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code == 503 || strings.Contains(logs.String(), "dependency is unavailable") {
		t.Fatalf("GET /v1/credits of a gone client = %d %s, logged:\n%s\nwant no outage", rec.Code, rec.Body, logs.String())
	}
}
