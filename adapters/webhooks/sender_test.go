package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/renderd/renderd/webhooks"
)

// localGuard opens loopback explicitly, as the tests' receivers listen there;
// the default guard's refusal of loopback is tested separately.
func localGuard() *Guard { return NewGuard(LoopbackPrefixes(), true) }

// received is what a test receiver saw of one request.
type received struct {
	method string
	header http.Header
	body   []byte
}

// receiver starts a loopback server answering with h and recording every
// request it receives.
func receiver(t *testing.T, h http.HandlerFunc) (*httptest.Server, func() []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{method: r.Method, header: r.Header.Clone(), body: body})
		mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func testMessage(t *testing.T, url string, secrets ...string) webhooks.Message {
	t.Helper()
	if len(secrets) == 0 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		secrets = []string{s}
	}
	return webhooks.Message{
		URL:       url,
		ID:        "8f0e2a4c-3b7d-4d5e-9f61-2a7c0b1d9e55",
		Timestamp: time.Now(),
		Body:      []byte(`{"type":"render.completed","timestamp":"2026-03-01T12:00:00Z","data":{"id":"rnd_1","state":"completed"}}` + "\n"),
		Secrets:   secrets,
	}
}

func TestSend_headers_and_body_verify_with_the_standard_webhooks_library(t *testing.T) {
	srv, requests := receiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	current, _ := NewSecret()
	previous, _ := NewSecret()
	m := testMessage(t, srv.URL+"/hooks/renderd?token=abc", current, previous)

	a := NewSender(localGuard(), 0).Send(context.Background(), m)
	if !a.OK() || a.StatusCode != http.StatusNoContent || a.Error != "" {
		t.Fatalf("Send = %+v, want 204", a)
	}
	got := requests()
	if len(got) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost {
		t.Errorf("method %s, want POST", r.method)
	}
	if !bytes.Equal(r.body, m.Body) {
		t.Errorf("body %q, want byte-identical %q", r.body, m.Body)
	}
	for name, want := range map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "renderd-webhooks/1",
		"webhook-id":        m.ID,
		"webhook-timestamp": strconv.FormatInt(m.Timestamp.Unix(), 10),
	} {
		if v := r.header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
	if sig := r.header.Get("webhook-signature"); len(strings.Split(sig, " ")) != 2 {
		t.Errorf("webhook-signature %q: want one signature per secret", sig)
	}
	for name, secret := range map[string]string{"current": current, "previous": previous} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Errorf("%s secret: Verify = %v", name, err)
		}
	}
	other, _ := NewSecret()
	wh, _ := standardwebhooks.NewWebhook(other)
	if err := wh.Verify(r.body, r.header); err == nil {
		t.Error("an unrelated secret verifies the request")
	}
}

func TestSend_zero_timestamp_is_the_attempt_time(t *testing.T) {
	srv, requests := receiver(t, nil)
	m := testMessage(t, srv.URL)
	m.Timestamp = time.Time{}
	a := NewSender(localGuard(), 0).Send(context.Background(), m)
	if !a.OK() {
		t.Fatalf("Send = %+v", a)
	}
	if got, want := requests()[0].header.Get("webhook-timestamp"), strconv.FormatInt(a.At.Unix(), 10); got != want {
		t.Errorf("webhook-timestamp %s, want the attempt time %s", got, want)
	}
}

// excerptSender is a sender to loopback receivers that keeps their response
// bodies, as it keeps those of public destinations (which a test cannot
// listen on): what an excerpt holds is tested on it.
func excerptSender() *Sender {
	s := NewSender(localGuard(), 0)
	s.keepBody = func(netip.Addr) bool { return true }
	return s
}

func TestSend_outcomes(t *testing.T) {
	sender := excerptSender()
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		ok, gone bool
	}{
		{"200_is_success", 200, `{"received":true}`, true, false},
		{"202_is_success", 202, "", true, false},
		{"299_is_success", 299, "", true, false},
		{"500_is_a_failure_with_its_body", 500, "database on fire", false, false},
		{"404_is_a_failure", 404, "no such hook", false, false},
		{"429_is_a_failure", 429, "slow down", false, false},
		{"410_disables_the_endpoint", 410, "gone for good", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			a := sender.Send(context.Background(), testMessage(t, srv.URL))
			if a.StatusCode != tc.status || a.OK() != tc.ok || a.Gone() != tc.gone {
				t.Fatalf("Send = %+v; want status %d, OK %v, Gone %v", a, tc.status, tc.ok, tc.gone)
			}
			if a.Error != "" {
				t.Errorf("Error = %q on a response, want empty", a.Error)
			}
			if a.Body != tc.body || !a.BodyKept {
				t.Errorf("Body = %q (kept %v), want %q", a.Body, a.BodyKept, tc.body)
			}
			if a.Latency <= 0 || a.At.IsZero() {
				t.Errorf("At %v, Latency %v: want both set", a.At, a.Latency)
			}
		})
	}
}

