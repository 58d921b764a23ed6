package blob

// Internal tests: some cases need a genuinely signed payload that Sign itself
// would never produce (an invalid key, an unsafe file name).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/domain"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	testNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func testSigner(t testing.TB) *Signer {
	t.Helper()
	return ringSigner(t, keyring.Key{ID: "k1", Secret: testSecret})
}

func ringSigner(t testing.TB, keys ...keyring.Key) *Signer {
	t.Helper()
	s, err := NewSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testDownload() domain.DownloadGrant {
	return domain.DownloadGrant{Key: "renders/rnd_123/output.mp4", Filename: "rnd_123.mp4", Expires: testNow.Add(15 * time.Minute)}
}

// signRaw MACs an arbitrary payload under the signing key, bypassing
// Sign's checks (a version 1 payload as version 1 tokens were).
func signRaw(s *Signer, payload []byte) string {
	ctx := macContext
	if payload[0] == legacyVersion {
		ctx = legacyMACContext
	}
	return tokenEncoding.EncodeToString(append(append([]byte(nil), payload...), mac(s.signing.Secret, ctx, payload)...))
}

// rawPayload is a token's payload naming the key k1 (none in version 1).
func rawPayload(version byte, exp int64, key, filename string, keyLen int) []byte {
	p := []byte{version}
	if version != legacyVersion {
		p = append(p, 2, 'k', '1')
	}
	p = binary.BigEndian.AppendUint64(p, uint64(exp))
	p = binary.BigEndian.AppendUint16(p, uint16(keyLen))
	return append(append(p, key...), filename...)
}

func TestNewSigner_wants_keys_of_at_least_32_bytes_with_unique_ids(t *testing.T) {
	for _, n := range []int{0, 1, 31} {
		if _, err := NewSigner([]keyring.Key{{ID: "k1", Secret: make([]byte, n)}}); err == nil {
			t.Errorf("NewSigner accepted a %d-byte secret", n)
		}
	}
	for name, keys := range map[string][]keyring.Key{
		"no key":       nil,
		"no id":        {{Secret: testSecret}},
		"a long id":    {{ID: strings.Repeat("k", 17), Secret: testSecret}},
		"a twice used": {{ID: "a", Secret: testSecret}, {ID: "a", Secret: testSecret}},
	} {
		if _, err := NewSigner(keys); err == nil {
			t.Errorf("%s: NewSigner accepted it", name)
		}
	}
	secret := bytes.Clone(testSecret)
	s, err := NewSigner([]keyring.Key{{ID: "k1", Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	tok := mustSign(t, s, testDownload())
	secret[0] ^= 0xff // the signer keeps its own copy
	if _, err := s.Verify(tok, testNow); err != nil {
		t.Errorf("changing the caller's slice broke the signer: %v", err)
	}
}

func TestSign_and_Verify_round_trip(t *testing.T) {
	s := testSigner(t)
	want := testDownload()
	want.Expires = want.Expires.Add(700 * time.Millisecond) // truncated to the second
	tok := mustSign(t, s, want)
	for _, c := range tok {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			t.Fatalf("token %q has a character outside base64url: %q", tok, c)
		}
	}
	got, err := s.Verify(tok, testNow)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Key != want.Key || got.Filename != want.Filename || !got.Expires.Equal(want.Expires.Truncate(time.Second)) {
		t.Errorf("got %+v, want %+v (expiry to the second)", got, want)
	}
	if got.Expires.Location() != time.UTC {
		t.Errorf("Expires is in %v, want UTC", got.Expires.Location())
	}
	if again := mustSign(t, s, got); again != tok {
		t.Errorf("re-signing the verified download gave another token")
	}
}

func TestSign_makes_an_unsafe_file_name_safe(t *testing.T) {
	s := testSigner(t)
	for in, want := range map[string]string{
		`a"b.mp4`:                "a_b.mp4",
		"x\r\nSet-Cookie: y":     "x__Set-Cookie__y",
		"../../etc/passwd":       "_.._etc_passwd",
		"...":                    "download",
		"":                       "download",
		"vidéo.mp4":              "vid__o.mp4",
		strings.Repeat("a", 500): strings.Repeat("a", maxFilenameLen),
	} {
		d := testDownload()
		d.Filename = in
		got, err := s.Verify(mustSign(t, s, d), testNow)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got.Filename != want {
			t.Errorf("file name %q became %q, want %q", in, got.Filename, want)
		}
	}
}

func TestSign_refuses_an_invalid_key(t *testing.T) {
	d := testDownload()
	d.Key = "../secret"
	if tok, err := testSigner(t).Sign(d); err == nil {
		t.Errorf("Sign accepted an invalid key: %q", tok)
	}
}

// mustSign signs d or fails the test.
func mustSign(t testing.TB, s *Signer, d domain.DownloadGrant) string {
	t.Helper()
	tok, err := s.Sign(d)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerify_rejects_every_single_byte_change_of_the_token(t *testing.T) {
	s := testSigner(t)
	tok := mustSign(t, s, testDownload())
	b := []byte(tok)
	for i := range b {
		orig := b[i]
		for c := range 256 {
			if byte(c) == orig {
				continue
			}
			b[i] = byte(c)
			if _, err := s.Verify(string(b), testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
				t.Fatalf("token with byte %d set to %q: err = %v, want domain.ErrDownloadInvalid", i, byte(c), err)
			}
		}
		b[i] = orig
	}
	for n := range len(tok) {
		if _, err := s.Verify(tok[:n], testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
			t.Fatalf("token cut to %d characters: err = %v", n, err)
		}
	}
	for _, extra := range []string{"A", "AA", "AAAA", "=", "\n", "%00", "/x"} {
		for _, tampered := range []string{tok + extra, extra + tok, tok[:10] + extra + tok[10:]} {
			if _, err := s.Verify(tampered, testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
				t.Fatalf("token %q: err = %v, want domain.ErrDownloadInvalid", tampered, err)
			}
		}
	}
}

func TestVerify_rejects_every_single_byte_change_of_the_payload(t *testing.T) {
	s := testSigner(t)
	raw, err := tokenEncoding.DecodeString(mustSign(t, s, testDownload()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for x := 1; x < 256; x++ {
			raw[i] ^= byte(x)
			if _, err := s.Verify(tokenEncoding.EncodeToString(raw), testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
				t.Fatalf("raw byte %d xor %#x: err = %v, want domain.ErrDownloadInvalid", i, x, err)
			}
			raw[i] ^= byte(x)
		}
	}
	// Later expiry, other key, other name: re-encoded without the secret.
	payload := raw[:len(raw)-macLen]
	for _, forged := range [][]byte{
		rawPayload(tokenVersion, testNow.Add(time.Hour*24*365).Unix(), "renders/rnd_123/output.mp4", "rnd_123.mp4", 26),
		rawPayload(tokenVersion, testNow.Add(15*time.Minute).Unix(), "assets/ast_1/source", "rnd_123.mp4", 19),
	} {
		tok := tokenEncoding.EncodeToString(append(forged, raw[len(payload):]...))
		if _, err := s.Verify(tok, testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
			t.Errorf("forged payload with the old MAC: err = %v", err)
		}
	}
}

func TestVerify_rejects_a_token_of_another_secret(t *testing.T) {
	other := ringSigner(t, keyring.Key{ID: "k1", Secret: []byte("another secret, 32 bytes or more!")})
	tok := mustSign(t, other, testDownload())
	if _, err := testSigner(t).Verify(tok, testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
		t.Errorf("err = %v, want domain.ErrDownloadInvalid", err)
	}
}

func TestVerify_reports_expiry_from_the_expiry_second_on(t *testing.T) {
	s := testSigner(t)
	d := testDownload()
	tok := mustSign(t, s, d)
	for _, tc := range []struct {
		now  time.Time
		want error
	}{
		{d.Expires.Add(-time.Nanosecond), nil},
		{d.Expires, domain.ErrDownloadExpired},
		{d.Expires.Add(time.Hour), domain.ErrDownloadExpired},
	} {
		got, err := s.Verify(tok, tc.now)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("at %v: err = %v, want %v", tc.now, err, tc.want)
		}
		if err != nil && got != (domain.DownloadGrant{}) {
			t.Errorf("at %v: got %+v with an error, want the zero Download", tc.now, got)
		}
		if errors.Is(err, domain.ErrDownloadExpired) && errors.Is(err, domain.ErrDownloadInvalid) {
			t.Errorf("an expired token is also reported invalid")
		}
	}
	// An expired token that was tampered with is invalid, not expired.
	b := []byte(tok)
	b[3] ^= 1
	if _, err := s.Verify(string(b), d.Expires.Add(time.Hour)); !errors.Is(err, domain.ErrDownloadInvalid) {
		t.Errorf("tampered expired token: err = %v", err)
	}
}

func TestVerify_rejects_signed_payloads_it_would_never_mint(t *testing.T) {
	s := testSigner(t)
	exp := testNow.Add(time.Minute).Unix()
	for name, payload := range map[string][]byte{
		"unknown version":     rawPayload(3, exp, "a/b", "b.mp4", 3),
		"invalid key":         rawPayload(tokenVersion, exp, "../etc/passwd", "b.mp4", 13),
		"empty key":           rawPayload(tokenVersion, exp, "", "b.mp4", 0),
		"key length too long": rawPayload(tokenVersion, exp, "a/b", "", 4),
		"quote in file name":  rawPayload(tokenVersion, exp, "a/b", `b".mp4`, 3),
		"CRLF in file name":   rawPayload(tokenVersion, exp, "a/b", "b\r\nX: y", 3),
		"dot file name":       rawPayload(tokenVersion, exp, "a/b", ".mp4", 3),
		"empty file name":     rawPayload(tokenVersion, exp, "a/b", "", 3),
		"header only":         rawPayload(tokenVersion, exp, "", "", 0),
	} {
		if _, err := s.Verify(signRaw(s, payload), testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
			t.Errorf("%s: err = %v, want domain.ErrDownloadInvalid", name, err)
		}
	}
	// The same construction does verify with sane contents.
	if _, err := s.Verify(signRaw(s, rawPayload(tokenVersion, exp, "a/b", "b.mp4", 3)), testNow); err != nil {
		t.Errorf("control: %v", err)
	}
}

func TestVerify_rejects_garbage_without_panicking(t *testing.T) {
	s := testSigner(t)
	for _, tok := range []string{
		"", "a", "AA", "====", "not a token", "\x00", "\xff\xfe", "ü", "%2e%2e", "../../etc/passwd",
		strings.Repeat("A", 64), strings.Repeat("A", maxTokenLen), strings.Repeat("A", maxTokenLen+1),
		strings.Repeat("_", 1<<20),
	} {
		if _, err := s.Verify(tok, testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
			t.Errorf("Verify(%.20q…): err = %v, want domain.ErrDownloadInvalid", tok, err)
		}
	}
}

func TestURL_joins_the_public_base_and_the_token(t *testing.T) {
	s := testSigner(t)
	d := testDownload()
	tok := mustSign(t, s, d)
	for _, base := range []string{"https://renderd.example", "https://renderd.example/", "https://renderd.example//"} {
		if got, want := mustURL(t, s, base, d), "https://renderd.example/v1/downloads/"+tok; got != want {
			t.Errorf("URL(%q) = %q, want %q", base, got, want)
		}
	}
	if got, want := mustURL(t, s, "http://localhost:8080/prefix/", d), "http://localhost:8080/prefix/v1/downloads/"+tok; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func mustURL(t testing.TB, s *Signer, base string, d domain.DownloadGrant) string {
	t.Helper()
	u, err := s.URL(base, d)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func FuzzVerify(f *testing.F) {
	s := testSigner(f)
	d := testDownload()
	tok := mustSign(f, s, d)
	f.Add(tok)
	f.Add(tok[:len(tok)-1])
	f.Add(tok + "A")
	f.Add(mustSign(f, s, domain.DownloadGrant{Key: "a", Filename: "b", Expires: testNow.Add(-time.Hour)}))
	f.Add(signRaw(s, rawPayload(tokenVersion, testNow.Add(time.Hour).Unix(), "a/b", "c", 9)))
	f.Add("")
	f.Add("AAAA")
	f.Add("\n")
	f.Fuzz(func(t *testing.T, token string) {
		got, err := s.Verify(token, testNow)
		switch {
		case err == nil:
			// Only genuine tokens verify, and they are canonical: re-signing
			// what they grant spells the very same token.
			if again := mustSign(t, s, got); again != token {
				t.Fatalf("verified %q but re-signing gives %q", token, again)
			}
			if ValidateKey(got.Key) != nil || !validFilename(got.Filename) || !testNow.Before(got.Expires) {
				t.Fatalf("verified an unusable grant %+v", got)
			}
		case errors.Is(err, domain.ErrDownloadExpired), errors.Is(err, domain.ErrDownloadInvalid):
			if got != (domain.DownloadGrant{}) {
				t.Fatalf("error %v with a non-zero domain.DownloadGrant %+v", err, got)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

var otherSecret = []byte("fedcba9876543210fedcba9876543210")

func TestVerify_a_token_of_the_old_key_verifies_while_the_ring_holds_it(t *testing.T) {
	old := testSigner(t)
	tok := mustSign(t, old, testDownload())
	rotated := ringSigner(t, keyring.Key{ID: "k2", Secret: otherSecret}, keyring.Key{ID: "k1", Secret: testSecret})
	if _, err := rotated.Verify(tok, testNow); err != nil {
		t.Fatalf("a k1 token under the ring k2,k1: %v", err)
	}
	// The new key signs, and names itself in the token.
	fresh := mustSign(t, rotated, testDownload())
	if raw, _ := tokenEncoding.DecodeString(fresh); string(raw[2:2+raw[1]]) != "k2" {
		t.Errorf("the token names key %q, want k2", raw[2:2+raw[1]])
	}
	if _, err := old.Verify(fresh, testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
		t.Errorf("a k2 token verified under k1 alone: %v", err)
	}
	// k1 leaves the ring: its tokens stop working.
	retired := ringSigner(t, keyring.Key{ID: "k2", Secret: otherSecret})
	if _, err := retired.Verify(tok, testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
		t.Errorf("a k1 token verified after k1 left the ring: %v", err)
	}
}

func TestVerify_a_token_naming_a_key_by_another_id_is_invalid(t *testing.T) {
	// The same bytes under another id: the id is looked up, not guessed.
	tok := mustSign(t, testSigner(t), testDownload())
	renamed := ringSigner(t, keyring.Key{ID: "k9", Secret: testSecret})
	if _, err := renamed.Verify(tok, testNow); !errors.Is(err, domain.ErrDownloadInvalid) || !strings.Contains(err.Error(), "unknown key id") {
		t.Errorf("err = %v, want domain.ErrDownloadInvalid (unknown key id)", err)
	}
}

func TestVerify_a_version_1_token_verifies_under_any_key_of_the_ring(t *testing.T) {
	exp := testNow.Add(time.Minute).Unix()
	v1 := signRaw(testSigner(t), rawPayload(legacyVersion, exp, "a/b", "b.mp4", 3))
	ring := ringSigner(t, keyring.Key{ID: "k2", Secret: otherSecret}, keyring.Key{ID: "k1", Secret: testSecret})
	if d, err := ring.Verify(v1, testNow); err != nil || d.Key != "a/b" {
		t.Fatalf("a version 1 token under a ring holding its key: %+v, %v", d, err)
	}
	if _, err := ringSigner(t, keyring.Key{ID: "k2", Secret: otherSecret}).Verify(v1, testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
		t.Errorf("a version 1 token verified without its key: %v", err)
	}
	// A version 2 payload MACed as version 1 (a downgrade) is refused.
	p := rawPayload(tokenVersion, exp, "a/b", "b.mp4", 3)
	forged := tokenEncoding.EncodeToString(append(p, mac(testSecret, legacyMACContext, p)...))
	if _, err := ring.Verify(forged, testNow); !errors.Is(err, domain.ErrDownloadInvalid) {
		t.Errorf("a downgraded MAC verified: %v", err)
	}
}
