package webhooks

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestGuard_default_refuses_internal_addresses(t *testing.T) {
	g := NewGuard(nil, false)
	for _, tc := range []struct{ addr, reason string }{
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"10.0.0.1", "private"},
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"100.64.0.1", "shared address space"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "link-local"},
		{"64:ff9b::a00:1", "private"}, // NAT64 of 10.0.0.1
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this network"},
		{"::", "unspecified"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"ff0e::1", "multicast"},
		{"255.255.255.255", "reserved"},
		{"240.0.0.1", "reserved"},
		{"192.0.0.8", "reserved"},
		{"192.0.2.1", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"2001:db8::1", "documentation"},
		{"fec0::1", "reserved"},
		{"::a00:1", "reserved"}, // IPv4-compatible, deprecated
	} {
		t.Run(tc.addr, func(t *testing.T) {
			err := g.CheckIP(netip.MustParseAddr(tc.addr))
			if !errors.Is(err, ErrRefusedDestination) {
				t.Fatalf("CheckIP(%s) = %v, want ErrRefusedDestination", tc.addr, err)
			}
			if !strings.Contains(err.Error(), "("+tc.reason+")") {
				t.Errorf("CheckIP(%s) = %q, want reason %q", tc.addr, err, tc.reason)
			}
			if !strings.Contains(err.Error(), strings.SplitN(tc.addr, "%", 2)[0]) {
				t.Errorf("CheckIP(%s) = %q, want the address named", tc.addr, err)
			}
		})
	}
}

func TestGuard_default_allows_public_unicast(t *testing.T) {
	g := NewGuard(nil, false)
	for _, addr := range []string{
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "100.128.0.1", "172.32.0.1", "192.169.0.1",
		"2606:4700:4700::1111", "2a00:1450:4001:80b::200e",
		"::ffff:1.1.1.1", "64:ff9b::101:101",
	} {
		if err := g.CheckIP(netip.MustParseAddr(addr)); err != nil {
			t.Errorf("CheckIP(%s) = %v, want nil", addr, err)
		}
	}
}

func TestGuard_invalid_address_is_refused(t *testing.T) {
	if err := NewGuard(nil, false).CheckIP(netip.Addr{}); !errors.Is(err, ErrRefusedDestination) {
		t.Fatalf("CheckIP(zero) = %v, want ErrRefusedDestination", err)
	}
}

func TestGuard_allow_prefixes_open_only_their_ranges(t *testing.T) {
	g := NewGuard(LoopbackPrefixes(), false)
	for _, addr := range []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"} {
		if err := g.CheckIP(netip.MustParseAddr(addr)); err != nil {
			t.Errorf("loopback allowed: CheckIP(%s) = %v, want nil", addr, err)
		}
	}
	for _, addr := range []string{"169.254.169.254", "10.0.0.1", "192.168.0.1", "fe80::1", "::ffff:10.0.0.1"} {
		if err := g.CheckIP(netip.MustParseAddr(addr)); !errors.Is(err, ErrRefusedDestination) {
			t.Errorf("loopback allowed: CheckIP(%s) = %v, want ErrRefusedDestination", addr, err)
		}
	}

	// An unmasked prefix is taken as its network.
	g = NewGuard([]netip.Prefix{netip.MustParsePrefix("10.1.2.3/16")}, false)
	if err := g.CheckIP(netip.MustParseAddr("10.1.200.1")); err != nil {
		t.Errorf("10.1.0.0/16 allowed: CheckIP(10.1.200.1) = %v", err)
	}
	if err := g.CheckIP(netip.MustParseAddr("10.2.0.1")); err == nil {
		t.Error("10.1.0.0/16 allowed: CheckIP(10.2.0.1) = nil, want refused")
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 127.0.0.0/8, ::1 10.1.2.3/16,192.168.0.7")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.0/8", "::1/128", "10.1.0.0/16", "192.168.0.7/32"}
	if len(got) != len(want) {
		t.Fatalf("ParsePrefixes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ParsePrefixes[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if got, err := ParsePrefixes(""); err != nil || len(got) != 0 {
		t.Errorf(`ParsePrefixes("") = %v, %v; want empty`, got, err)
	}
	for _, bad := range []string{"localhost", "127.0.0.0/33", "10.0.0.0/8,nope"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) = nil error", bad)
		}
	}
}