func TestSend_redirect_is_not_followed(t *testing.T) {
	var followed atomic.Int32
	target, _ := receiver(t, func(http.ResponseWriter, *http.Request) { followed.Add(1) })
	for _, status := range []int{301, 302, 303, 307, 308} {
		srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", status)
		})
		a := NewSender(localGuard(), 0).Send(context.Background(), testMessage(t, srv.URL))
		if a.StatusCode != status || a.OK() || a.Error != "" {
			t.Errorf("%d: Send = %+v; want the redirect itself as a failed attempt", status, a)
		}
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
}

func TestSend_slow_receiver_times_out(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	const timeout = 300 * time.Millisecond
	a := NewSender(localGuard(), timeout).Send(context.Background(), testMessage(t, srv.URL))
	if a.StatusCode != 0 || a.OK() {
		t.Fatalf("Send = %+v, want no response", a)
	}
	if !strings.Contains(a.Error, "timeout") {
		t.Errorf("Error = %q, want a timeout", a.Error)
	}
	if a.Latency < timeout || a.Latency > 5*time.Second {
		t.Errorf("Latency = %v, want about %v", a.Latency, timeout)
	}
}

func TestSend_cancelled_context(t *testing.T) {
	srv, requests := receiver(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := NewSender(localGuard(), 0).Send(ctx, testMessage(t, srv.URL))
	if a.StatusCode != 0 || a.Error != "cancelled" {
		t.Fatalf("Send = %+v, want cancelled", a)
	}
	if n := len(requests()); n != 0 {
		t.Fatalf("receiver saw %d requests", n)
	}
}

func TestSend_connection_refused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a := NewSender(localGuard(), 0).Send(context.Background(), testMessage(t, "http://"+addr+"/"))
	if a.StatusCode != 0 || a.Error != "connection refused" {
		t.Fatalf("Send = %+v, want connection refused", a)
	}
}

func TestSend_retry_after(t *testing.T) {
	sender := NewSender(localGuard(), 0)
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name, header string
		lo, hi       time.Duration
	}{
		{"seconds", "120", 120 * time.Second, 120 * time.Second},
		{"http_date", date, 85 * time.Second, 90 * time.Second},
		{"absent", "", 0, 0},
		{"unparsable", "soon", 0, 0},
		{"capped_at_24h", "999999999999999999999", 24 * time.Hour, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			a := sender.Send(context.Background(), testMessage(t, srv.URL))
			if a.StatusCode != 503 || a.RetryAfter < tc.lo || a.RetryAfter > tc.hi {
				t.Fatalf("Send = %+v; want 503 with RetryAfter in [%v, %v]", a, tc.lo, tc.hi)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"30", 30 * time.Second},
		{" 30 ", 30 * time.Second},
		{"86399", 86399 * time.Second},
		{"86400", 24 * time.Hour},
		{"18446744073709551615", 24 * time.Hour},
		{"-5", 0},
		{"1.5", 0},
		{"Sun, 01 Mar 2026 12:05:00 GMT", 5 * time.Minute},
		{"Sunday, 01-Mar-26 12:05:00 GMT", 5 * time.Minute}, // RFC 850
		{"Sun Mar  1 12:05:00 2026", 5 * time.Minute},       // asctime
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0},                // in the past
		{"Tue, 10 Mar 2026 12:00:00 GMT", 24 * time.Hour},
		{"tomorrow", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSend_body_excerpt_is_at_most_1KiB_of_valid_utf8(t *testing.T) {
	// 'a' then 2-byte runes: the rune straddling byte 1024 is left out.
	big := "a" + strings.Repeat("é", 5000)
	srv, _ := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, big)
	})
	a := excerptSender().Send(context.Background(), testMessage(t, srv.URL))
	if a.StatusCode != http.StatusBadGateway {
		t.Fatalf("Send = %+v", a)
	}
	if len(a.Body) != 1023 || !utf8.ValidString(a.Body) || !strings.HasPrefix(big, a.Body) {
		t.Fatalf("Body: %d bytes, valid UTF-8 %v; want the first 1023 bytes of the response", len(a.Body), utf8.ValidString(a.Body))
	}
}

