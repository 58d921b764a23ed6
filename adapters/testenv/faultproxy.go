package testenv

import (
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// FaultProxy is a loopback TCP proxy in front of a real server (Postgres,
// a webhook receiver) that a test can cut and restore: the outage a
// restart or a network blip causes, seen from the client, without
// stopping the server other tests share. Cut closes every open connection
// and refuses new ones (connection refused, as while a server restarts);
// Restore accepts again on the same address.
type FaultProxy struct {
	t       testing.TB
	network string // of the target
	target  string
	addr    string // the proxy's own 127.0.0.1:port, stable across cuts

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewFaultProxy listens on 127.0.0.1 and forwards every connection to
// target ("tcp" or "unix" network). It is closed when the test ends.
func NewFaultProxy(t testing.TB, network, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{t: t, network: network, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// ProxyPostgres puts a FaultProxy in front of the database dsn names (over
// TCP or the unix socket the local stack uses) and returns the proxy and a
// DSN that connects through it.
func ProxyPostgres(t testing.TB, dsn string) (*FaultProxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	host, port := u.Hostname(), u.Port()
	if h := q.Get("host"); h != "" {
		host = h
	}
	if p := q.Get("port"); p != "" {
		port = p
	}
	if port == "" {
		port = "5432"
	}
	network, target := "tcp", net.JoinHostPort(host, port)
	if len(host) > 0 && host[0] == '/' {
		network, target = "unix", host+"/.s.PGSQL."+port
	}
	p := NewFaultProxy(t, network, target)
	ph, pp, _ := net.SplitHostPort(p.Addr())
	q.Del("host")
	q.Del("port")
	u.Host = net.JoinHostPort(ph, pp)
	u.RawQuery = q.Encode()
	return p, u.String()
}

// Addr is the proxy's address (127.0.0.1:port).
func (p *FaultProxy) Addr() string { return p.addr }

// Port is the proxy's port.
func (p *FaultProxy) Port() int {
	_, port, _ := net.SplitHostPort(p.addr)
	n, _ := strconv.Atoi(port)
	return n
}

// Cut drops every connection and refuses new ones until Restore.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again on the same address.
func (p *FaultProxy) Restore() {
	p.t.Helper()
	p.mu.Lock()
	cut := p.ln == nil
	p.mu.Unlock()
	if !cut {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("fault proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *FaultProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

// forward pipes one client connection to a new connection to the target.
func (p *FaultProxy) forward(client net.Conn) {
	server, err := net.Dial(p.network, p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client, server) {
		_ = client.Close()
		_ = server.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			_ = err // a reset mid-copy is the point of a cut
		}
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
	p.untrack(client, server)
}

// track registers a pair unless the proxy was cut meanwhile.
func (p *FaultProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *FaultProxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}
