package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// env is a getenv of kv. Unless kv names one, the metrics listener takes a
// free port: tests serve many processes at once, and the default is one port.
func env(kv map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := kv[k]; ok || k != "RENDERD_METRICS_ADDR" {
			return v
		}
		return "127.0.0.1:0"
	}
}

// testSecretsKey is the RENDERD_SECRETS_KEY of the tests' services: the
// api and webhooks roles refuse to start without one.
const testSecretsKey = "test:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestConfig_defaults_env_and_flags(t *testing.T) {
	cfg, _, err := loadConfig("serve", []string{"--relay-batch-size", "50"}, env(map[string]string{
		"DATABASE_URL": "postgres://u:p@localhost:5432/db", "KAFKA_BROKERS": "a:1, b:2",
		"RENDERD_RELAY_BATCH_SIZE": "7", "RENDERD_RELAY_POLL_INTERVAL": "250ms", "RENDERD_SECRETS_KEY": testSecretsKey,
	}), &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RelayBatchSize != 50 {
		t.Errorf("flag did not win over env: batch size %d", cfg.RelayBatchSize)
	}
	if cfg.RelayPollInterval != 250*time.Millisecond || len(cfg.KafkaBrokers) != 2 || cfg.KafkaBrokers[1] != "b:2" {
		t.Errorf("env not applied: %+v", cfg)
	}
	if cfg.HTTPAddr != "127.0.0.1:8080" || len(cfg.Roles) != 5 || cfg.Partitions != 12 || cfg.ReplicationFactor != 0 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if cfg.HTTPTimeout != 30*time.Second || cfg.HTTPIdleTimeout != 2*time.Minute || cfg.TransferMinRate != 8192 || cfg.TransferWindow != 30*time.Second {
		t.Errorf("connection defaults not applied: %+v", cfg)
	}
}

