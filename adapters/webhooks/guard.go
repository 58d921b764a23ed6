package webhooks

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

var (
	// ErrRefusedDestination reports an address a delivery may not reach
	// (loopback, private, link-local, metadata, ...). Errors wrapping it name
	// the address and the reason; the delivery log never shows them (it says
	// RefusedMessage), because a customer could map the service's network by
	// reading back which names resolve where.
	ErrRefusedDestination = errors.New("refused destination")
	// ErrInvalidURL reports an endpoint URL that cannot be accepted. A URL
	// naming a refused IP literal wraps ErrRefusedDestination as well.
	ErrInvalidURL = errors.New("invalid webhook url")
)

// RefusedMessage is the delivery log's one word for every refused
// destination: no address, no range, no reason.
const RefusedMessage = "destination refused"

// maxURLLen bounds an endpoint URL; longer ones are refused at creation.
const maxURLLen = 2048

// refusedError is ErrRefusedDestination with the address and the reason,
// kept short because it ends up in the delivery log.
type refusedError struct {
	addr   netip.Addr
	reason string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s: %s (%s)", ErrRefusedDestination, e.addr, e.reason)
}

func (e *refusedError) Unwrap() error { return ErrRefusedDestination }

// Guard decides which destination addresses a delivery may reach. By default
// it refuses everything that is not a public unicast address, so that a
// customer-supplied URL cannot make the service call into its own network
// (SSRF). The operator opens ranges with allow prefixes, e.g. loopback for
// local development and tests. A Guard is immutable and safe for concurrent
// use.
type Guard struct {
	allow     []netip.Prefix
	allowHTTP bool
}

// NewGuard returns a guard that refuses the special ranges except inside the
// allow prefixes ("127.0.0.0/8", "::1/128", ...); allowHTTP permits http://
// URLs, https only otherwise. Invalid prefixes are ignored.
func NewGuard(allow []netip.Prefix, allowHTTP bool) *Guard {
	g := &Guard{allowHTTP: allowHTTP}
	for _, p := range allow {
		if p.IsValid() {
			g.allow = append(g.allow, p.Masked())
		}
	}
	return g
}

