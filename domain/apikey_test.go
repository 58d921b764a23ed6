package domain_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func TestAPIKey_every_minted_key_is_well_formed(t *testing.T) {
	for range 1000 {
		var secret [domain.APIKeySecretBytes]byte
		_, _ = rand.Read(secret[:])
		if key := domain.NewAPIKey(secret); !domain.WellFormedAPIKey(key) {
			t.Fatalf("minted %q, judged malformed", key)
		}
	}
}

func TestAPIKey_anything_else_is_malformed(t *testing.T) {
	good := domain.NewAPIKey([domain.APIKeySecretBytes]byte{1, 2, 3})
	for _, c := range []struct{ name, key string }{
		{"empty", ""},
		{"prefix_only", "rdk_"},
		{"other_prefix", "sk__" + good[4:]},
		{"upper_case_prefix", "RDK_" + good[4:]},
		{"one_short", good[:len(good)-1]},
		{"one_long", good + "A"},
		{"padded", good[:len(good)-1] + "="},
		{"standard_base64_plus", good[:10] + "+" + good[11:]},
		{"standard_base64_slash", good[:10] + "/" + good[11:]},
		{"space_inside", good[:10] + " " + good[11:]},
		{"non_ascii", good[:10] + "é" + good[12:]},
		{"trailing_bits_set", good[:len(good)-1] + "B"},
		{"long", "rdk_" + strings.Repeat("A", 1000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if domain.WellFormedAPIKey(c.key) {
				t.Errorf("%q judged well-formed", c.key)
			}
		})
	}
}

func TestAPIKey_names_and_expiries(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name, keyName string
		expires       time.Time
		field         string // "" = accepted
	}{
		{"empty_name_and_no_expiry", "", time.Time{}, ""},
		{"a_name_of_100_bytes", strings.Repeat("é", 50), time.Time{}, ""},
		{"a_name_of_101_bytes", strings.Repeat("n", 101), time.Time{}, "name"},
		{"a_nul", "a\x00b", time.Time{}, "name"},
		{"a_control_character", "a\x1bb", time.Time{}, "name"},
		{"a_line_break", "a\nb", time.Time{}, "name"},
		{"a_c1_control", "a\u0085b", time.Time{}, "name"},
		{"invalid_utf8", "a\xffb", time.Time{}, "name"},
		{"expiry_now", "", now, "expires_at"},
		{"expiry_past", "", now.Add(-time.Hour), "expires_at"},
		{"expiry_in_a_second", "", now.Add(time.Second), ""},
		{"expiry_at_the_bound", "", now.Add(domain.MaxAPIKeyLifetime), ""},
		{"expiry_past_the_bound", "", now.Add(domain.MaxAPIKeyLifetime + time.Second), "expires_at"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := errors.Join(domain.CheckAPIKeyName(c.keyName), domain.CheckAPIKeyExpiry(c.expires, now))
			var v *domain.ValidationError
			switch {
			case c.field == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.field != "" && (!errors.As(err, &v) || v.Field != c.field):
				t.Errorf("got %v, want a validation error on %s", err, c.field)
			}
		})
	}
}

func TestAPIKey_is_usable_until_it_expires(t *testing.T) {
	now := time.Now()
	if !domain.APIKeyUsable(time.Time{}, now) || !domain.APIKeyUsable(now.Add(time.Nanosecond), now) {
		t.Error("a key without expiry, or expiring later, is refused")
	}
	if domain.APIKeyUsable(now, now) || domain.APIKeyUsable(now.Add(-time.Second), now) {
		t.Error("an expired key is usable")
	}
	if got := domain.APIKeyDisplay(domain.NewAPIKey([domain.APIKeySecretBytes]byte{})); got != "rdk_AAAAAAAA" {
		t.Errorf("display %q", got)
	}
}
