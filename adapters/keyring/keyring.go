// Package keyring holds operator keys with ids, so that keys can rotate:
// the first key of a ring is the one that seals or signs, every key opens
// or verifies. It parses the rings of RENDERD_SECRETS_KEY (webhook signing
// secrets, encrypted at rest) and RENDERD_DOWNLOAD_SECRET (download URLs);
// README, "Operating the secrets", says how to make and rotate them.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Key is one key of a ring.
type Key struct {
	ID     string
	Secret []byte
}

// MaxIDLen bounds a key id: ids travel in every sealed value and token.
const MaxIDLen = 16

// ErrMalformed reports a ring that does not parse. Its messages never quote
// key material.
var ErrMalformed = errors.New("malformed key ring")

// Parse reads a ring written as comma-separated "id:base64" entries, such as
// "k2:<base64 of 32 bytes>,k1:<base64 of 32 bytes>"; the first is the
// signing key. An id is 1 to 16 of [A-Za-z0-9_.-], unique in the ring. A
// single entry without an id (just the base64) is the key "0", so a
// one-key value from before rings keeps working. Each key must decode to
// at least minLen bytes (and exactly exactLen when exactLen > 0).
func Parse(v string, minLen, exactLen int) ([]Key, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	entries := strings.Split(v, ",")
	keys := make([]Key, 0, len(entries))
	seen := map[string]bool{}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		id, enc, ok := strings.Cut(e, ":")
		if !ok {
			if len(entries) > 1 {
				return nil, fmt.Errorf("%w: entry %d has no id (write id:base64)", ErrMalformed, i+1)
			}
			id, enc = "0", e
		}
		if !validID(id) {
			return nil, fmt.Errorf("%w: entry %d: the id must be 1 to %d of A-Z a-z 0-9 _ . -", ErrMalformed, i+1, MaxIDLen)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: the id %q is used twice", ErrMalformed, id)
		}
		seen[id] = true
		secret, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q is not standard base64", ErrMalformed, id)
		}
		switch {
		case exactLen > 0 && len(secret) != exactLen:
			return nil, fmt.Errorf("%w: key %q is %d bytes, want %d (head -c %d /dev/urandom | base64)", ErrMalformed, id, len(secret), exactLen, exactLen)
		case len(secret) < minLen:
			return nil, fmt.Errorf("%w: key %q is %d bytes, want at least %d (head -c 32 /dev/urandom | base64)", ErrMalformed, id, len(secret), minLen)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return keys, nil
}

func validID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Errors of Open. None of them says anything about the plaintext.
var (
	// ErrUnknownKey reports a value sealed under a key the ring no longer
	// (or never) held.
	ErrUnknownKey = errors.New("sealed under a key the ring does not hold")
	// ErrOpen reports a value that is malformed, altered, or bound to
	// another place (other additional data).
	ErrOpen = errors.New("sealed value does not open")
)

// sealedVersion is the first byte of a sealed value:
//
//	version (1) | len(key id) (1) | key id | nonce (12) | AES-256-GCM ciphertext and tag
//
// The version and key id are authenticated too (they are part of the
// additional data).
const sealedVersion = 1

// AEAD seals and opens small secrets with AES-256-GCM under a ring of
// 32-byte keys. It is safe for concurrent use.
type AEAD struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// NewAEAD returns an AEAD over keys (each exactly 32 bytes); keys[0] seals.
func NewAEAD(keys []Key) (*AEAD, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrMalformed)
	}
	a := &AEAD{primary: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if len(k.Secret) != 32 {
			return nil, fmt.Errorf("%w: key %q is %d bytes, want 32", ErrMalformed, k.ID, len(k.Secret))
		}
		if !validID(k.ID) {
			return nil, fmt.Errorf("%w: bad key id", ErrMalformed)
		}
		if _, dup := a.aeads[k.ID]; dup {
			return nil, fmt.Errorf("%w: the id %q is used twice", ErrMalformed, k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, err
		}
		if a.aeads[k.ID], err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Primary is the id of the key that seals.
func (a *AEAD) Primary() string { return a.primary }

// Seal encrypts plaintext under the primary key with a random nonce, bound
// to ad (where the value lives, such as an endpoint id and a column): a
// sealed value copied elsewhere does not open.
func (a *AEAD) Seal(plaintext, ad []byte) ([]byte, error) {
	g := a.aeads[a.primary]
	head := make([]byte, 0, 2+len(a.primary)+g.NonceSize())
	head = append(head, sealedVersion, byte(len(a.primary)))
	head = append(head, a.primary...)
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(head, nonce...)
	return g.Seal(out, nonce, plaintext, additional(out[:2+len(a.primary)], ad)), nil
}

// Open decrypts a value Seal made with ad, under whichever key of the ring
// sealed it.
func (a *AEAD) Open(sealed, ad []byte) ([]byte, error) {
	id, g, err := a.key(sealed)
	if err != nil {
		return nil, err
	}
	head := 2 + len(id)
	if len(sealed) < head+g.NonceSize()+g.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	nonce, ct := sealed[head:head+g.NonceSize()], sealed[head+g.NonceSize():]
	plain, err := g.Open(nil, nonce, ct, additional(sealed[:head], ad))
	if err != nil {
		return nil, fmt.Errorf("%w: altered, or sealed for another place", ErrOpen)
	}
	return plain, nil
}

// KeyID is the id of the key that sealed a value.
func (a *AEAD) KeyID(sealed []byte) (string, error) {
	if len(sealed) < 2 || sealed[0] != sealedVersion {
		return "", fmt.Errorf("%w: unknown format", ErrOpen)
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n {
		return "", fmt.Errorf("%w: bad key id", ErrOpen)
	}
	return string(sealed[2 : 2+n]), nil
}

// Stale reports whether sealed was sealed under a key other than the
// primary one (or cannot be read): a rotation seals it again.
func (a *AEAD) Stale(sealed []byte) bool {
	id, err := a.KeyID(sealed)
	return err != nil || id != a.primary
}

func (a *AEAD) key(sealed []byte) (string, cipher.AEAD, error) {
	id, err := a.KeyID(sealed)
	if err != nil {
		return "", nil, err
	}
	g, ok := a.aeads[id]
	if !ok {
		return "", nil, fmt.Errorf("%w: key id %q", ErrUnknownKey, id)
	}
	return id, g, nil
}

// additional is the GCM additional data: the value's header, then ad.
func additional(head, ad []byte) []byte {
	return append(append(make([]byte, 0, len(head)+len(ad)), head...), ad...)
}
