package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The errors of webhook verification, for errors.Is. A message older or
// newer than 5 minutes is refused whatever its signature (a replay).
var (
	ErrWebhookHeaders   = standardwebhooks.ErrRequiredHeaders // webhook-id, -timestamp or -signature missing
	ErrWebhookInvalid   = standardwebhooks.ErrInvalidHeaders  // a timestamp that is no Unix time
	ErrWebhookSignature = standardwebhooks.ErrNoMatchingSignature
	ErrWebhookTooOld    = standardwebhooks.ErrMessageTooOld
	ErrWebhookTooNew    = standardwebhooks.ErrMessageTooNew
)

// WebhookVerifier checks renderd's Standard Webhooks signatures
// (docs/webhooks.md) with the Standard Webhooks library. It holds one or
// more endpoint secrets (whsec_…): a message is accepted when one of its
// signatures matches one of them. After RotateWebhookSecret renderd signs
// with the old and the new secret for 24 hours, so a receiver keeping
// either verifies; a receiver may also hold both while it rolls out the
// new one.
type WebhookVerifier struct {
	hooks []*standardwebhooks.Webhook
}

// NewWebhookVerifier returns a verifier of the given secrets.
func NewWebhookVerifier(secrets ...string) (*WebhookVerifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("renderd client: webhook verifier: no secret")
	}
	v := &WebhookVerifier{}
	for i, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("renderd client: webhook secret %d: %w", i+1, err)
		}
		v.hooks = append(v.hooks, wh)
	}
	return v, nil
}

// Verify checks body (the raw request body, byte for byte as received)
// against the request's webhook-id, webhook-timestamp and
// webhook-signature headers, and only then decodes it. Deduplicate on the
// event's ID: a delivery may arrive more than once.
func (v *WebhookVerifier) Verify(body []byte, h http.Header) (*WebhookEvent, error) {
	var err error
	for _, wh := range v.hooks {
		if err = wh.Verify(body, h); err == nil {
			break
		}
		if !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			// Missing headers or a stale timestamp: no secret helps.
			return nil, fmt.Errorf("renderd client: webhook: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("renderd client: webhook: %w", err)
	}
	ev := new(WebhookEvent)
	if err := json.Unmarshal(body, ev); err != nil {
		return nil, fmt.Errorf("renderd client: webhook: signed body is no event: %w", err)
	}
	return ev, nil
}

// VerifyWebhook is Verify with one secret.
func VerifyWebhook(secret string, body []byte, h http.Header) (*WebhookEvent, error) {
	v, err := NewWebhookVerifier(secret)
	if err != nil {
		return nil, err
	}
	return v.Verify(body, h)
}