func TestExcerpt(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		limit          int
	}{
		{"short_body_is_kept", "hello", "hello", 1024},
		{"ascii_is_cut_at_the_limit", strings.Repeat("x", 2000), strings.Repeat("x", 1024), 1024},
		{"rune_is_not_split", "ab€", "ab", 4},
		{"invalid_bytes_become_replacement", "a\xffb", "a\uFFFDb", 1024},
		{"nul_becomes_replacement", "a\x00b", "a\uFFFDb", 1024},
		{"replacement_counts_in_the_limit", "\xff\xff", "\uFFFD", 4},
		{"truncated_rune_at_the_end", "ab\xe2\x82", "ab\uFFFD\uFFFD", 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := excerpt([]byte(tc.in), tc.limit)
			if got != tc.want || len(got) > tc.limit || !utf8.ValidString(got) {
				t.Fatalf("excerpt(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
			}
		})
	}
}

func TestSend_https_receiver(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-signature") == "" {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// httptest's certificate is not trusted by default.
	a := NewSender(NewGuard(LoopbackPrefixes(), false), 0).Send(context.Background(), testMessage(t, srv.URL))
	if a.StatusCode != 0 || !strings.HasPrefix(a.Error, "tls:") {
		t.Fatalf("untrusted certificate: Send = %+v, want a tls error", a)
	}

	s := NewSender(NewGuard(LoopbackPrefixes(), false), 0)
	tr := s.client.Transport.(*http.Transport)
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	if a := s.Send(context.Background(), testMessage(t, srv.URL)); !a.OK() {
		t.Fatalf("trusted certificate: Send = %+v, want 200", a)
	}
}

func TestSend_invalid_url_or_secret_sends_nothing(t *testing.T) {
	srv, requests := receiver(t, nil)
	sender := NewSender(NewGuard(LoopbackPrefixes(), false), 0)

	a := sender.Send(context.Background(), testMessage(t, srv.URL)) // http, not allowed
	if a.StatusCode != 0 || !strings.Contains(a.Error, "scheme must be https") {
		t.Errorf("http URL with https required: Send = %+v", a)
	}
	u, _ := url.Parse(srv.URL)
	u.Scheme = "https"
	u.User = url.UserPassword("user", "hunter2")
	a = sender.Send(context.Background(), testMessage(t, u.String()))
	if a.StatusCode != 0 || strings.Contains(a.Error, "hunter2") || !strings.Contains(a.Error, "credentials") {
		t.Errorf("URL with userinfo: Send = %+v", a)
	}

	const bad = "whsec_c2hvcnQ="
	a = NewSender(localGuard(), 0).Send(context.Background(), testMessage(t, srv.URL, bad))
	if a.StatusCode != 0 || !strings.HasPrefix(a.Error, "signing:") || strings.Contains(a.Error, "c2hvcnQ") {
		t.Errorf("malformed secret: Send = %+v", a)
	}
	if n := len(requests()); n != 0 {
		t.Fatalf("receiver saw %d requests", n)
	}
}

// The default guard must refuse internal destinations before connect(): no
// packet may reach them. The attempt fails at once, far below any connect
// timeout, and the delivery log's reason names no address, no range: the
// customer must not learn where a name resolves inside the network.
func TestSend_default_guard_refuses_internal_destinations_without_connecting(t *testing.T) {
	srv, accepted := countingServer(t, "tcp4", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	for _, tc := range []struct {
		name string
		g    *Guard
		url  string
		addr string // never in the error
	}{
		{"metadata_address", NewGuard(nil, true), "http://169.254.169.254/latest/meta-data/", "169.254.169.254"},
		{"private_address", NewGuard(nil, true), "http://10.0.0.1/", "10.0.0.1"},
		{"private_address_over_https", NewGuard(nil, false), "https://10.0.0.1/", "10.0.0.1"},
		{"ipv4_mapped_private_address", NewGuard(nil, true), "http://[::ffff:10.0.0.1]/", "10.0.0.1"},
		{"cgnat_address", NewGuard(nil, true), "http://100.64.0.1/", "100.64.0.1"},
		{"loopback_receiver", NewGuard(nil, true), "http://127.0.0.1:" + port + "/", "127.0.0.1"},
		// A hostname is resolved and every resulting address checked.
		{"hostname_resolving_to_loopback", NewGuard(nil, true), "http://localhost:" + port + "/", "127.0.0.1"},
		// The allow list opens loopback only.
		{"loopback_allowed_still_refuses_metadata", localGuard(), "http://169.254.169.254/", "169.254.169.254"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewSender(tc.g, DefaultTimeout).Send(context.Background(), testMessage(t, tc.url))
			if a.StatusCode != 0 || a.OK() {
				t.Fatalf("Send = %+v, want no response", a)
			}
			if a.Error != RefusedMessage || strings.Contains(a.Error, tc.addr) {
				t.Errorf("Error = %q, want %q and nothing of %s", a.Error, RefusedMessage, tc.addr)
			}
			if a.Latency > time.Second {
				t.Errorf("Latency = %v: the refusal must come before any connect attempt", a.Latency)
			}
		})
	}
	if n := accepted(); n != 0 {
		t.Fatalf("the loopback receiver accepted %d connections through the default guard", n)
	}

	// The same receiver is reachable once loopback is allowed, by name too:
	// the refusals above were the guard's.
	if a := NewSender(localGuard(), 0).Send(context.Background(), testMessage(t, "http://localhost:"+port+"/")); !a.OK() {
		t.Fatalf("loopback allowed: Send to localhost = %+v, want 200", a)
	}
	if n := accepted(); n != 1 {
		t.Fatalf("loopback allowed: the receiver accepted %d connections, want 1", n)
	}
}

