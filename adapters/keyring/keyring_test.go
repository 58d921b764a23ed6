package keyring

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func ring(t *testing.T, v string) *AEAD {
	t.Helper()
	keys, err := Parse(v, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAEAD(keys)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParse_reads_ids_and_keys_first_key_first(t *testing.T) {
	keys, err := Parse(" k2:"+key(2)+", k1:"+key(1)+" ", 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "k2" || keys[1].ID != "k1" || keys[0].Secret[0] != 2 || keys[1].Secret[0] != 1 {
		t.Fatalf("keys = %+v", keys)
	}
}

func TestParse_a_bare_single_key_is_key_0(t *testing.T) {
	keys, err := Parse(key(7), 32, 0)
	if err != nil || len(keys) != 1 || keys[0].ID != "0" {
		t.Fatalf("keys = %+v, err = %v", keys, err)
	}
}

func TestParse_refuses_malformed_rings_without_quoting_keys(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	for name, tc := range map[string]struct{ v, want string }{
		"empty":             {"", "empty"},
		"not base64":        {"k1:***", "not standard base64"},
		"short key":         {"k1:" + short, "is 5 bytes"},
		"long key":          {"k1:" + base64.StdEncoding.EncodeToString(make([]byte, 33)), "want 32"},
		"bare among many":   {key(1) + ",k2:" + key(2), "has no id"},
		"duplicate id":      {"k1:" + key(1) + ",k1:" + key(2), "used twice"},
		"empty id":          {":" + key(1), "the id must be"},
		"id with a space":   {"k 1:" + key(1), "the id must be"},
		"id too long":       {strings.Repeat("k", 17) + ":" + key(1), "the id must be"},
		"empty entry":       {"k1:" + key(1) + ",", "has no id"},
		"colon in the key":  {"k1:" + key(1) + ":x", "not standard base64"},
		"url-safe base64 ☺": {"k1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), "not standard base64"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.v, 32, 32)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMalformed saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), key(1)) {
				t.Errorf("the error quotes a key: %v", err)
			}
		})
	}
}

func TestAEAD_round_trip_and_rotation(t *testing.T) {
	old := ring(t, "k1:"+key(1))
	sealed, err := old.Seal([]byte("whsec_abc"), []byte("whe_1/current"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("whsec_abc")) {
		t.Fatal("the sealed value holds the plaintext")
	}
	rotated := ring(t, "k2:"+key(2)+",k1:"+key(1))
	plain, err := rotated.Open(sealed, []byte("whe_1/current"))
	if err != nil || string(plain) != "whsec_abc" {
		t.Fatalf("open after rotation = %q, %v", plain, err)
	}
	if !rotated.Stale(sealed) || old.Stale(sealed) {
		t.Error("Stale: want stale under k2,k1 only")
	}
	again, err := rotated.Seal(plain, []byte("whe_1/current"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := rotated.KeyID(again); id != "k2" || rotated.Stale(again) {
		t.Errorf("sealed again under %q, want k2", id)
	}
	// Two seals of one plaintext differ (random nonce).
	if twice, _ := rotated.Seal(plain, []byte("whe_1/current")); bytes.Equal(twice, again) {
		t.Error("two seals are equal: the nonce is not random")
	}
}

func TestAEAD_open_refuses(t *testing.T) {
	a := ring(t, "k1:"+key(1))
	ad := []byte("whe_1/current")
	sealed, err := a.Seal([]byte("whsec_abc"), ad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(sealed); b[i] ^= 1; return b }
	for name, tc := range map[string]struct {
		ring   *AEAD
		sealed []byte
		ad     string
		want   error
	}{
		"the wrong key (same id)":      {ring(t, "k1:"+key(9)), sealed, string(ad), ErrOpen},
		"an unknown key id":            {ring(t, "k2:"+key(1)), sealed, string(ad), ErrUnknownKey},
		"a tampered ciphertext byte":   {a, flip(len(sealed) - 20), string(ad), ErrOpen},
		"a tampered tag byte":          {a, flip(len(sealed) - 1), string(ad), ErrOpen},
		"a tampered nonce byte":        {a, flip(2 + 2 + 1), string(ad), ErrOpen},
		"another row (swapped ad)":     {a, sealed, "whe_2/current", ErrOpen},
		"another column (swapped ad)":  {a, sealed, "whe_1/previous", ErrOpen},
		"an unknown version":           {a, flip(0), string(ad), ErrOpen},
		"a truncated value":            {a, sealed[:10], string(ad), ErrOpen},
		"nothing":                      {a, nil, string(ad), ErrOpen},
		"a key id longer than the row": {a, []byte{1, 200, 'k'}, string(ad), ErrOpen},
	} {
		t.Run(name, func(t *testing.T) {
			plain, err := tc.ring.Open(tc.sealed, []byte(tc.ad))
			if !errors.Is(err, tc.want) || plain != nil {
				t.Fatalf("Open = %q, %v; want %v", plain, err, tc.want)
			}
		})
	}
	// The key id is authenticated: relabelled under another key of the
	// same bytes, the value does not open.
	relabelled := ring(t, "k2:"+key(1)+",k1:"+key(9))
	b := bytes.Clone(sealed)
	b[3] = '2'
	if _, err := relabelled.Open(b, ad); !errors.Is(err, ErrOpen) {
		t.Errorf("a relabelled key id opened: %v", err)
	}
}

func TestNewAEAD_refuses_bad_rings(t *testing.T) {
	for name, keys := range map[string][]Key{
		"none":      nil,
		"short key": {{ID: "k1", Secret: make([]byte, 16)}},
		"bad id":    {{ID: "", Secret: make([]byte, 32)}},
		"dup id":    {{ID: "a", Secret: make([]byte, 32)}, {ID: "a", Secret: make([]byte, 32)}},
	} {
		if _, err := NewAEAD(keys); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
