package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/renderd/renderd/domain"
)

// APIKeys are an account's API keys. *postgres.Accounts implements it.
type APIKeys interface {
	// CreateKey makes a key (expires zero: none) and returns it, once. It
	// checks name and expires (422 naming the field).
	CreateKey(ctx context.Context, accountID, name string, expires time.Time) (string, domain.APIKeyInfo, error)
	Keys(ctx context.Context, accountID string) ([]domain.APIKeyInfo, error)
	// RevokeKey refuses the account's last usable key (409 last_api_key).
	RevokeKey(ctx context.Context, accountID, id string) error
}

type createAPIKeyRequest struct {
	Name      *string `json:"name"`
	ExpiresAt *string `json:"expires_at"`
}

// APIKeyJSON is an API key as the API and the CLI show it: the key itself
// only in the answer that created it.
type APIKeyJSON struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	Name       string     `json:"name"`
	Prefix     *string    `json:"prefix"`
	APIKey     string     `json:"api_key,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

// ToAPIKeyJSON shapes a key; secret is "" except on creation.
func ToAPIKeyJSON(k domain.APIKeyInfo, secret string) APIKeyJSON {
	return APIKeyJSON{ID: k.ID, Object: "api_key", Name: k.Name, Prefix: optString(k.Prefix), APIKey: secret,
		CreatedAt: k.CreatedAt.UTC(), LastUsedAt: optTime(k.LastUsedAt), ExpiresAt: optTime(k.ExpiresAt)}
}

func (s *server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req createAPIKeyRequest
	if err := decodeJSON(r, s.MaxJSONBytes, &req); err != nil {
		return err
	}
	name := ""
	if req.Name != nil {
		name = *req.Name
	}
	var expires time.Time
	if req.ExpiresAt != nil {
		t, err := ParseKeyExpiry(*req.ExpiresAt)
		if err != nil {
			return err
		}
		expires = t
	}
	key, info, err := s.APIKeys.CreateKey(r.Context(), accountID(r.Context()), name, expires)
	if err != nil {
		return err
	}
	// The only answer that carries the key: no cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, ToAPIKeyJSON(info, key))
	return nil
}

// ParseKeyExpiry reads an expires_at: an RFC 3339 time (422 otherwise).
// Whether it is in the future is the store's check.
func ParseKeyExpiry(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, domain.Invalid("expires_at", "must be an RFC 3339 time, like 2030-01-02T15:04:05Z")
	}
	return t, nil
}

func (s *server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.APIKeys.Keys(r.Context(), accountID(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(keys, "", func(k domain.APIKeyInfo) APIKeyJSON { return ToAPIKeyJSON(k, "") }))
	return nil
}

func (s *server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.APIKeys.RevokeKey(r.Context(), accountID(r.Context()), mux.Vars(r)["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
