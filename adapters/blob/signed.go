package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrTokenInvalid reports a download token that is malformed, carries a
	// bad signature, or was tampered with in any way.
	ErrTokenInvalid = errors.New("invalid download token")
	// ErrTokenExpired reports a genuine download token past its expiry.
	ErrTokenExpired = errors.New("download token expired")
)

// Download is what a signed download token grants: one blob, offered under
// one file name, until an instant.
type Download struct {
	// Key is the blob key (see ValidateKey).
	Key string
	// Filename is the name Content-Disposition suggests, such as
	// "rnd_123.mp4": [A-Za-z0-9._-] only, not starting with a dot.
	Filename string
	// Expires is when the token stops working, to the second.
	Expires time.Time
}

// MinSecretLen is the shortest secret NewSigner accepts.
const MinSecretLen = 32

const (
	tokenVersion   = 1
	maxFilenameLen = 128
	macLen         = sha256.Size
	// headerLen is the version byte, the expiry (unix seconds, int64) and
	// the key's length (uint16).
	headerLen     = 1 + 8 + 2
	maxTokenBytes = headerLen + maxKeyLen + maxFilenameLen + macLen
	// macContext separates these MACs from any other use of the secret.
	macContext = "renderd download v1\x00"
)

// maxTokenLen bounds the text of a token, checked before any decoding.
var maxTokenLen = tokenEncoding.EncodedLen(maxTokenBytes)

// tokenEncoding is base64url without padding. Strict rejects non-zero
// trailing bits; Verify also re-encodes, so one token has one spelling.
var tokenEncoding = base64.RawURLEncoding.Strict()

// Signer mints and checks signed, expiring download tokens.
//
// A token is base64url (no padding) of
//
//	version (1 byte) | expiry, unix seconds (int64, big endian) |
//	len(key) (uint16, big endian) | key | filename | HMAC-SHA256
//
// where the MAC covers everything before it. Nothing in a token is secret
// (the key and file name can be read from it); it cannot be forged or
// altered without the secret. A Signer is safe for concurrent use.
type Signer struct {
	secret []byte
}

// NewSigner returns a Signer keyed by secret, which must be at least
// MinSecretLen bytes (such as 32 random bytes). The secret is copied.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("download signing secret: %d bytes, want at least %d", len(secret), MinSecretLen)
	}
	return &Signer{secret: append([]byte(nil), secret...)}, nil
}

// Sign returns a URL-safe token for d. The expiry is truncated to the
// second. A file name outside the safe set is made safe (each disallowed
// byte becomes '_', leading dots are dropped, it is cut to 128 bytes, and an
// empty one becomes "download").
//
// Keys are made by the server, so an invalid one is a bug: Sign refuses it
// rather than mint a token that could never be used.
func (s *Signer) Sign(d Download) (string, error) {
	if err := ValidateKey(d.Key); err != nil {
		return "", fmt.Errorf("blob: sign: %w", err)
	}
	name := safeFilename(d.Filename)
	buf := make([]byte, headerLen, headerLen+len(d.Key)+len(name)+macLen)
	buf[0] = tokenVersion
	binary.BigEndian.PutUint64(buf[1:9], uint64(d.Expires.Unix()))
	binary.BigEndian.PutUint16(buf[9:11], uint16(len(d.Key)))
	buf = append(buf, d.Key...)
	buf = append(buf, name...)
	buf = append(buf, s.mac(buf)...)
	return tokenEncoding.EncodeToString(buf), nil
}

// Verify checks token and returns what it grants. Any malformed, altered or
// foreign token is ErrTokenInvalid; a genuine one at or past its expiry
// (compared with now) is ErrTokenExpired. On error the Download is zero.
func (s *Signer) Verify(token string, now time.Time) (Download, error) {
	invalid := func(reason string) (Download, error) {
		return Download{}, fmt.Errorf("%w: %s", ErrTokenInvalid, reason)
	}
	if len(token) == 0 || len(token) > maxTokenLen {
		return invalid("bad length")
	}
	raw, err := tokenEncoding.DecodeString(token)
	// The decoder skips '\r' and '\n': only the canonical spelling counts.
	if err != nil || tokenEncoding.EncodeToString(raw) != token {
		return invalid("not base64url")
	}
	if len(raw) < headerLen+macLen {
		return invalid("too short")
	}
	payload, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sum, s.mac(payload)) {
		return invalid("bad signature")
	}
	// Only authenticated bytes are parsed from here on.
	if payload[0] != tokenVersion {
		return invalid("unknown version")
	}
	exp := int64(binary.BigEndian.Uint64(payload[1:9]))
	keyLen := int(binary.BigEndian.Uint16(payload[9:11]))
	rest := payload[headerLen:]
	if keyLen > len(rest) {
		return invalid("key length out of range")
	}
	d := Download{Key: string(rest[:keyLen]), Filename: string(rest[keyLen:]), Expires: time.Unix(exp, 0).UTC()}
	if ValidateKey(d.Key) != nil {
		return invalid("bad blob key")
	}
	if !validFilename(d.Filename) {
		return invalid("bad file name")
	}
	if !now.Before(d.Expires) {
		return Download{}, ErrTokenExpired
	}
	return d, nil
}

// URL returns the download URL for d: base (RENDERD_PUBLIC_URL, with or
// without a trailing slash) + "/v1/downloads/" + a fresh token.
func (s *Signer) URL(base string, d Download) (string, error) {
	token, err := s.Sign(d)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(base, "/") + "/v1/downloads/" + token, nil
}

func (s *Signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(macContext))
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
