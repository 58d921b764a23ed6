package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/renderd/renderd/adapters/testenv"
)

// A database error while listing keys is reported as it is, not as an
// unknown account.
func TestKeys_list_reports_a_database_error_as_such(t *testing.T) {
	dsn := testenv.NewDatabase(t) // not migrated: no accounts table
	getenv := env(map[string]string{"DATABASE_URL": dsn, "KAFKA_BROKERS": "127.0.0.1:1", "RENDERD_SECRETS_KEY": testSecretsKey,
		"RENDERD_LOG_LEVEL": "warn"})
	err := run(t.Context(), []string{"accounts", "keys", "list", "--account", "acc_1"}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || strings.Contains(err.Error(), "no account") || !strings.Contains(err.Error(), "accounts") {
		t.Errorf("err = %v, want the database's error, not \"no account\"", err)
	}
}