// countingServer starts an HTTP server answering 200 on network/addr and
// counts the TCP connections it accepts: a refused destination must not
// even be connected to.
func countingServer(t *testing.T, network, addr string) (*httptest.Server, func() int32) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	cl := &countingListener{Listener: l}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener.Close()
	srv.Listener = cl
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cl.n.Load
}

type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestSend_ipv6_loopback_is_refused_by_default(t *testing.T) {
	srv, accepted := countingServer(t, "tcp6", "[::1]:0")

	a := NewSender(NewGuard(nil, true), 0).Send(context.Background(), testMessage(t, srv.URL))
	if a.StatusCode != 0 || a.Error != RefusedMessage {
		t.Fatalf("Send = %+v, want refused ::1", a)
	}
	if n := accepted(); n != 0 {
		t.Fatalf("the IPv6 loopback receiver accepted %d connections through the default guard", n)
	}
	if a := NewSender(localGuard(), 0).Send(context.Background(), testMessage(t, srv.URL)); a.StatusCode != 200 {
		t.Fatalf("::1 allowed: Send = %+v, want 200", a)
	}
}

// A destination only an allow prefix opens is the operator's network: what
// it answers is sent nowhere, its body is not kept for the delivery log.
func TestSend_keeps_no_body_from_a_destination_the_allow_list_opens(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "internal admin page: secrets inside")
	})
	a := NewSender(localGuard(), 0).Send(context.Background(), testMessage(t, srv.URL))
	if a.StatusCode != http.StatusInternalServerError {
		t.Fatalf("Send = %+v", a)
	}
	if a.BodyKept || a.Body != "" {
		t.Errorf("Body %q kept %v from a loopback receiver, want none", a.Body, a.BodyKept)
	}
}

// The guard's decision behind keeping a body: public unicast addresses only,
// whatever the allow list opens.
func TestPublic_is_the_public_unicast_check_without_the_allow_list(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:4700::6810:84e5": true, "::ffff:93.184.215.14": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "192.168.0.1": false, "172.16.0.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "::ffff:10.0.0.1": false, "64:ff9b::a00:1": false,
		"fe80::1%eth0": false, "fd00::1": false, "0.0.0.0": false, "224.0.0.1": false, "192.0.2.1": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
	if Public(netip.Addr{}) {
		t.Error("Public(invalid) = true")
	}
}

// A public address the allow list opens is the operator's network too: its
// bodies are not kept, in any spelling of the address.
func TestGuard_KeepBody_never_from_an_allowed_range(t *testing.T) {
	g := NewGuard([]netip.Prefix{netip.MustParsePrefix("93.184.215.0/24"), netip.MustParsePrefix("2606:4700::/32"), netip.MustParsePrefix("127.0.0.0/8")}, true)
	for addr, want := range map[string]bool{
		"93.184.215.14": false, "::ffff:93.184.215.14": false, "64:ff9b::5db8:d70e": false,
		"2606:4700::6810:84e5": false, "127.0.0.1": false,
		"93.184.216.34": true, "::ffff:93.184.216.34": true, "2a00:1450::1": true,
		"10.1.2.3": false,
	} {
		if got := g.KeepBody(netip.MustParseAddr(addr)); got != want {
			t.Errorf("KeepBody(%s) = %v, want %v", addr, got, want)
		}
	}
	if NewGuard(nil, false).KeepBody(netip.Addr{}) {
		t.Error("KeepBody(invalid) = true")
	}
	if !NewGuard(nil, false).KeepBody(netip.MustParseAddr("93.184.215.14")) {
		t.Error("KeepBody(public) = false with no allow list")
	}
}
