package domain_test

import (
	"crypto/rand"
	"strings"
	"testing"

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
