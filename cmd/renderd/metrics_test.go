package main

import (
	"bytes"
	"errors"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestConfig_metrics_addr_defaults_to_loopback_and_empty_or_off_turns_it_off(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u@localhost/db", "KAFKA_BROKERS": "a:1", "RENDERD_SECRETS_KEY": testSecretsKey}
	noDefault := func(k string) string { return base[k] } // not env: it gives tests a free port
	cfg, _, err := loadConfig("serve", nil, noDefault, &bytes.Buffer{}, nil)
	if err != nil || cfg.MetricsAddr != "127.0.0.1:9464" {
		t.Errorf("default: %q %v, want 127.0.0.1:9464", cfg.MetricsAddr, err)
	}
	for name, args := range map[string][]string{"empty flag": {"--metrics-addr="}, "off": {"--metrics-addr", "off"}} {
		if cfg, _, err := loadConfig("serve", args, noDefault, &bytes.Buffer{}, nil); err != nil || cfg.MetricsAddr != "" {
			t.Errorf("%s: %q %v, want no listener", name, cfg.MetricsAddr, err)
		}
	}
	// In the environment, set and empty is off; unset is the default.
	t.Setenv("RENDERD_METRICS_ADDR", "")
	t.Setenv("RENDERD_LOG_FORMAT", "")
	if got := settingsEnv("RENDERD_METRICS_ADDR"); got != metricsOff {
		t.Errorf("RENDERD_METRICS_ADDR set empty reads %q, want %q", got, metricsOff)
	}
	if got := settingsEnv("RENDERD_LOG_FORMAT"); got != "" {
		t.Errorf("another setting set empty reads %q, want its default (\"\")", got)
	}
	if got := settingsEnv("RENDERD_NO_SUCH_SETTING"); got != "" {
		t.Errorf("an unset variable reads %q", got)
	}
}

func TestConfig_a_bad_metrics_addr_is_a_usage_error(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "KAFKA_BROKERS": "127.0.0.1:1", "RENDERD_SECRETS_KEY": testSecretsKey,
		"RENDERD_HTTP_ADDR": "127.0.0.1:8080"}
	for _, c := range []struct{ addr, roles string }{
		{"9464", "relay"}, {"127.0.0.1", "relay"}, {"localhost:", "relay"}, {"[::1:9464", "relay"},
		{"127.0.0.1:8080", "api"}, // the API's own port
	} {
		kv := maps.Clone(base)
		kv["RENDERD_METRICS_ADDR"] = c.addr
		// Nothing listens at the database's address: the refusal comes first.
		err := run(t.Context(), []string{"serve", "--roles", c.roles}, env(kv), &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_METRICS_ADDR") {
			t.Errorf("%q (roles %s): %v, want a usage error naming RENDERD_METRICS_ADDR", c.addr, c.roles, err)
		}
	}
	// The API's address is fine for a process without the API.
	kv := maps.Clone(base)
	kv["RENDERD_METRICS_ADDR"] = "127.0.0.1:8080"
	if _, _, err := loadConfig("serve", []string{"--roles", "relay"}, env(kv), &bytes.Buffer{}, nil); err != nil {
		t.Errorf("RENDERD_HTTP_ADDR's address without the api role: %v", err)
	}
}

// Each role's checks exist from the start and fail until serve has built
// what they check, so that a probe during the start reads 503.
func TestReadiness_names_each_roles_checks_and_fails_them_until_started(t *testing.T) {
	for roles, want := range map[string][]string{
		"api":                                  {"postgres", "roles"},
		"relay":                                {"kafka", "postgres", "roles"},
		"projector":                            {"consumers", "kafka", "postgres", "roles"},
		"encoder":                              {"consumers", "kafka", "postgres", "roles"},
		"webhooks":                             {"consumers", "kafka", "postgres", "roles"},
		"api,relay,projector,encoder,webhooks": {"consumers", "kafka", "postgres", "roles"},
	} {
		cfg := Config{Roles: strings.Split(roles, ",")}
		if roles != "api" { // an api-only process without brokers has no kafka check
			cfg.KafkaBrokers = []string{"127.0.0.1:1"}
		}
		r := newReadiness(cfg)
		if got := slices.Sorted(maps.Keys(r.checks)); !slices.Equal(got, want) {
			t.Errorf("%s: checks %v, want %v", roles, got, want)
		}
		for _, name := range []string{"postgres", "consumers", "roles"} {
			if check, ok := r.checks[name]; ok {
				if err := check(t.Context()); !errors.Is(err, errNotStarted) {
					t.Errorf("%s: %s before the start = %v, want %v", roles, name, err, errNotStarted)
				}
			}
		}
		r.started.Store(true)
		if err := r.checks["roles"](t.Context()); err != nil {
			t.Errorf("%s: roles once started = %v", roles, err)
		}
	}
}

// The README's metrics table names every family telemetry declares.
func TestREADME_metrics_table_names_every_family(t *testing.T) {
	src, err := os.ReadFile("../../telemetry/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Metrics\n")
	if !ok {
		t.Fatal(`README.md has no "## Metrics" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names := regexp.MustCompile(`Name:\s+"(renderd_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(names) == 0 {
		t.Fatal("no family found in telemetry/metrics.go")
	}
	for _, m := range names {
		if !strings.Contains(section, "| `"+m[1]+"` |") {
			t.Errorf("README's metrics table has no row for %s", m[1])
		}
	}
}

// A metrics address already taken stops serve before anything else runs,
// naming the listener (a run error, not a usage error: the address is
// well formed).
func TestServe_a_taken_metrics_addr_fails_the_start(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// No database behind the URL: the listener comes first.
	kv := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "KAFKA_BROKERS": "127.0.0.1:1",
		"RENDERD_SECRETS_KEY": testSecretsKey, "RENDERD_METRICS_ADDR": taken.Addr().String()}
	err = run(t.Context(), []string{"serve", "--roles", "relay"}, env(kv), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "metrics: listen on "+taken.Addr().String()) {
		t.Errorf("serve = %v, want the metrics listener's error", err)
	}
}
