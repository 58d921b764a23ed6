package testenv

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	s3Once sync.Once
	s3URL  string
	s3Err  error
)

// S3URL returns the S3 blob store of the stack (RENDERD_TEST_BLOB_URL,
// else RENDERD_BLOB_URL: s3://bucket/prefix?endpoint=…) with a prefix of the test's own below
// the configured one, so that tests sharing the bucket never see each
// other's objects. The URL and the AWS credentials come from the
// environment, else from .data/stack.env or .data/s3.env (deployments/
// local/up), whose AWS_* variables are then set for the whole process, as
// the AWS SDK reads them from there. Without an s3:// URL the test is
// skipped, or fails when RENDERD_REQUIRE_STACK=1.
func S3URL(t testing.TB) string {
	t.Helper()
	s3Once.Do(func() { s3URL, s3Err = locateS3() })
	if s3Err != nil {
		if os.Getenv("RENDERD_REQUIRE_STACK") == "1" {
			t.Fatalf("no S3 blob store for integration tests: %v", s3Err)
		}
		t.Skipf("S3 integration test skipped: %v (run `make test`, or deployments/local/up with RENDERD_LOCAL_S3=1)", s3Err)
	}
	u, err := url.Parse(s3URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + path.Join(strings.Trim(u.Path, "/"), "test-"+RandomSuffix())
	return u.String()
}

var awsVars = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"}

// s3URLVars name the stack's S3 URL, in the order they are taken:
// deployments/local/up writes it under the test-only name too, because
// make test leaves RENDERD_BLOB_URL unset for the renderd processes tests
// start (they pass their own blob folder).
var s3URLVars = []string{"RENDERD_TEST_BLOB_URL", "RENDERD_BLOB_URL"}

func firstS3URL(env map[string]string) string {
	for _, k := range s3URLVars {
		if strings.HasPrefix(env[k], "s3://") {
			return env[k]
		}
	}
	return ""
}

func locateS3() (string, error) {
	env := map[string]string{}
	for _, k := range append(s3URLVars, awsVars...) {
		env[k] = os.Getenv(k)
	}
	if firstS3URL(env) == "" {
		clear(env)
		if file, err := stackEnvFile(); err == nil {
			for _, f := range []string{file, filepath.Join(filepath.Dir(file), "s3.env")} {
				if err := readEnvFile(f, env); err != nil && !errors.Is(err, os.ErrNotExist) {
					return "", err
				}
			}
		}
		for _, k := range awsVars {
			if os.Getenv(k) == "" && env[k] != "" {
				if err := os.Setenv(k, env[k]); err != nil {
					return "", err
				}
			}
		}
	}
	raw := firstS3URL(env)
	if raw == "" {
		return "", fmt.Errorf("neither RENDERD_TEST_BLOB_URL nor RENDERD_BLOB_URL is an s3:// URL")
	}
	return raw, nil
}
