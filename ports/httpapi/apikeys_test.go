package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

// oaKeys is an in-memory APIKeys for the port's tests: acc_1 starts with
// one key (oaKey's, key_1), and holds at most three.
type oaKeys struct {
	mu   sync.Mutex
	keys map[string][]domain.APIKeyInfo // by account
	n    int
}

func newOAKeys() *oaKeys {
	return &oaKeys{keys: map[string][]domain.APIKeyInfo{"acc_1": {{ID: "key_1", Name: "default", Prefix: domain.APIKeyDisplay(oaKey), CreatedAt: oaTime}}}}
}

func (k *oaKeys) CreateKey(_ context.Context, acc, name string, expires time.Time) (string, domain.APIKeyInfo, error) {
	if err := domain.CheckAPIKeyName(name); err != nil {
		return "", domain.APIKeyInfo{}, err
	}
	if err := domain.CheckAPIKeyExpiry(expires, time.Now()); err != nil {
		return "", domain.APIKeyInfo{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys[acc]) >= 3 {
		return "", domain.APIKeyInfo{}, domain.Conflict("too_many_api_keys", "three at most")
	}
	k.n++
	key := domain.NewAPIKey([domain.APIKeySecretBytes]byte{byte(100 + k.n)})
	info := domain.APIKeyInfo{ID: fmt.Sprintf("key_%d", 100+k.n), Name: name, Prefix: domain.APIKeyDisplay(key), CreatedAt: oaTime, ExpiresAt: expires}
	k.keys[acc] = append(k.keys[acc], info)
	return key, info, nil
}

func (k *oaKeys) Keys(_ context.Context, acc string) ([]domain.APIKeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]domain.APIKeyInfo{}, k.keys[acc]...), nil
}

func (k *oaKeys) RevokeKey(_ context.Context, acc, id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, info := range k.keys[acc] {
		if info.ID == id {
			if len(k.keys[acc]) == 1 {
				return domain.Conflict("last_api_key", "the last one")
			}
			k.keys[acc] = append(k.keys[acc][:i], k.keys[acc][i+1:]...)
			return nil
		}
	}
	return domain.ErrNotFound
}

func TestAPIKeys_routes_answer_as_documented(t *testing.T) {
	o := oaLoad(t)
	h := oaServer(t, oaServerOpts{})
	future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name         string
		e            oaExchange
		status       int
		code, field  string
		noStore      bool
		wantInAnswer string
	}{
		{"create_is_201_with_the_key_once", oaExchange{method: "POST", path: "/v1/api-keys", body: `{"name":"ci","expires_at":"` + future + `"}`}, 201, "", "", true, `"api_key":"rdk_`},
		{"create_with_nothing_is_201", oaExchange{method: "POST", path: "/v1/api-keys", body: `{}`}, 201, "", "", true, `"expires_at":null`},
		{"list_never_shows_a_key", oaExchange{method: "GET", path: "/v1/api-keys"}, 200, "", "", false, `"prefix":"rdk_`},
		{"a_fourth_key_is_409", oaExchange{method: "POST", path: "/v1/api-keys", body: `{}`}, 409, "too_many_api_keys", "", false, ""},
		{"name_too_long_is_422", oaExchange{method: "POST", path: "/v1/api-keys", body: `{"name":"` + strings.Repeat("n", 101) + `"}`}, 422, "validation_error", "name", false, ""},
		{"name_with_a_control_character_is_422", oaExchange{method: "POST", path: "/v1/api-keys", body: `{"name":"a\u0007b"}`}, 422, "validation_error", "name", false, ""},
		{"expiry_not_rfc3339_is_422", oaExchange{method: "POST", path: "/v1/api-keys", body: `{"expires_at":"tomorrow"}`}, 422, "validation_error", "expires_at", false, ""},
		{"expiry_in_the_past_is_422", oaExchange{method: "POST", path: "/v1/api-keys", body: `{"expires_at":"2001-01-01T00:00:00Z"}`}, 422, "validation_error", "expires_at", false, ""},
		{"expiry_too_far_is_422", oaExchange{method: "POST", path: "/v1/api-keys", body: `{"expires_at":"2999-01-01T00:00:00Z"}`}, 422, "validation_error", "expires_at", false, ""},
		{"expiry_of_the_wrong_type_is_400", oaExchange{method: "POST", path: "/v1/api-keys", body: `{"expires_at":1}`}, 400, "invalid_request", "expires_at", false, ""},
		{"unknown_field_is_400", oaExchange{method: "POST", path: "/v1/api-keys", body: `{"scopes":[]}`}, 400, "invalid_request", "scopes", false, ""},
		{"revoke_is_204", oaExchange{method: "DELETE", path: "/v1/api-keys/key_101"}, 204, "", "", false, ""},
		{"revoke_unknown_is_404", oaExchange{method: "DELETE", path: "/v1/api-keys/key_nope"}, 404, "not_found", "", false, ""},
		{"no_key_is_401", oaExchange{method: "GET", path: "/v1/api-keys", noAuth: true}, 401, "unauthorized", "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.e.do(t, h)
			var body struct{ Error errorDetail }
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != tc.status || body.Error.Code != tc.code || body.Error.Field != tc.field {
				t.Fatalf("%s %s = %d %s, want %d %s field %q", tc.e.method, tc.e.path, rec.Code, rec.Body, tc.status, tc.code, tc.field)
			}
			if got := rec.Header().Get("Cache-Control") == "no-store"; got != tc.noStore {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if !strings.Contains(rec.Body.String(), tc.wantInAnswer) {
				t.Errorf("answer %s lacks %s", rec.Body, tc.wantInAnswer)
			}
			if tc.e.method == "GET" && strings.Contains(rec.Body.String(), `"api_key":`) {
				t.Errorf("a list shows a key: %s", rec.Body)
			}
			if err := o.ValidateResponse(tc.e.method, tc.e.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAPIKeys_revoking_the_last_key_is_409(t *testing.T) {
	h := oaServer(t, oaServerOpts{})
	rec := oaExchange{method: "DELETE", path: "/v1/api-keys/key_1"}.do(t, h)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `"last_api_key"`) {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if err := oaLoad(t).ValidateResponse("DELETE", "/v1/api-keys/key_1", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
		t.Error(err)
	}
}

func TestUnauthorized_challenges_with_the_bearer_scheme(t *testing.T) {
	h := oaServer(t, oaServerOpts{})
	for _, tc := range []struct {
		name, authorization string
		want                string // WWW-Authenticate; "" for a 200
	}{
		{"no_header", "", `Bearer realm="renderd"`},
		{"another_scheme", "Basic dXNlcjpwYXNz", `Bearer realm="renderd"`},
		{"bearer_without_a_key", "Bearer ", `Bearer realm="renderd"`},
		{"a_malformed_key", "Bearer rdk_nope", `Bearer realm="renderd", error="invalid_token"`},
		{"an_unknown_key", "Bearer " + rlKey9, `Bearer realm="renderd", error="invalid_token"`},
		{"lower_case_scheme", "bearer " + oaKey, ""},
		{"upper_case_scheme", "BEARER " + oaKey, ""},
		{"mixed_case_scheme_and_blanks", "  BeArEr \t" + oaKey + " ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/v1/credits", nil)
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch {
			case tc.want == "" && rec.Code != http.StatusOK:
				t.Fatalf("got %d %s, want 200", rec.Code, rec.Body)
			case tc.want != "" && (rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != tc.want):
				t.Fatalf("got %d with WWW-Authenticate %q, want 401 with %q", rec.Code, rec.Header().Get("WWW-Authenticate"), tc.want)
			}
		})
	}
}
