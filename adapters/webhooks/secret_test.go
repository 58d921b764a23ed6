package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestNewSecret_is_whsec_base64_of_32_random_bytes(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two secrets are equal")
	}
	enc, ok := strings.CutPrefix(a, "whsec_")
	if !ok {
		t.Fatalf("secret %q has no whsec_ prefix", a)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) != 32 {
		t.Fatalf("secret decodes to %d bytes, %v; want 32", len(key), err)
	}
	if _, err := Sign([]string{a}, "evt_1", time.Now(), nil); err != nil {
		t.Fatalf("Sign with a new secret: %v", err)
	}
}

func TestSign_is_hmac_sha256_of_id_timestamp_body(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	ts := time.Unix(1_700_000_000, 999_000_000)
	body := []byte(`{"type":"render.completed","data":{"id":"rnd_1"}}`)

	got, err := Sign([]string{secret}, "evt_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("evt_1.1700000000." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := wh.Sign("evt_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if got != lib {
		t.Fatalf("Sign = %q, the Standard Webhooks library signs %q", got, lib)
	}
}

func TestSign_during_rotation_verifies_with_either_secret(t *testing.T) {
	current, _ := NewSecret()
	previous, _ := NewSecret()
	other, _ := NewSecret()
	ts := time.Now()
	body := []byte(`{"type":"render.failed"}`)

	sig, err := Sign([]string{current, previous, current}, "evt_2", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(sig, " "); len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") {
		t.Fatalf("signature %q: want two space-separated v1 signatures", sig)
	}
	h := http.Header{}
	h.Set("webhook-id", "evt_2")
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	for name, s := range map[string]string{"current": current, "previous": previous} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("%s secret: Verify = %v", name, err)
		}
	}
	wh, _ := standardwebhooks.NewWebhook(other)
	if err := wh.Verify(body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("unrelated secret: Verify = %v, want ErrNoMatchingSignature", err)
	}
}

func TestSign_malformed_secret_is_an_error_that_does_not_quote_it(t *testing.T) {
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("sixteen-bytes!!!"))
	good, _ := NewSecret()
	for name, secrets := range map[string][]string{
		"no_secret":          nil,
		"empty_secret":       {""},
		"no_prefix":          {strings.TrimPrefix(good, "whsec_")},
		"not_base64":         {"whsec_not*base64!"},
		"url_safe_base64":    {"whsec_" + base64.URLEncoding.EncodeToString([]byte("0123456789abcdef>>>>>>>>??????"))},
		"key_too_short":      {short},
		"key_too_long":       {"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))},
		"second_is_bad":      {good, "whsec_%%%"},
		"missing_padding":    {strings.TrimRight(good, "=")},
		"surrounding_spaces": {" " + good},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Sign(secrets, "evt_1", time.Now(), []byte("{}"))
			if !errors.Is(err, ErrMalformedSecret) {
				t.Fatalf("Sign = %v, want ErrMalformedSecret", err)
			}
			for _, s := range secrets {
				if len(s) > 8 && strings.Contains(err.Error(), s[6:]) {
					t.Errorf("error %q quotes the secret", err)
				}
			}
		})
	}
	if _, err := Sign([]string{good}, "", time.Now(), nil); err == nil {
		t.Error("Sign with an empty id: nil error")
	}
}
