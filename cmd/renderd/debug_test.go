package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestDebug_addr_must_be_loopback_unless_allowed(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "localhost":
			return []string{"127.0.0.1", "::1"}, nil
		case "public.example":
			return []string{"203.0.113.7"}, nil
		case "mixed.example":
			return []string{"127.0.0.1", "10.0.0.5"}, nil
		case "empty.example":
			return nil, nil
		}
		return nil, errors.New("no such host")
	}
	for addr, ok := range map[string]bool{
		"127.0.0.1:6060": true, "[::1]:6060": true, "127.8.9.10:0": true, "localhost:6060": true,
		":6060": false, "0.0.0.0:6060": false, "[::]:6060": false, "10.1.2.3:6060": false, "[2001:db8::1]:6060": false,
		"public.example:6060": false, "mixed.example:6060": false, "empty.example:6060": false, "nowhere.invalid:6060": false,
		"127.0.0.1": false, // no port
	} {
		listen, err := checkDebugAddr(t.Context(), addr, false, lookup)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want allowed %v", addr, err, ok)
		}
		if err != nil && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_DEBUG_ADDR")) {
			t.Errorf("%s: err = %v, want a usage error naming RENDERD_DEBUG_ADDR", addr, err)
		}
		if err == nil && net.ParseIP(strings.Trim(listen[:strings.LastIndex(listen, ":")], "[]")) == nil {
			t.Errorf("%s: listens on %q, want the checked IP address (not the name, resolved again)", addr, listen)
		}
		if got, err := checkDebugAddr(t.Context(), addr, true, lookup); err != nil || got != addr {
			t.Errorf("%s with RENDERD_DEBUG_ALLOW_REMOTE: %q %v", addr, got, err)
		}
	}
	if got, _ := checkDebugAddr(t.Context(), "localhost:6060", false, lookup); got != "127.0.0.1:6060" {
		t.Errorf("localhost:6060 listens on %q, want 127.0.0.1:6060", got)
	}
}

func TestServe_refuses_a_public_debug_addr_before_anything_runs(t *testing.T) {
	// No database behind the URL: the refusal comes first.
	base := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "KAFKA_BROKERS": "127.0.0.1:1",
		"RENDERD_SECRETS_KEY": testSecretsKey, "RENDERD_DEBUG_ADDR": "0.0.0.0:0"}
	err := run(t.Context(), []string{"serve", "--roles", "relay"}, env(base), &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_DEBUG_ALLOW_REMOTE") {
		t.Errorf("err = %v, want a usage error pointing at RENDERD_DEBUG_ALLOW_REMOTE", err)
	}
}
