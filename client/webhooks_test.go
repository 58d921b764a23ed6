package client

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	oldSecret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	newSecret = "whsec_" + "c2VjcmV0LW51bWJlci10d28tZm9yLXRlc3Rz"
)

var eventBody = []byte(`{"id":"0190b6a4-9c1e-7d3a-8f00-3c1b2a4d5e6f","type":"render.completed","created_at":"2026-12-04T02:00:00Z",` +
	`"data":{"render":{"id":"rnd_1","object":"render","state":"completed","progress":100}}}`)

// signed is a delivery as renderd sends it (docs/webhooks.md): signed at
// ts by each secret, the signatures space-separated.
func signed(t *testing.T, ts time.Time, body []byte, secrets ...string) http.Header {
	t.Helper()
	var sigs []string
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := wh.Sign("0190b6a4-9c1e-7d3a-8f00-3c1b2a4d5e6f", ts, body)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	h := http.Header{}
	h.Set("webhook-id", "0190b6a4-9c1e-7d3a-8f00-3c1b2a4d5e6f")
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return h
}

func TestVerifyWebhook_accepts_a_valid_delivery(t *testing.T) {
	ev, err := VerifyWebhook(oldSecret, eventBody, signed(t, time.Now(), eventBody, oldSecret))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "render.completed" || ev.Data.Render.ID != "rnd_1" || ev.Data.Render.State != RenderCompleted {
		t.Fatalf("event %+v", ev)
	}
}

func TestVerifyWebhook_refuses_tampering(t *testing.T) {
	h := signed(t, time.Now(), eventBody, oldSecret)
	tampered := []byte(strings.Replace(string(eventBody), "rnd_1", "rnd_2", 1))
	if _, err := VerifyWebhook(oldSecret, tampered, h); !errors.Is(err, ErrWebhookSignature) {
		t.Fatalf("a tampered body: %v", err)
	}
	// Another id, a signature by another key, a bare signature.
	for name, mutate := range map[string]func(http.Header){
		"id": func(h http.Header) { h.Set("webhook-id", "other") },
		"secret": func(h http.Header) {
			h.Set("webhook-signature", signed(t, time.Now(), eventBody, newSecret).Get("webhook-signature"))
		},
		"version": func(h http.Header) {
			h.Set("webhook-signature", "v2,"+strings.TrimPrefix(h.Get("webhook-signature"), "v1,"))
		},
		"no commas": func(h http.Header) { h.Set("webhook-signature", "garbage") },
	} {
		h := signed(t, time.Now(), eventBody, oldSecret)
		mutate(h)
		if _, err := VerifyWebhook(oldSecret, eventBody, h); !errors.Is(err, ErrWebhookSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestVerifyWebhook_refuses_stale_and_future_timestamps(t *testing.T) {
	old := signed(t, time.Now().Add(-6*time.Minute), eventBody, oldSecret)
	if _, err := VerifyWebhook(oldSecret, eventBody, old); !errors.Is(err, ErrWebhookTooOld) {
		t.Fatalf("6 minutes old: %v", err)
	}
	future := signed(t, time.Now().Add(6*time.Minute), eventBody, oldSecret)
	if _, err := VerifyWebhook(oldSecret, eventBody, future); !errors.Is(err, ErrWebhookTooNew) {
		t.Fatalf("6 minutes ahead: %v", err)
	}
	// Within the tolerance.
	if _, err := VerifyWebhook(oldSecret, eventBody, signed(t, time.Now().Add(-4*time.Minute), eventBody, oldSecret)); err != nil {
		t.Fatalf("4 minutes old: %v", err)
	}
	bad := signed(t, time.Now(), eventBody, oldSecret)
	bad.Set("webhook-timestamp", "yesterday")
	if _, err := VerifyWebhook(oldSecret, eventBody, bad); !errors.Is(err, ErrWebhookInvalid) {
		t.Fatalf("a timestamp that is no number: %v", err)
	}
	missing := signed(t, time.Now(), eventBody, oldSecret)
	missing.Del("webhook-signature")
	if _, err := VerifyWebhook(oldSecret, eventBody, missing); !errors.Is(err, ErrWebhookHeaders) {
		t.Fatalf("no signature: %v", err)
	}
}

// After a rotation renderd signs with both secrets for 24 hours: a
// receiver holding either verifies, and one holding both verifies a
// delivery signed by either.
func TestVerifyWebhook_across_a_secret_rotation(t *testing.T) {
	both := signed(t, time.Now(), eventBody, oldSecret, newSecret)
	for _, s := range []string{oldSecret, newSecret} {
		if _, err := VerifyWebhook(s, eventBody, both); err != nil {
			t.Errorf("receiver with %s…: %v", s[:10], err)
		}
	}
	v, err := NewWebhookVerifier(oldSecret, newSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{oldSecret, newSecret} {
		if _, err := v.Verify(eventBody, signed(t, time.Now(), eventBody, s)); err != nil {
			t.Errorf("signed by %s… only: %v", s[:10], err)
		}
	}
	third := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a third secret, never configured"))
	if _, err := v.Verify(eventBody, signed(t, time.Now(), eventBody, third)); !errors.Is(err, ErrWebhookSignature) {
		t.Fatalf("signed by neither: %v", err)
	}
	// A stale delivery fails on its timestamp, whichever secret is tried.
	if _, err := v.Verify(eventBody, signed(t, time.Now().Add(-time.Hour), eventBody, newSecret)); !errors.Is(err, ErrWebhookTooOld) {
		t.Fatalf("stale: %v", err)
	}
}

func TestWebhookVerifier_refuses_bad_secrets_and_bodies(t *testing.T) {
	if _, err := NewWebhookVerifier(); err == nil {
		t.Fatal("no secret accepted")
	}
	if _, err := NewWebhookVerifier(oldSecret, "whsec_not base64!"); err == nil || !strings.Contains(err.Error(), "secret 2") {
		t.Fatalf("err %v", err)
	}
	if _, err := VerifyWebhook("whsec_%%%", eventBody, http.Header{}); err == nil {
		t.Fatal("a bad secret verified")
	}
	// Signed, but no event: an error, not a zero event.
	notJSON := []byte("not json")
	if _, err := VerifyWebhook(oldSecret, notJSON, signed(t, time.Now(), notJSON, oldSecret)); err == nil || !strings.Contains(err.Error(), "no event") {
		t.Fatalf("err %v", err)
	}
}
