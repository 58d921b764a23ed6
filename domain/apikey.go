package domain

import "encoding/base64"

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
