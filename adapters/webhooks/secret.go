package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrMalformedSecret reports a signing secret that is not "whsec_" followed
// by the standard base64 of 24 to 64 bytes. Errors wrapping it never quote
// the secret.
var ErrMalformedSecret = errors.New("malformed webhook secret")

const (
	secretPrefix = "whsec_"
	secretBytes  = 32
	// The Standard Webhooks specification asks for keys of 24 to 64 bytes.
	minKeyBytes = 24
	maxKeyBytes = 64
)

// NewSecret returns a fresh signing secret: "whsec_" + base64 of 32 random
// bytes, the format the Standard Webhooks libraries accept.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Sign returns the webhook-signature header value for one message:
// space-separated "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>", one per
// secret (several during a rotation, the current one first), where key is
// the base64-decoded part after "whsec_" and timestamp is ts in unix seconds.
// A secret listed twice signs once.
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secret", ErrMalformedSecret)
	}
	if id == "" {
		return "", errors.New("webhook signature: empty message id")
	}
	// The signed content is the same for every key.
	content := make([]byte, 0, len(id)+1+20+1+len(body))
	content = append(content, id...)
	content = append(content, '.')
	content = strconv.AppendInt(content, ts.Unix(), 10)
	content = append(content, '.')
	content = append(content, body...)

	var sb strings.Builder
	seen := make(map[string]bool, len(secrets))
	for i, s := range secrets {
		if seen[s] {
			continue
		}
		seen[s] = true
		key, err := decodeSecret(s)
		if err != nil {
			return "", fmt.Errorf("secret %d: %w", i, err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(content)
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString("v1,")
		sb.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return sb.String(), nil
}

// decodeSecret returns the HMAC key of a "whsec_..." secret.
func decodeSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: no %q prefix", ErrMalformedSecret, secretPrefix)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrMalformedSecret)
	}
	if len(key) < minKeyBytes || len(key) > maxKeyBytes {
		return nil, fmt.Errorf("%w: key of %d bytes, want %d to %d", ErrMalformedSecret, len(key), minKeyBytes, maxKeyBytes)
	}
	return key, nil
}
