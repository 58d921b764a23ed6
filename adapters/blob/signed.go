package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/domain"
)

// MinSecretLen is the shortest key NewSigner accepts.
const MinSecretLen = 32

const (
	// tokenVersion tokens name their key; legacyVersion ones (minted
	// before key rings) do not.
	tokenVersion   = 2
	legacyVersion  = 1
	maxFilenameLen = 128
	macLen         = sha256.Size
	// fieldsLen is the expiry (unix seconds, int64) and the blob key's
	// length (uint16).
	fieldsLen     = 8 + 2
	maxTokenBytes = 2 + keyring.MaxIDLen + fieldsLen + maxKeyLen + maxFilenameLen + macLen
	// macContext separates these MACs from any other use of the secret.
	macContext       = "renderd download v2\x00"
	legacyMACContext = "renderd download v1\x00"
)

// maxTokenLen bounds the text of a token, checked before any decoding.
var maxTokenLen = tokenEncoding.EncodedLen(maxTokenBytes)

// tokenEncoding is base64url without padding. Strict rejects non-zero
// trailing bits; Verify also re-encodes, so one token has one spelling.
var tokenEncoding = base64.RawURLEncoding.Strict()

// Signer mints and checks signed, expiring download tokens under a key
// ring (RENDERD_DOWNLOAD_SECRET): the first key signs, every key verifies,
// so a new key can go first while URLs already handed out keep working
// until they expire.
//
// A token is base64url (no padding) of
//
//	version 2 (1 byte) | len(key id) (1 byte) | key id |
//	expiry, unix seconds (int64, big endian) |
//	len(blob key) (uint16, big endian) | blob key | filename | HMAC-SHA256
//
// where the MAC, under the key named, covers everything before it. Tokens
// of version 1 (the same without the key id, from before key rings) verify
// under any key of the ring until they expire. Nothing in a token is
// secret (the key and file name can be read from it); it cannot be forged
// or altered without the key. A Signer is safe for concurrent use.
type Signer struct {
	signing keyring.Key
	keys    []keyring.Key
}

// NewSigner returns a Signer over keys, each at least MinSecretLen bytes
// (such as 32 random bytes), keys[0] signing. The keys are copied.
func NewSigner(keys []keyring.Key) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("download signing: no key")
	}
	s := &Signer{}
	seen := map[string]bool{}
	for _, k := range keys {
		if len(k.Secret) < MinSecretLen {
			return nil, fmt.Errorf("download signing key %q: %d bytes, want at least %d", k.ID, len(k.Secret), MinSecretLen)
		}
		if k.ID == "" || len(k.ID) > keyring.MaxIDLen || seen[k.ID] {
			return nil, fmt.Errorf("download signing key %q: the id must be 1 to %d bytes and unique", k.ID, keyring.MaxIDLen)
		}
		seen[k.ID] = true
		s.keys = append(s.keys, keyring.Key{ID: k.ID, Secret: append([]byte(nil), k.Secret...)})
	}
	s.signing = s.keys[0]
	return s, nil
}

// Sign returns a URL-safe token for d, under the first key. The expiry is
// truncated to the second. A file name outside the safe set is made safe
// (each disallowed byte becomes '_', leading dots are dropped, it is cut to
// 128 bytes, and an empty one becomes "download").
//
// Keys are made by the server, so an invalid one is a bug: Sign refuses it
// rather than mint a token that could never be used.
func (s *Signer) Sign(d domain.DownloadGrant) (string, error) {
	if err := ValidateKey(d.Key); err != nil {
		return "", fmt.Errorf("blob: sign: %w", err)
	}
	name := safeFilename(d.Filename)
	id := s.signing.ID
	buf := make([]byte, 0, 2+len(id)+fieldsLen+len(d.Key)+len(name)+macLen)
	buf = append(buf, tokenVersion, byte(len(id)))
	buf = append(buf, id...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(d.Expires.Unix()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(d.Key)))
	buf = append(buf, d.Key...)
	buf = append(buf, name...)
	buf = append(buf, mac(s.signing.Secret, macContext, buf)...)
	return tokenEncoding.EncodeToString(buf), nil
}