func TestGuard_CheckURL(t *testing.T) {
	httpsOnly := NewGuard(nil, false)
	withHTTP := NewGuard(nil, true)
	local := NewGuard(LoopbackPrefixes(), true)
	for _, tc := range []struct {
		name    string
		g       *Guard
		url     string
		ok      bool
		refused bool // also ErrRefusedDestination
	}{
		{"https_is_accepted", httpsOnly, "https://hooks.example.com/renderd?token=abc", true, false},
		{"https_with_port_is_accepted", httpsOnly, "https://hooks.example.com:8443/x", true, false},
		{"https_ipv6_literal_is_accepted", httpsOnly, "https://[2606:4700:4700::1111]/x", true, false},
		{"http_is_refused_by_default", httpsOnly, "http://hooks.example.com/", false, false},
		{"http_is_accepted_when_allowed", withHTTP, "http://hooks.example.com/", true, false},
		{"userinfo_is_refused", httpsOnly, "https://user:pass@hooks.example.com/", false, false},
		{"user_without_password_is_refused", httpsOnly, "https://user@hooks.example.com/", false, false},
		{"empty_host_is_refused", httpsOnly, "https:///path", false, false},
		{"port_without_host_is_refused", httpsOnly, "https://:443/path", false, false},
		{"empty_url_is_refused", httpsOnly, "", false, false},
		{"ftp_is_refused", withHTTP, "ftp://hooks.example.com/", false, false},
		{"relative_url_is_refused", httpsOnly, "/hooks", false, false},
		{"opaque_url_is_refused", httpsOnly, "https:hooks.example.com", false, false},
		{"uppercase_scheme_is_normalised", httpsOnly, "HTTPS://hooks.example.com/", true, false},
		{"port_zero_is_refused", httpsOnly, "https://hooks.example.com:0/", false, false},
		{"port_out_of_range_is_refused", httpsOnly, "https://hooks.example.com:65536/", false, false},
		{"empty_port_is_refused", httpsOnly, "https://hooks.example.com:/", false, false},
		{"fragment_is_refused", httpsOnly, "https://hooks.example.com/#x", false, false},
		{"too_long_is_refused", httpsOnly, "https://hooks.example.com/" + strings.Repeat("a", maxURLLen), false, false},
		{"metadata_ip_literal_is_refused", withHTTP, "http://169.254.169.254/latest/meta-data/", false, true},
		{"private_ip_literal_is_refused", httpsOnly, "https://10.0.0.1/", false, true},
		{"loopback_ipv6_literal_is_refused", withHTTP, "http://[::1]:8080/", false, true},
		{"loopback_literal_is_accepted_when_allowed", local, "http://127.0.0.1:9000/hook", true, false},
		// Not resolved at creation: the sender checks the resolved address.
		{"hostname_is_not_resolved", withHTTP, "http://localhost:9000/", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.g.CheckURL(tc.url)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", tc.url, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("CheckURL(%q) = %v, want ErrInvalidURL", tc.url, err)
			}
			if got := errors.Is(err, ErrRefusedDestination); got != tc.refused {
				t.Errorf("CheckURL(%q) = %v: ErrRefusedDestination %v, want %v", tc.url, err, got, tc.refused)
			}
			if strings.Contains(err.Error(), "pass") {
				t.Errorf("CheckURL error %q quotes the credentials", err)
			}
		})
	}
}

func TestGuard_CheckURL_returns_the_comparison_form(t *testing.T) {
	g := NewGuard(nil, true)
	for _, tc := range []struct{ a, b string }{
		{"https://Hooks.Example.COM/in", "https://hooks.example.com/in"},
		{"HTTPS://hooks.example.com/in", "https://hooks.example.com/in"},
		{"https://hooks.example.com:443/in", "https://hooks.example.com/in"},
		{"http://hooks.example.com:80/in", "http://hooks.example.com/in"},
		{"https://hooks.example.com.", "https://hooks.example.com/"},
		{"https://hooks.example.com", "https://hooks.example.com/"},
		{"https://hooks.example.com:0443/in", "https://hooks.example.com/in"},
		{"https://[2606:4700:0::6810:84e5]/in", "https://[2606:4700::6810:84e5]/in"},
	} {
		ka, errA := g.CheckURL(tc.a)
		kb, errB := g.CheckURL(tc.b)
		if errA != nil || errB != nil || ka != kb {
			t.Errorf("CheckURL(%q) = %q, %v; CheckURL(%q) = %q, %v: want the same form", tc.a, ka, errA, tc.b, kb, errB)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"https://hooks.example.com/in", "https://hooks.example.com/in/"},
		{"https://hooks.example.com/in", "https://hooks.example.com/IN"},
		{"https://hooks.example.com/in", "http://hooks.example.com/in"},
		{"https://hooks.example.com/in", "https://hooks.example.com:8443/in"},
		{"https://hooks.example.com/in?a=1", "https://hooks.example.com/in?a=2"},
		{"https://hooks.example.com/in", "https://other.example.com/in"},
	} {
		ka, _ := g.CheckURL(tc.a)
		kb, _ := g.CheckURL(tc.b)
		if ka == kb {
			t.Errorf("%q and %q compare equal (%q): want distinct", tc.a, tc.b, ka)
		}
	}
}
