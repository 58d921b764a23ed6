package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const secretValue = "k1:c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1uZXZlci1sZWFrISE="

func TestConfig_secrets_are_refused_as_flags_naming_their_env_var(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_SECRETS_KEY": testSecretsKey}
	for name, tc := range map[string]struct {
		args []string
		env  string
	}{
		"--download-secret value":  {[]string{"--download-secret", secretValue}, "RENDERD_DOWNLOAD_SECRET"},
		"--download-secret=value":  {[]string{"--download-secret=" + secretValue}, "RENDERD_DOWNLOAD_SECRET"},
		"-download-secret=value":   {[]string{"-download-secret=" + secretValue}, "RENDERD_DOWNLOAD_SECRET"},
		"--secrets-key value":      {[]string{"--roles", "api", "--secrets-key", secretValue}, "RENDERD_SECRETS_KEY"},
		"--secrets-key=value last": {[]string{"--log-level", "warn", "--secrets-key=" + secretValue}, "RENDERD_SECRETS_KEY"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(t.Context(), append([]string{"serve"}, tc.args...), env(base), &bytes.Buffer{}, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.env) || !strings.Contains(err.Error(), "in the environment") {
				t.Fatalf("err = %v, want a usage error naming %s", err, tc.env)
			}
			if strings.Contains(err.Error()+stderr.String(), "c2VjcmV0") {
				t.Errorf("the refusal echoes the secret: %v %s", err, stderr.String())
			}
		})
	}
}

func TestConfig_a_database_url_flag_with_a_password_is_refused(t *testing.T) {
	base := map[string]string{"KAFKA_BROKERS": "a:1", "RENDERD_SECRETS_KEY": testSecretsKey}
	for _, u := range []string{"postgres://renderd:hunter2@db/renderd", "postgres://renderd@db/renderd?password=hunter2",
		"postgres://renderd@db/renderd?sslmode=verify-full&sslkey=/k.pem&sslpassword=hunter2"} {
		err := run(t.Context(), []string{"migrate", "--database-url", u}, env(base), &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "set DATABASE_URL in the environment") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: err = %v, want a usage error naming DATABASE_URL, without the password", u, err)
		}
	}
	// Without a password the flag is fine (PGPASSWORD or ~/.pgpass give it).
	if _, _, err := loadConfig("migrate", []string{"--database-url", "postgres://renderd@db/renderd"}, env(base), &bytes.Buffer{}, nil); err != nil {
		t.Errorf("a password-less --database-url: %v", err)
	}
	// In the environment a password is where it belongs.
	base["DATABASE_URL"] = "postgres://renderd:hunter2@db/renderd"
	if _, _, err := loadConfig("migrate", nil, env(base), &bytes.Buffer{}, nil); err != nil {
		t.Errorf("DATABASE_URL with a password: %v", err)
	}
}

func TestConfig_secret_settings_have_no_flag_in_the_table(t *testing.T) {
	table := configTable()
	for _, env := range []string{"RENDERD_DOWNLOAD_SECRET", "RENDERD_SECRETS_KEY"} {
		line := ""
		for _, l := range strings.Split(table, "\n") {
			if strings.HasPrefix(l, "| `"+env+"`") {
				line = l
			}
		}
		if !strings.Contains(line, "none: a secret, environment only") || strings.Contains(line, "`--") {
			t.Errorf("%s row: %q", env, line)
		}
	}
}

func TestConfig_the_api_and_webhooks_roles_need_the_secrets_key(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1"}
	for _, roles := range []string{"api", "webhooks", "api,relay"} {
		err := run(t.Context(), []string{"serve", "--roles", roles}, env(base), &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_SECRETS_KEY is required by the api and webhooks roles") {
			t.Errorf("roles %s: err = %v", roles, err)
		}
	}
	if _, _, err := loadConfig("serve", []string{"--roles", "relay,projector"}, env(base), &bytes.Buffer{}, nil); err != nil {
		t.Errorf("roles without secrets: %v", err)
	}
	for name, v := range map[string]string{
		"not base64": "k1:***", "16 bytes": "k1:MDEyMzQ1Njc4OWFiY2RlZg==", "a duplicate id": "k1:" + testSecretsKey[5:] + ",k1:" + testSecretsKey[5:],
	} {
		base["RENDERD_SECRETS_KEY"] = v
		_, _, err := loadConfig("serve", nil, env(base), &bytes.Buffer{}, nil)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_SECRETS_KEY") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	base["RENDERD_SECRETS_KEY"] = "k2:" + testSecretsKey[5:] + ", k1:" + testSecretsKey[5:]
	cfg, _, err := loadConfig("serve", nil, env(base), &bytes.Buffer{}, nil)
	if err != nil || len(cfg.SecretsKeys) != 2 || cfg.SecretsKeys[0].ID != "k2" {
		t.Errorf("a two-key ring: %+v, %v", cfg.SecretsKeys, err)
	}
}

func TestConfig_download_secret_is_a_ring_and_a_bare_key_still_parses(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x/y", "KAFKA_BROKERS": "a:1", "RENDERD_SECRETS_KEY": testSecretsKey}
	base["RENDERD_DOWNLOAD_SECRET"] = testSecretsKey[5:]
	cfg, _, err := loadConfig("serve", nil, env(base), &bytes.Buffer{}, nil)
	if err != nil || len(cfg.DownloadKeys) != 1 || cfg.DownloadKeys[0].ID != "0" {
		t.Fatalf("bare key: %+v, %v", cfg.DownloadKeys, err)
	}
	base["RENDERD_DOWNLOAD_SECRET"] = "k2:" + testSecretsKey[5:] + ",k1:" + testSecretsKey[5:]
	if cfg, _, err = loadConfig("serve", nil, env(base), &bytes.Buffer{}, nil); err != nil || len(cfg.DownloadKeys) != 2 {
		t.Fatalf("ring: %+v, %v", cfg.DownloadKeys, err)
	}
	base["RENDERD_DOWNLOAD_SECRET"] = "k1:c2hvcnQ="
	if _, _, err := loadConfig("serve", nil, env(base), &bytes.Buffer{}, nil); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "RENDERD_DOWNLOAD_SECRET") {
		t.Errorf("short key: %v", err)
	}
}