// Verify checks token and returns what it grants: the API's download
// tokens (httpapi.DownloadTokens). Any malformed, altered or foreign token,
// or one of a key the ring no longer holds, is domain.ErrDownloadInvalid; a
// genuine one at or past its expiry (compared with now) is
// domain.ErrDownloadExpired. On error the grant is zero.
func (s *Signer) Verify(token string, now time.Time) (domain.DownloadGrant, error) {
	invalid := func(reason string) (domain.DownloadGrant, error) {
		return domain.DownloadGrant{}, fmt.Errorf("%w: %s", domain.ErrDownloadInvalid, reason)
	}
	if len(token) == 0 || len(token) > maxTokenLen {
		return invalid("bad length")
	}
	raw, err := tokenEncoding.DecodeString(token)
	// The decoder skips '\r' and '\n': only the canonical spelling counts.
	if err != nil || tokenEncoding.EncodeToString(raw) != token {
		return invalid("not base64url")
	}
	if len(raw) < 1+fieldsLen+macLen {
		return invalid("too short")
	}
	payload, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	var fields []byte
	switch payload[0] {
	case tokenVersion:
		n := int(payload[1])
		if n == 0 || len(payload) < 2+n+fieldsLen {
			return invalid("bad key id")
		}
		key, ok := s.key(string(payload[2 : 2+n]))
		if !ok {
			return invalid("unknown key id")
		}
		if !hmac.Equal(sum, mac(key, macContext, payload)) {
			return invalid("bad signature")
		}
		fields = payload[2+n:]
	case legacyVersion:
		if !slices.ContainsFunc(s.keys, func(k keyring.Key) bool { return hmac.Equal(sum, mac(k.Secret, legacyMACContext, payload)) }) {
			return invalid("bad signature")
		}
		fields = payload[1:]
	default:
		return invalid("unknown version")
	}
	// Only authenticated bytes are parsed from here on.
	exp := int64(binary.BigEndian.Uint64(fields[0:8]))
	keyLen := int(binary.BigEndian.Uint16(fields[8:10]))
	rest := fields[fieldsLen:]
	if keyLen > len(rest) {
		return invalid("key length out of range")
	}
	d := domain.DownloadGrant{Key: string(rest[:keyLen]), Filename: string(rest[keyLen:]), Expires: time.Unix(exp, 0).UTC()}
	if ValidateKey(d.Key) != nil {
		return invalid("bad blob key")
	}
	if !validFilename(d.Filename) {
		return invalid("bad file name")
	}
	if !now.Before(d.Expires) {
		return domain.DownloadGrant{}, domain.ErrDownloadExpired
	}
	return d, nil
}

func (s *Signer) key(id string) ([]byte, bool) {
	for _, k := range s.keys {
		if k.ID == id {
			return k.Secret, true
		}
	}
	return nil, false
}

// URL returns the download URL for d: base (RENDERD_PUBLIC_URL, with or
// without a trailing slash) + "/v1/downloads/" + a fresh token.
func (s *Signer) URL(base string, d domain.DownloadGrant) (string, error) {
	token, err := s.Sign(d)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(base, "/") + "/v1/downloads/" + token, nil
}

func mac(secret []byte, context string, payload []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(context))
	m.Write(payload)
	return m.Sum(nil)
}

func filenameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// validFilename reports whether name can go into a quoted
// Content-Disposition filename as it is.
func validFilename(name string) bool {
	if name == "" || len(name) > maxFilenameLen || name[0] == '.' {
		return false
	}
	for i := range len(name) {
		if !filenameByte(name[i]) {
			return false
		}
	}
	return true
}

func safeFilename(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !filenameByte(c) {
			b[i] = '_'
		}
	}
	out := strings.TrimLeft(string(b), ".")
	if len(out) > maxFilenameLen {
		out = out[:maxFilenameLen]
	}
	if out == "" {
		return "download"
	}
	return out
}