// LoopbackPrefixes returns the loopback ranges, IPv4 and IPv6: the allow list
// for local development (`make run`) and for tests with local receivers.
func LoopbackPrefixes() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// ParsePrefixes parses an operator allow list from the environment: comma- or
// space-separated CIDRs or bare addresses ("127.0.0.0/8, ::1"). An empty
// string is an empty list.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("webhook allow list: %q is neither a CIDR nor an address", f)
			}
			out = append(out, netip.PrefixFrom(a.WithZone(""), a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("webhook allow list: %q is neither a CIDR nor an address", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// CheckURL validates an endpoint URL when the endpoint is created: https
// (http only when the guard allows it), a host, no userinfo, no fragment, a
// valid port. It does not resolve the host: the resolved address is checked
// at send time, on every connection. A host that is an IP literal is checked
// here already, so an obviously internal URL is refused up front.
//
// It returns the URL's comparison form (URLKey), by which an account's
// endpoints are kept distinct.
func (g *Guard) CheckURL(raw string) (string, error) {
	u, err := g.parseURL(raw)
	if err != nil {
		return "", err
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := g.CheckIP(ip); err != nil {
			return "", fmt.Errorf("%w: %w", ErrInvalidURL, err)
		}
	}
	return urlKey(u), nil
}

// URLKey returns the comparison form of an endpoint URL as stored, without
// the checks of a new one (scheme allowed, address): false when it is not
// a URL an endpoint could have. For endpoints stored before keys existed.
func URLKey(raw string) (string, bool) {
	u, err := (&Guard{allowHTTP: true}).parseURL(raw)
	if err != nil {
		return "", false
	}
	return urlKey(u), true
}

// urlKey is the form two endpoint URLs are compared in (docs/webhooks.md,
// "Endpoints"): scheme and host in lower case, a host's trailing dot and the
// scheme's default port dropped, an IP literal in its canonical spelling, an
// empty path as "/". The rest (path, trailing slash, query) is compared as
// written: receivers may tell "/hooks" from "/hooks/", or route on the query.
func urlKey(u *url.URL) string {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	scheme := strings.ToLower(u.Scheme)
	if p := u.Port(); p != "" {
		if n, _ := strconv.Atoi(p); !(scheme == "https" && n == 443) && !(scheme == "http" && n == 80) {
			host += ":" + strconv.Itoa(n)
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	key := scheme + "://" + host + path
	if u.RawQuery != "" || u.ForceQuery {
		key += "?" + u.RawQuery
	}
	return key
}

// parseURL is CheckURL without the IP-literal check; Send uses it and leaves
// every address, literal or resolved, to the dialer.
func (g *Guard) parseURL(raw string) (*url.URL, error) {
	invalid := func(reason string) (*url.URL, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidURL, reason)
	}
	if raw == "" {
		return invalid("empty")
	}
	if len(raw) > maxURLLen {
		return invalid(fmt.Sprintf("longer than %d characters", maxURLLen))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("not a URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !g.allowHTTP {
			return invalid("scheme must be https")
		}
	default:
		if g.allowHTTP {
			return invalid("scheme must be https or http")
		}
		return invalid("scheme must be https")
	}
	if u.Opaque != "" {
		return invalid("not a hierarchical URL")
	}
	if u.User != nil {
		return invalid("credentials in the URL are not allowed")
	}
	if u.Hostname() == "" {
		return invalid("no host")
	}
	if strings.Contains(raw, "#") {
		return invalid("fragments are not allowed")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return invalid("bad port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return invalid("bad port")
	}
	return u, nil
}

// CheckIP reports whether an address may be dialled: nil, or an error
// wrapping ErrRefusedDestination. Loopback, private, link-local (including the
// cloud metadata address 169.254.169.254), unspecified, multicast, shared
// (CGNAT), documentation, benchmarking and reserved ranges are refused, as are
// IPv4-mapped and NAT64 forms of them, unless inside an allow prefix.
func (g *Guard) CheckIP(ip netip.Addr) error {
	if !ip.IsValid() {
		return &refusedError{addr: ip, reason: "invalid address"}
	}
	ip = ip.WithZone("")
	if g.allowed(ip) {
		return nil
	}
	if reason := specialPurpose(embeddedIPv4(ip)); reason != "" {
		return &refusedError{addr: ip, reason: reason}
	}
	return nil
}

// Public reports whether ip is a public unicast address: one the guard lets
// through with no allow prefix.
func Public(ip netip.Addr) bool {
	return ip.IsValid() && specialPurpose(embeddedIPv4(ip.WithZone(""))) == ""
}

// KeepBody reports whether a response from ip may have its body kept in the
// delivery log: a public address (Public) outside every allow prefix. A
// range RENDERD_WEBHOOK_ALLOW opens is the operator's own network, public
// addresses included, so nothing from it is read back to a customer.
func (g *Guard) KeepBody(ip netip.Addr) bool {
	return Public(ip) && !g.allowed(ip)
}

// allowed reports whether ip, or the IPv4 address it embeds, is inside an
// allow prefix.
func (g *Guard) allowed(ip netip.Addr) bool {
	ip = ip.WithZone("")
	inner := embeddedIPv4(ip)
	for _, p := range g.allow {
		if p.Contains(ip) || p.Contains(inner) {
			return true
		}
	}
	return false
}

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")

	// specialPrefixes are the ranges the netip.Addr predicates do not cover
	// (from the IANA special-purpose address registries).
	specialPrefixes = []struct {
		prefix netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared address space"},
		{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
		{netip.MustParsePrefix("192.88.99.0/24"), "reserved"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
		{netip.MustParsePrefix("::/96"), "reserved"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "reserved"},
		{netip.MustParsePrefix("100::/64"), "reserved"},
		{netip.MustParsePrefix("2001::/23"), "reserved"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("2002::/16"), "reserved"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"},
		{netip.MustParsePrefix("5f00::/16"), "reserved"},
		{netip.MustParsePrefix("fec0::/10"), "reserved"},
	}
)

// embeddedIPv4 returns the IPv4 address an IPv4-mapped (::ffff:a.b.c.d) or
// well-known NAT64 (64:ff9b::a.b.c.d) address reaches, or ip itself.
func embeddedIPv4(ip netip.Addr) netip.Addr {
	if ip.Is4In6() {
		return ip.Unmap()
	}
	if nat64WellKnown.Contains(ip) {
		b := ip.As16()
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return ip
}

// specialPurpose names why ip is not a public unicast address, or "".
func specialPurpose(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, s := range specialPrefixes {
		if s.prefix.Contains(ip) {
			return s.reason
		}
	}
	return ""
}
