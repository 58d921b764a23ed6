package domain

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// APIKeyPrefix marks renderd API keys, so a leaked one is recognisable.
const APIKeyPrefix = "rdk_"

// APIKeySecretBytes is the size of a key's random secret.
const APIKeySecretBytes = 32

// apiKeyLen is the length of every API key: the prefix, then the secret in
// base64url without padding.
var apiKeyLen = len(APIKeyPrefix) + base64.RawURLEncoding.EncodedLen(APIKeySecretBytes)

// NewAPIKey spells an API key around its random secret.
func NewAPIKey(secret [APIKeySecretBytes]byte) string {
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
}

// WellFormedAPIKey reports whether key has the exact shape NewAPIKey gives:
// the prefix, the length, the base64url alphabet, and a last character
// whose unused low bits are zero (32 bytes fill 43 characters with 2 bits
// to spare). A malformed key belongs to no account, so callers refuse it
// without any I/O.
func WellFormedAPIKey(key string) bool {
	if len(key) != apiKeyLen || key[:len(APIKeyPrefix)] != APIKeyPrefix {
		return false
	}
	secret := key[len(APIKeyPrefix):]
	for i := 0; i < len(secret); i++ {
		if base64URLValue(secret[i]) < 0 {
			return false
		}
	}
	return base64URLValue(secret[len(secret)-1])&0x03 == 0
}

// base64URLValue is the 6-bit value of a base64url character, -1 for any
// other byte.
func base64URLValue(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// APIKeyDisplayLen is how much of a key is kept for display: the prefix and
// eight characters of the secret (48 of its 256 bits), enough to tell an
// account's keys apart and to recognise a leaked one.
const APIKeyDisplayLen = len(APIKeyPrefix) + 8

// APIKeyDisplay is the part of a key that may be stored and shown.
func APIKeyDisplay(key string) string { return key[:min(len(key), APIKeyDisplayLen)] }

// MaxAPIKeyNameBytes bounds a key's name.
const MaxAPIKeyNameBytes = 100

// MaxAPIKeyLifetime bounds how far ahead a key's expiry may be set; a key
// meant to live longer takes no expiry at all.
const MaxAPIKeyLifetime = 5 * 365 * 24 * time.Hour

// APIKeyInfo is what may be shown of an API key: never the key itself.
type APIKeyInfo struct {
	ID, Name  string
	Prefix    string // the start of the key (APIKeyDisplay); "" for keys older than key management
	CreatedAt time.Time
	// LastUsedAt is when the key last authenticated a request, to the
	// minute (zero: never); ExpiresAt is when it stops working (zero: never).
	LastUsedAt, ExpiresAt time.Time
}

// CheckAPIKeyName refuses a key name that is too long, not UTF-8, or holds
// control characters (NUL included).
func CheckAPIKeyName(name string) error {
	if len(name) > MaxAPIKeyNameBytes {
		return Invalid("name", "at most %d bytes", MaxAPIKeyNameBytes)
	}
	if !utf8.ValidString(name) {
		return Invalid("name", "must be UTF-8")
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return Invalid("name", "must not contain control characters")
	}
	return nil
}

// CheckAPIKeyExpiry refuses an expiry that is not after now or is more
// than MaxAPIKeyLifetime ahead. A zero expiry (none) passes.
func CheckAPIKeyExpiry(expires, now time.Time) error {
	switch {
	case expires.IsZero():
		return nil
	case !expires.After(now):
		return Invalid("expires_at", "must be in the future")
	case expires.Sub(now) > MaxAPIKeyLifetime:
		return Invalid("expires_at", "must be at most 5 years ahead (omit it for a key that does not expire)")
	}
	return nil
}

// APIKeyUsable reports whether a key expiring at expires (zero: never)
// still authenticates at now.
func APIKeyUsable(expires, now time.Time) bool { return expires.IsZero() || now.Before(expires) }
