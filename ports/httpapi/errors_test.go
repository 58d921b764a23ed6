package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
)

func TestLimit_error_is_a_429_with_retry_after_and_ratelimit_fields(t *testing.T) {
	cases := []struct {
		name                        string
		err                         *domain.LimitError
		retryAfter, policy, current string
	}{
		{"a limit on work in flight has no window",
			&domain.LimitError{Code: "too_many_renders", Message: "m", Policy: "renders_queued", Quota: 100, RetryAfter: 30 * time.Second},
			"30", `"renders_queued";q=100`, `"renders_queued";r=0;t=30`},
		{"a rate states its window, and a part of a second rounds up",
			&domain.LimitError{Code: "rate_limited", Message: "m", Policy: "writes", Quota: 20, Window: 2 * time.Second, RetryAfter: 1100 * time.Millisecond},
			"2", `"writes";q=20;w=2`, `"writes";r=0;t=2`},
		{"a retry is never asked for at once",
			&domain.LimitError{Code: "rate_limited", Message: "m", Policy: "reads", Quota: 5, Window: time.Second},
			"1", `"reads";q=5;w=1`, `"reads";r=0;t=1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest(http.MethodPost, "/v1/renders", nil), slog.New(slog.NewTextHandler(io.Discard, nil)),
				fmt.Errorf("request render: %w", c.err))
			h := rec.Header()
			if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"code":"`+c.err.Code+`"`) {
				t.Errorf("got %d %s", rec.Code, rec.Body)
			}
			if h.Get("Retry-After") != c.retryAfter || h.Get("RateLimit-Policy") != c.policy || h.Get("RateLimit") != c.current {
				t.Errorf("headers Retry-After %q, RateLimit-Policy %q, RateLimit %q", h.Get("Retry-After"), h.Get("RateLimit-Policy"), h.Get("RateLimit"))
			}
		})
	}
}

// A refused cursor is a 400 invalid_request on the field cursor, with the
// list's own reason when it has one, and the general one for a bare
// ErrBadCursor.
func TestWriteError_a_refused_cursor_answers_its_own_reason(t *testing.T) {
	specific := fmt.Errorf("%w: %w", projections.ErrBadCursor, &domain.ValidationError{Field: "cursor", Message: "belongs to a list with other filters: keep status, or start over without a cursor"})
	for _, c := range []struct {
		err  error
		want string
	}{
		{specific, "the cursor belongs to a list with other filters: keep status, or start over without a cursor"},
		{fmt.Errorf("webhook deliveries: %w", specific), "the cursor belongs to a list with other filters: keep status, or start over without a cursor"},
		{projections.ErrBadCursor, "this cursor was not handed out by this list; start again without it"},
	} {
		rec := httptest.NewRecorder()
		writeError(rec, httptest.NewRequest(http.MethodGet, "/v1/renders?cursor=x", nil), slog.New(slog.DiscardHandler), c.err)
		var got errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if want := (errorDetail{Code: "invalid_request", Field: "cursor", Message: c.want}); rec.Code != http.StatusBadRequest || got.Error != want {
			t.Errorf("writeError(%v) = %d %+v, want 400 %+v", c.err, rec.Code, got.Error, want)
		}
	}
}
