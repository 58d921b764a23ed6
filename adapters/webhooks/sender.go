// Package webhooks is the transport and policy of webhook deliveries: the
// Standard Webhooks signature, the SSRF guard, the HTTP sender and the retry
// schedule. It keeps no state: github.com/renderd/renderd/webhooks stores endpoints,
// deliveries and attempts, and declares the Sender port that Sender
// implements.
package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/renderd/renderd/webhooks"
)

const (
	// DefaultTimeout bounds one attempt: connect, TLS, request and response.
	DefaultTimeout = 10 * time.Second
	// UserAgent identifies the sender to receivers.
	UserAgent = "renderd-webhooks/1"
	// MaxExcerpt is the most of a response body kept in the delivery log
	// (and only from a public destination: see webhooks.Result.BodyKept).
	MaxExcerpt = 1024

	// maxRetryAfter caps a receiver's Retry-After, so that one answer cannot
	// park a delivery for longer than the whole default schedule.
	maxRetryAfter = 24 * time.Hour
	// drainLimit is how much of a response is read past the excerpt so the
	// connection can be reused; larger bodies cost a new connection instead.
	drainLimit  = 64 << 10
	maxErrorLen = 200
)

// Sender sends webhook requests through a Guard. Every connection it opens
// is checked on the resolved address right before connect(), so neither a
// hostname resolving to an internal address nor DNS rebinding between
// validation and sending can reach a refused range. It never follows
// redirects and ignores proxy settings from the environment. A Sender is
// safe for concurrent use.
type Sender struct {
	guard  *Guard
	client *http.Client
	// keepBody decides, on the peer address of the connection a response
	// came on, whether its body goes to the delivery log: Guard.KeepBody. The
	// package's tests replace it to look at excerpts from local receivers.
	keepBody func(netip.Addr) bool
}

// NewSender returns a sender dialling only what g allows (a nil g is the
// default guard: https only, no special ranges) with a total timeout per
// attempt (DefaultTimeout when timeout <= 0).
func NewSender(g *Guard, timeout time.Duration) *Sender {
	if g == nil {
		g = NewGuard(nil, false)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{
		Timeout: timeout,
		// Control runs after the socket is created and before connect(): a
		// refused address never sees a packet.
		Control: func(network, address string, _ syscall.RawConn) error {
			return g.checkDial(network, address)
		},
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    timeout,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
	}
	return &Sender{
		guard:    g,
		keepBody: g.KeepBody,
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// checkDial is the dialer's check of the address it is about to connect to.
func (g *Guard) checkDial(network, address string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %s", ErrRefusedDestination, network)
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: address %q", ErrRefusedDestination, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: address %q", ErrRefusedDestination, address)
	}
	return g.CheckIP(ip)
}

// Send POSTs the message with the Standard Webhooks headers (webhook-id,
// webhook-timestamp, webhook-signature), content-type application/json and
// user-agent renderd-webhooks/1. It never returns an error: every failure is
// a Result, and only a 2xx response is a success.
func (s *Sender) Send(ctx context.Context, m webhooks.Message) webhooks.Result {
	start := time.Now()
	a := webhooks.Result{At: start}
	fail := func(reason string) webhooks.Result {
		a.Latency = time.Since(start)
		a.Error = truncate(reason, maxErrorLen)
		return a
	}
	_, err := s.guard.parseURL(m.URL)
	if err != nil {
		return fail(err.Error())
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = start
	}
	sig, err := Sign(m.Secrets, m.ID, ts, m.Body)
	if err != nil {
		return fail("signing: " + err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return fail("invalid request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	// The address the response comes from: a connection's peer, be it
	// dialled for this request or reused (no proxy is ever in between).
	var peer netip.Addr
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if ap, err := netip.ParseAddrPort(info.Conn.RemoteAddr().String()); err == nil {
				peer = ap.Addr()
			}
		},
	}))

	resp, err := s.client.Do(req)
	if err != nil {
		return fail(describe(err, time.Since(start)))
	}
	defer resp.Body.Close()
	a.StatusCode = resp.StatusCode
	a.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	// A body cut short (timeout, reset) still leaves the status: the
	// response arrived, so the excerpt is whatever was read.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, MaxExcerpt+utf8.UTFMax))
	a.Latency = time.Since(start)
	if a.BodyKept = s.keepBody(peer); a.BodyKept {
		a.Body = excerpt(head, MaxExcerpt)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	return a
}

// describe turns a transport error into a short reason for the delivery
// log. The URL (which a customer may have given a token in its query) is left
// out; the host is named only where it explains the failure, and a resolved
// address never (a refusal is RefusedMessage, whatever it refused).
func describe(err error, elapsed time.Duration) string {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.Is(err, ErrRefusedDestination):
		return RefusedMessage
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return "timeout after " + elapsed.Round(time.Millisecond).String()
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "dns: no such host " + dnsErr.Name
		}
		return "dns: lookup of " + dnsErr.Name + " failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &hostErr):
		return "tls: certificate is not valid for " + hostErr.Host
	case errors.As(err, &certErr):
		return "tls: certificate verification failed"
	case errors.As(err, &recordErr):
		return "tls: handshake failed (not a TLS server?)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a response"
	}
	// *url.Error quotes the whole URL and *net.OpError the addresses; keep
	// only the cause.
	if errors.As(err, &opErr) {
		return opErr.Op + ": " + opErr.Err.Error()
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return err.Error()
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// Absent, unparsable and past values are 0; the result is capped at 24 h.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n >= uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// excerpt returns at most limit bytes of b as valid UTF-8, cut at a rune
// boundary; invalid bytes and NUL (which Postgres text refuses) become U+FFFD.
func excerpt(b []byte, limit int) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == 0 || (r == utf8.RuneError && size == 1) {
			r = utf8.RuneError
		}
		if sb.Len()+utf8.RuneLen(r) > limit {
			break
		}
		sb.WriteRune(r)
		b = b[size:]
	}
	return sb.String()
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