func TestConfig_media_limits_default_and_parse(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u:p@localhost:5432/db", "KAFKA_BROKERS": "a:1", "RENDERD_SECRETS_KEY": testSecretsKey}
	cfg, _, err := loadConfig("serve", nil, env(base), &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EncodeStallTimeout != 10*time.Minute || cfg.EncodeMaxTime != 48*time.Hour || cfg.FFmpegMemoryLimit != 4<<30 || cfg.FFmpegThreads != 0 {
		t.Errorf("defaults: stall %v, max time %v, memory %d, threads %d", cfg.EncodeStallTimeout, cfg.EncodeMaxTime, cfg.FFmpegMemoryLimit, cfg.FFmpegThreads)
	}
	cfg, _, err = loadConfig("serve", []string{"--encode-max-time", "12h", "--ffmpeg-memory-limit", "0"}, env(map[string]string{
		"DATABASE_URL": base["DATABASE_URL"], "KAFKA_BROKERS": "a:1", "RENDERD_ENCODE_STALL_TIMEOUT": "2m", "RENDERD_FFMPEG_THREADS": "2",
		"RENDERD_SECRETS_KEY": testSecretsKey,
	}), &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EncodeStallTimeout != 2*time.Minute || cfg.EncodeMaxTime != 12*time.Hour || cfg.FFmpegMemoryLimit != 0 || cfg.FFmpegThreads != 2 {
		t.Errorf("set: stall %v, max time %v, memory %d, threads %d", cfg.EncodeStallTimeout, cfg.EncodeMaxTime, cfg.FFmpegMemoryLimit, cfg.FFmpegThreads)
	}
}

func TestConfig_errors_are_one_line_and_exit_code_2(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		args []string
		want []string
	}{
		"missing_database_url": {env: map[string]string{"KAFKA_BROKERS": "a:1"}, want: []string{"DATABASE_URL is required"}},
		"not_a_postgres_url":   {env: map[string]string{"DATABASE_URL": "mysql://x", "KAFKA_BROKERS": "a:1"}, want: []string{"postgres:// URL"}},
		"unknown_role_and_no_kafka": {env: map[string]string{"DATABASE_URL": "postgres://x/y"}, args: []string{"--roles", "api,bogus"},
			want: []string{`unknown role "bogus"`, "KAFKA_BROKERS is required"}},
		"bad_duration":    {env: map[string]string{"DATABASE_URL": "postgres://x/y", "RENDERD_RELAY_POLL_INTERVAL": "soon"}, want: []string{"RENDERD_RELAY_POLL_INTERVAL", "not a duration"}},
		"bad_number":      {env: map[string]string{"DATABASE_URL": "postgres://x/y", "RENDERD_KAFKA_PARTITIONS": "many"}, want: []string{"RENDERD_KAFKA_PARTITIONS"}},
		"zero_partitions": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_KAFKA_PARTITIONS": "0"}, want: []string{"at least 1"}},
		"bad_log_format":  {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_LOG_FORMAT": "xml"}, want: []string{"text or json"}},
		"bad_rate":        {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_RATE_WRITES": "lots"}, want: []string{"RENDERD_RATE_WRITES", "/s,<burst>"}},
		"zero_burst":      {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_RATE_READS": "5/s,0"}, want: []string{"RENDERD_RATE_READS", "between 1 and"}},
		"bad_proxies":     {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_TRUSTED_PROXIES": "10.0.0.0/33"}, want: []string{"RENDERD_TRUSTED_PROXIES", "10.0.0.0/33"}},
		"unknown_flag":    {env: map[string]string{"DATABASE_URL": "postgres://x/y"}, args: []string{"--nope"}, want: []string{"nope"}},
		"stray_argument": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_SECRETS_KEY": testSecretsKey},
			args: []string{"extra"}, want: []string{"unexpected arguments"}},
		"zero_http_timeout": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_HTTP_TIMEOUT": "0s"},
			want: []string{"RENDERD_HTTP_TIMEOUT and RENDERD_HTTP_IDLE_TIMEOUT must be positive"}},
		"negative_idle_timeout": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_HTTP_IDLE_TIMEOUT": "-1s"},
			want: []string{"RENDERD_HTTP_IDLE_TIMEOUT must be positive"}},
		"zero_transfer_rate": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_TRANSFER_MIN_RATE": "0"},
			want: []string{"RENDERD_TRANSFER_MIN_RATE must be at least 1"}},
		"zero_transfer_window": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_TRANSFER_WINDOW": "0s"},
			want: []string{"RENDERD_TRANSFER_WINDOW positive"}},
		// A longer window would let a live upload's temporary file look
		// abandoned to an older renderd's sweep (legacyTempAge).
		"transfer_window_near_the_sweep_age": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_TRANSFER_WINDOW": "11m"},
			want: []string{"at most 10m"}},
		"negative_output_retention": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_OUTPUT_RETENTION": "-1h"},
			want: []string{"RENDERD_OUTPUT_RETENTION must not be negative"}},
		"upload_ttl_too_short": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_UPLOAD_TTL": "30s"},
			want: []string{"RENDERD_UPLOAD_TTL must be between 1m and 168h"}},
		"upload_ttl_too_long": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_UPLOAD_TTL": "169h"},
			want: []string{"RENDERD_UPLOAD_TTL must be between 1m and 168h"}},
		"zero_erasure_interval": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_ERASURE_INTERVAL": "0s"},
			want: []string{"RENDERD_ERASURE_INTERVAL must be positive"}},
		"zero_blob_sweep_interval": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_BLOB_SWEEP_INTERVAL": "0s"},
			want: []string{"RENDERD_BLOB_SWEEP_INTERVAL and RENDERD_BLOB_SWEEP_MIN_AGE must be positive"}},
		"negative_blob_sweep_min_age": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_BLOB_SWEEP_MIN_AGE": "-1m"},
			want: []string{"RENDERD_BLOB_SWEEP_MIN_AGE must be positive"}},
		"negative_stall_timeout": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_ENCODE_STALL_TIMEOUT": "-1m"},
			want: []string{"RENDERD_ENCODE_STALL_TIMEOUT and RENDERD_ENCODE_MAX_TIME must be positive"}},
		"zero_max_time": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_ENCODE_MAX_TIME": "0s"},
			want: []string{"must be positive"}},
		"unknown_media_sandbox": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_MEDIA_SANDBOX": "on"},
			want: []string{"RENDERD_MEDIA_SANDBOX must be auto, strict or off"}},
		"negative_threads": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_FFMPEG_THREADS": "-2"},
			want: []string{"RENDERD_FFMPEG_THREADS must be -1 (ffmpeg's choice), 0 (the slot's share of the cores) or up to 256"}},
		"negative_memory_limit": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_FFMPEG_MEMORY_LIMIT": "-1"},
			want: []string{"RENDERD_FFMPEG_MEMORY_LIMIT must be 0 (no cap) or at least 536870912"}},
		"no_api_keys_per_account": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_ACCOUNT_MAX_API_KEYS": "0"},
			want: []string{"RENDERD_ACCOUNT_MAX_API_KEYS must be between 1 and 1000"}},
		// The TTL bounds a revoked key's life when a notification is lost.
		"key_cache_ttl_beyond_5m": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_API_KEY_CACHE_TTL": "1h"},
			want: []string{"RENDERD_API_KEY_CACHE_TTL must be between 1s and 5m"}},
		"memory_limit_too_small_to_load_ffmpeg": {env: map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_FFMPEG_MEMORY_LIMIT": "104857600"},
			want: []string{"RENDERD_FFMPEG_MEMORY_LIMIT must be 0 (no cap) or at least"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := run(t.Context(), append([]string{"serve"}, c.args...), env(c.env), &bytes.Buffer{}, &bytes.Buffer{})
			if !errors.Is(err, errUsage) {
				t.Fatalf("err = %v, want a usage error (exit code 2)", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfig_rate_limits_have_defaults_and_can_be_off(t *testing.T) {
	cfg, _, err := loadConfig("serve", []string{"--rate-uploads", "off"}, env(map[string]string{
		"DATABASE_URL": "postgres://u:p@localhost:5432/db", "KAFKA_BROKERS": "a:1",
		"RENDERD_RATE_REDELIVER": "30/m,5", "RENDERD_TRUSTED_PROXIES": "10.0.0.0/8, fd00::1", "RENDERD_SECRETS_KEY": testSecretsKey,
	}), &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	if l.Reads.String() != "100/s,200" || l.Writes.String() != "20/s,100" || l.Anonymous.String() != "20/s,100" {
		t.Errorf("defaults: %+v", l)
	}
	if !l.Uploads.Off() || l.Redeliver.String() != "30/m,5" {
		t.Errorf("uploads %v, redeliver %v", l.Uploads, l.Redeliver)
	}
	if len(l.TrustedProxies) != 2 || l.TrustedProxies[1].String() != "fd00::1/128" {
		t.Errorf("trusted proxies %v", l.TrustedProxies)
	}
}

// Without prlimit no capped ffmpeg can start: an encoder refuses to serve,
// before it connects to anything, rather than fail every upload.
func TestConfig_memory_limit_without_prlimit_is_a_usage_error(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	base := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "KAFKA_BROKERS": "127.0.0.1:1"}
	err := run(t.Context(), []string{"serve", "--roles", "encoder"}, env(base), &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_FFMPEG_MEMORY_LIMIT") ||
		!strings.Contains(err.Error(), "prlimit") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want a one-line usage error naming the setting and prlimit", err)
	}
}

func TestUnknown_or_missing_command_is_a_usage_error(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}} {
		if err := run(t.Context(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

func TestREADME_config_table_is_current(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), configTable()) {
		t.Errorf("README.md's config table is stale; replace it with the output of `renderd config-table`:\n%s", configTable())
	}
}

func TestTransfer_window_bound_stays_well_below_the_temp_sweep_age(t *testing.T) {
	if 4*maxTransferWindow > legacyTempAge {
		t.Fatalf("a live upload may idle up to %s between writes: too close to the sweep age %s", maxTransferWindow, legacyTempAge)
	}
}

func TestSandboxHelper_prefers_renderd_sandbox_beside_the_binary(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "renderd")
	if got := sandboxHelper(exe); !slices.Equal(got, []string{exe, "sandbox-exec"}) {
		t.Errorf("alone: %q, want renderd itself", got)
	}
	small := filepath.Join(dir, "renderd-sandbox")
	if err := os.WriteFile(small, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := sandboxHelper(exe); got[0] != exe {
		t.Errorf("a renderd-sandbox that is not executable was taken: %q", got)
	}
	if err := os.Chmod(small, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := sandboxHelper(exe); !slices.Equal(got, []string{small}) {
		t.Errorf("beside it: %q, want %s", got, small)
	}
}

func TestConfig_encode_threads_default_to_every_core_alone_and_the_slots_share_beside_others(t *testing.T) {
	for _, c := range []struct{ setting, slots, cores, alone, shared int }{
		{0, 2, 2, 0, 1}, {0, 1, 2, 0, 2}, {0, 2, 8, 0, 4}, {0, 3, 8, 0, 2}, {0, 8, 2, 0, 1}, // ffmpeg's own alone; the share, at least 1
		{-1, 2, 2, 0, 0}, // ffmpeg's own choice always
		{3, 2, 8, 3, 0},  // as set, always
	} {
		alone, shared := encodeThreads(c.setting, c.slots, c.cores)
		if alone != c.alone || shared != c.shared {
			t.Errorf("RENDERD_FFMPEG_THREADS=%d with %d slots on %d cores: -threads %d alone, %d beside others; want %d, %d",
				c.setting, c.slots, c.cores, alone, shared, c.alone, c.shared)
		}
	}
}
