package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/projections"
	"github.com/renderd/renderd/webhooks"
)

// Webhooks are the webhook endpoints and their delivery log.
// *webhooks.Store implements it.
type Webhooks interface {
	CreateEndpoint(ctx context.Context, e webhooks.Endpoint, limit int) error
	Endpoint(ctx context.Context, accountID, id string) (webhooks.Endpoint, error)
	Endpoints(ctx context.Context, accountID string, page projections.Page) ([]webhooks.Endpoint, string, error)
	DeleteEndpoint(ctx context.Context, accountID, id string) error
	RotateSecret(ctx context.Context, accountID, id, secret string, keepOldUntil time.Time) (webhooks.Endpoint, error)
	Deliveries(ctx context.Context, accountID, endpointID, status string, page projections.Page) ([]webhooks.Delivery, string, error)
	Redeliver(ctx context.Context, accountID, deliveryID string, limit int) error
}

// WebhookConfig is what the webhook endpoints need besides the store.
type WebhookConfig struct {
	Store Webhooks
	// CheckURL refuses a URL the senders may not call (scheme, host), and
	// returns the form duplicates are found by (docs/webhooks.md).
	CheckURL func(raw string) (string, error)
	// NewSecret mints a signing secret ("whsec_…").
	NewSecret func() (string, error)
	NewID     func() string
	// RotationGrace is how long a rotated-out secret keeps signing.
	RotationGrace time.Duration
	Now           func() time.Time
	// MaxEndpoints bounds an account's live endpoints, MaxRedeliveries the
	// redeliveries of one delivery.
	MaxEndpoints, MaxRedeliveries int
}

type endpointRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
}

type endpointJSON struct {
	ID             string     `json:"id"`
	Object         string     `json:"object"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Description    string     `json:"description"`
	State          string     `json:"state"`
	DisabledReason *string    `json:"disabled_reason"`
	Secret         string     `json:"secret,omitempty"` // on create and rotate only
	CreatedAt      time.Time  `json:"created_at"`
	DisabledAt     *time.Time `json:"disabled_at"`
}

func toEndpoint(e webhooks.Endpoint, withSecret bool) endpointJSON {
	out := endpointJSON{ID: e.ID, Object: "webhook_endpoint", URL: e.URL, Events: e.Events, Description: e.Description,
		State: "enabled", CreatedAt: e.CreatedAt.UTC(), DisabledAt: optTime(e.DisabledAt)}
	if !e.DisabledAt.IsZero() {
		out.State, out.DisabledReason = "disabled", optString(e.DisabledReason)
	}
	if withSecret {
		out.Secret = e.Secret
	}
	return out
}

func (s *server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req endpointRequest
	if err := decodeJSON(r, s.MaxJSONBytes, &req); err != nil {
		return err
	}
	if req.URL == nil || *req.URL == "" {
		return domain.Invalid("url", "is required")
	}
	key, err := s.Webhooks.CheckURL(*req.URL)
	if err != nil {
		return domain.Invalid("url", "%s", err.Error())
	}
	if req.Events == nil || len(*req.Events) == 0 {
		return domain.Invalid("events", "name at least one of %v", webhooks.EventTypes)
	}
	events := slices.Clone(*req.Events)
	slices.Sort(events)
	events = slices.Compact(events)
	for _, e := range events {
		if !slices.Contains(webhooks.EventTypes, e) {
			return domain.Invalid("events", "unknown event %q (known: %v)", e, webhooks.EventTypes)
		}
	}
	desc := ""
	if req.Description != nil {
		if len(*req.Description) > 500 {
			return domain.Invalid("description", "at most 500 bytes")
		}
		desc = *req.Description
	}
	secret, err := s.Webhooks.NewSecret()
	if err != nil {
		return err
	}
	e := webhooks.Endpoint{ID: s.Webhooks.NewID(), AccountID: accountID(r.Context()), URL: *req.URL, URLKey: key, Events: events,
		Description: desc, Secret: secret, CreatedAt: s.Webhooks.Now().UTC().Truncate(time.Microsecond)}
	if err := s.Webhooks.Store.CreateEndpoint(r.Context(), e, s.Webhooks.MaxEndpoints); err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusCreated, toEndpoint(e, true))
	return nil
}

func (s *server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	views, next, err := s.Webhooks.Store.Endpoints(r.Context(), accountID(r.Context()), page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(views, next, func(e webhooks.Endpoint) endpointJSON { return toEndpoint(e, false) }))
	return nil
}

func (s *server) getWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Webhooks.Store.Endpoint(r.Context(), accountID(r.Context()), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toEndpoint(e, false))
	return nil
}

func (s *server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	if err := s.Webhooks.Store.DeleteEndpoint(r.Context(), accountID(r.Context()), mux.Vars(r)["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	secret, err := s.Webhooks.NewSecret()
	if err != nil {
		return err
	}
	e, err := s.Webhooks.Store.RotateSecret(r.Context(), accountID(r.Context()), mux.Vars(r)["id"], secret,
		s.Webhooks.Now().Add(s.Webhooks.RotationGrace))
	if err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusOK, toEndpoint(e, true))
	return nil
}

type deliveryJSON struct {
	ID            string        `json:"id"`
	Object        string        `json:"object"`
	EndpointID    string        `json:"endpoint_id"`
	EventID       string        `json:"event_id"`
	EventType     string        `json:"event_type"`
	RenderID      string        `json:"render_id"`
	Status        string        `json:"status"`
	Redeliveries  int           `json:"redeliveries"`
	NextAttemptAt *time.Time    `json:"next_attempt_at"`
	CreatedAt     time.Time     `json:"created_at"`
	Attempts      []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	State      string    `json:"state"`
	StatusCode *int      `json:"status_code"`
	LatencyMS  *int64    `json:"latency_ms"` // null: not finished
	Error      *string   `json:"error"`
	Body       *string   `json:"response_body"` // null: not kept
}

var deliveryStatuses = []string{"pending", "delivered", "failed"}

func (s *server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(deliveryStatuses, status) {
		return domain.Invalid("status", "must be one of %v", deliveryStatuses)
	}
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	views, next, err := s.Webhooks.Store.Deliveries(r.Context(), accountID(r.Context()), mux.Vars(r)["id"], status, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(views, next, toDelivery))
	return nil
}

func toDelivery(d webhooks.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, Object: "webhook_delivery", EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType,
		RenderID: d.RenderID, Status: d.Status, Redeliveries: d.Redeliveries, NextAttemptAt: optTime(d.NextAttemptAt),
		CreatedAt: d.CreatedAt.UTC(), Attempts: make([]attemptJSON, len(d.Attempts))}
	for j, a := range d.Attempts {
		aj := attemptJSON{N: a.N, At: a.At.UTC(), State: string(a.State), Error: optString(a.Error)}
		if a.State == webhooks.AttemptFinished {
			ms := a.Latency.Milliseconds()
			aj.LatencyMS = &ms
		}
		if a.StatusCode != 0 {
			code := a.StatusCode
			aj.StatusCode = &code
		}
		if a.BodyKept {
			body := a.Body
			aj.Body = &body
		}
		out.Attempts[j] = aj
	}
	return out
}

type redeliverJSON struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	Status string `json:"status"`
}

func (s *server) redeliverWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := s.Webhooks.Store.Redeliver(r.Context(), accountID(r.Context()), mux.Vars(r)["id"], s.Webhooks.MaxRedeliveries); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, redeliverJSON{ID: mux.Vars(r)["id"], Object: "webhook_delivery", Status: "pending"})
	return nil
}

// WebhookPayload is the body of a webhook: the event's id, public type and
// time, and the render as GET /v1/renders/{id} shows it, without a download
// URL (the receiver fetches the render for a fresh one).
func WebhookPayload(eventID, eventType string, at time.Time, v projections.RenderView) ([]byte, error) {
	return json.Marshal(struct {
		ID        string    `json:"id"`
		Type      string    `json:"type"`
		CreatedAt time.Time `json:"created_at"`
		Data      struct {
			Render renderJSON `json:"render"`
		} `json:"data"`
	}{ID: eventID, Type: eventType, CreatedAt: at.UTC(), Data: struct {
		Render renderJSON `json:"render"`
	}{Render: toRender(v)}})
}
